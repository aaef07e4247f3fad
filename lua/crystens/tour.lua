-- crystens.tour: tour() in the REPL — a guided walk through the whole chain
-- (encode → look at the tensor → sample → K-means by hand → reconstruct →
-- evaluate).  Each step says what it shows, prints the Lua it is about to
-- run, waits for Enter, and runs it; the steps share their variables in a
-- table of their own, which tour() returns, so the user's globals are left
-- alone.
-- Works offline, from the data crystens ships.

local doc = require "crystens.doc"
local options = require "crystens.options"

local M = {}

M.steps = {
  {title = "A crystal",
   text = "The shipped sample holds 200 crystals of the mpts_52 benchmark. Take one.",
   code = [[
ds = ct.dataset.load(ct.datadir .. "/sample/mpts_52_val_sample.csv")
s = ds[3]
print(s)
print(("density %.3f g/cm3;  space group %s"):format(s:density(), s:symmetry().symbol))]]},
  {title = "Encode it",
   text = "CrysTens first puts the crystal in a standard form: the Niggli-reduced cell\n" ..
          "(the same crystal, its shortest cell edges) with the atoms sorted by Z; prepare\n" ..
          "shows that form. It then becomes a 4×64×64 'image': a header band (Z, x, y, z,\n" ..
          "a, b, c, α, β, γ, SG of every atom) and four interatomic layers (distance, Δx,\n" ..
          "Δy, Δz).",
   code = [[
p = ct.crystens.prepare(s)
print("the cell it encodes: " .. tostring(p))
t = ct.crystens.encode(s)
print(t)
t:save_png(out .. "/crystens.png")
print("picture of the four layers: " .. out .. "/crystens.png")]]},
  {title = "Look at the tensor",
   text = "Every global value is stored 8 times per atom; a model must learn to keep the\n" ..
          "copies equal. Row 5 (1-based) holds a; column 13 is the first atom. The values\n" ..
          "are those of the reduced cell p, stored as 32-bit floats.",
   code = [[
print(("a from layer 1 and layer 4: %.4f %.4f (p's a: %.4f)"):format(
  t:get(1, 5, 13), t:get(4, 13, 5), p.lattice.a))
print("Z of the first five atoms:", t:get(1, 1, 13), t:get(1, 1, 14), t:get(1, 1, 15),
      t:get(1, 1, 16), t:get(1, 1, 17))
print(("distance between atoms 1 and 2: %.4f Å in the tensor, %.4f Å in p"):format(
  t:get(1, 13, 14), p:distance(1, 2)))]]},
  {title = "Sample new crystals",
   text = "A diffusion model trained on mpts_52 (shipped with crystens) denoises random\n" ..
          "tensors into CrysTens of 32×32: 12 header rows and room for 20 atoms.\n" ..
          "8 samples with 20 DDIM steps:",
   code = [[
m = ct.models.pretrained()
print(m)
gen = m:sample(8, {steps = 20, seed = 1})
print(gen)
gen[1]:save_png(out .. "/generated.png")
print("picture of the first: " .. out .. "/generated.png")]]},
  {title = "Reading the species",
   text = "The shipped model is consistent: the 8 copies of each atom's values come out as\n" ..
          "one number, so nothing needs averaging. Each atom carries its Z (row 1) and its\n" ..
          "column of the periodic table (row 12); the element nearest to both names it,\n" ..
          "after atoms whose pairs lie within 2.5 of each other are grouped, so that a\n" ..
          "model's spread around one element names that element once. (The paper's model\n" ..
          "had copies that disagreed by 10 to 15 in Z and clustered them with K-means;\n" ..
          "ct.models.pretrained('diffusion-mpts52') still shows that.)",
   code = [[
function species_of(x)   -- x: one tensor, 4 × size × size, raw units
  local z, col = {}, {}
  for j = 13, x:shape()[2] do
    if x:get(1, 1, j) < 0.5 then break end   -- an empty slot: no more atoms
    z[#z + 1], col[#col + 1] = x:get(1, 1, j), x:get(1, 12, j)
  end
  return z, col
end
for _, i in ipairs {1, 3} do
  local z, col = species_of(gen[i])
  local shown = {}
  for k = 1, #z do shown[k] = ("%.1f/%.1f"):format(z[k], col[k]) end
  print(("sample %d: %d atoms; Z/column %s"):format(i, #z, table.concat(shown, " ")))
  local c, d = ct.crystens.decode(gen[i])
  print(("  %d elements: %s"):format(d.k_species, c and c.formula or d.reason))
end]]},
  {title = "Reconstruct",
   text = "decode does all of it: atom count, averaging, coordinate voting, species, and\n" ..
          "snapping coordinates; failures come back as false with a reason. A crystal with\n" ..
          "two atoms closer than 0.5 Å is no valid CIF: cif.write refuses it, so the\n" ..
          "step leaves such crystals out and says so.",
   code = [[
crystals, diags = ct.crystens.decode(gen)
local ok = {}
for i, c in ipairs(crystals) do
  print(i, c or ("failed: " .. tostring(diags[i].reason)))
  if c and (c:closest_pair() or math.huge) >= 0.5 then ok[#ok + 1] = c end
end
if #ok > 0 then ct.cif.write(ok, out .. "/generated/") end
ct.picture.grid(crystals, out .. "/crystals.png")
print(("%d CIFs in %s/generated/ (overlapping atoms in the others), pictures in %s"):format(
  #ok, out, out .. "/crystals.png"))]]},
  {title = "Evaluate",
   text = "How consistent are the samples (the paper's Table 1), and how do they compare\n" ..
          "with real crystals (Kolmogorov–Smirnov statistic per quantity: 0 is the same\n" ..
          "distribution, 1 no overlap at all)?",
   code = [[
pt = ct.metrics.paper(gen, {structures = crystals})
print(("var(lengths) %.3g  var(angles) %.3g  var(SG) %.3g  var(frac) %.3g"):format(
  pt.var_lengths, pt.var_angles, pt.var_sg, pt.var_frac))
local ok = {}
for _, c in ipairs(crystals) do if c then ok[#ok + 1] = c end end
ks = ct.metrics.ks(ok, ds)
for _, k in ipairs {"a", "b", "c", "alpha", "beta", "gamma", "spacegroup", "Z"} do
  print(("K-S %-10s %.3f"):format(k, ks[k].statistic))
end
print("The whole evaluation with plots: ct.report(v.crystals, v.ds, {out = 'report'})")]]},
}

-- Read a line with opts.read (default io.read); nil at end of input.
local function ask(read)
  io.write("\n[Enter] run this step, q stop > ")
  io.flush()
  return read()
end

-- The variables the steps made, as a table that prints its names.
local function variables(env)
  local names = {}
  for k in pairs(env) do names[#names + 1] = k end
  table.sort(names)
  return setmetatable(env, {__tostring = function()
    return "tour variables (v = _ keeps them): " .. table.concat(names, ", ")
  end})
end

function M.run(opts)
  opts = options.check("ct.tour", opts, {out = "string", read = "function"})
  local read = opts.read or function() return io.read("l") end
  local out = opts.out or "tour-out"
  require("crystens.file").mkdirs(out)
  -- the steps' globals go to env, not to the user's session
  local vars = {out = out}
  local env = setmetatable({}, {__index = function(_, k)
    local v = vars[k]
    if v == nil then v = _G[k] end
    return v
  end, __newindex = vars})
  print(("A tour of crystens in %d steps; files go to %s/. Press Enter to go on, q to stop."):
        format(#M.steps, out))
  for i, step in ipairs(M.steps) do
    print(("\n── Step %d of %d: %s ──\n%s\n"):format(i, #M.steps, step.title, step.text))
    for line in (step.code .. "\n"):gmatch("(.-)\n") do print("  crystens> " .. line) end
    local answer = ask(read)
    if answer == nil or answer:match("^%s*q") then
      print("Tour stopped. tour() returned the variables of the steps so far: v = _ keeps them.")
      return variables(vars)
    end
    local fn, err = load(step.code, "=tour step " .. i, "t", env)
    local ok = fn and true
    if fn then ok, err = pcall(fn) end
    if not ok then print("error: " .. tostring(err)) end
  end
  print("\nEnd of the tour. tour() returned its variables: v = _ keeps them (v.s, v.gen,\n" ..
        "v.crystals, ...); your own globals are untouched. Next: the lessons in\n" ..
        "examples/workshop/, and help().")
  return variables(vars)
end
doc[M.run] = "tour([{out='tour-out'}]) -> variables. A guided walk through crystens in the " ..
  "REPL: encode a crystal, look at its tensor, sample from the shipped model, K-means by " ..
  "hand, reconstruct, evaluate. Each step shows the Lua it runs and waits for Enter (q " ..
  "stops). The variables the steps make (ds, s, p, t, m, gen, crystals, ...) are kept in " ..
  "the table it returns, not in your globals: v = tour() or, after it, v = _."

return M
