-- crystens.tour: tour() in the REPL — a guided walk through the whole chain
-- (encode → look at the tensor → sample → K-means by hand → reconstruct →
-- evaluate).  Each step says what it shows, prints the Lua it is about to
-- run, waits for Enter, and runs it; the steps share their variables, so
-- after the tour `s`, `t`, `gen`, `crystals` are there to play with.
-- Works offline, from the data crystens ships.

local doc = require "crystens.doc"

local M = {}

M.steps = {
  {title = "A crystal",
   text = "The shipped sample holds 200 crystals of the mpts_52 benchmark. Take one.",
   code = [[
ds = ct.dataset.load(ct.datadir .. "/sample/mpts_52_val_sample.csv")
s = ds[3]
print(s)
print("density", s:density(), "g/cm3;  space group", s:symmetry().symbol)]]},
  {title = "Encode it",
   text = "CrysTens turns it into a 4×64×64 'image': a header band (Z, x, y, z, a, b, c,\n" ..
          "α, β, γ, SG of every atom) and four interatomic layers (distance, Δx, Δy, Δz).",
   code = [[
t = ct.crystens.encode(s)
print(t)
t:save_png(out .. "/crystens.png")
print("picture of the four layers: " .. out .. "/crystens.png")]]},
  {title = "Look at the tensor",
   text = "Every global value is stored 8 times per atom; a model must learn to keep the\n" ..
          "copies equal. Row 5 (1-based) holds a; column 13 is the first atom.",
   code = [[
print("a, from layer 1 and layer 4:", t:get(1, 5, 13), t:get(4, 13, 5))
print("Z of the first five atoms:", t:get(1, 1, 13), t:get(1, 1, 14), t:get(1, 1, 15),
      t:get(1, 1, 16), t:get(1, 1, 17))
print("distance between atoms 1 and 2:", t:get(1, 13, 14), "Å =", s:distance(1, 2))]]},
  {title = "Sample new crystals",
   text = "A diffusion model trained on mpts_52 (shipped with crystens) denoises random\n" ..
          "tensors into CrysTens. 8 samples with 20 DDIM steps:",
   code = [[
m = ct.models.pretrained()
gen = m:sample(8, {steps = 20, seed = 1})
print(gen)
gen[1]:save_png(out .. "/generated.png")
print("picture of the first: " .. out .. "/generated.png")]]},
  {title = "K-means by hand",
   text = "A generated tensor is noisy: the 8 copies of each atom's Z disagree. Average\n" ..
          "them, then let K-means snap the averages to a few elements (K chosen by itself).",
   code = [[
z = {}
for j = 13, 64 do
  local sum = 0
  for l = 1, 4 do sum = sum + gen[1]:get(l, 1, j) + gen[1]:get(l, j, 1) end
  if sum / 8 < 0.5 then break end
  z[#z + 1] = sum / 8
end
for i, v in ipairs(z) do z[i] = math.floor(v * 100 + 0.5) / 100 end
print("averaged Z:", table.concat(z, " "))
r = ct.kmeans(z, {auto = true, integer = true})
print("K =", r.k, "centroids:", table.concat(r.centroids, " "))]]},
  {title = "Reconstruct",
   text = "decode does all of it: atom count, averaging, coordinate voting, K-means on Z\n" ..
          "and on coordinates; failures come back as false with a reason.",
   code = [[
crystals, diags = ct.crystens.decode(gen)
local ok = {}
for i, c in ipairs(crystals) do
  print(i, c or ("failed: " .. tostring(diags[i].reason)))
  if c then ok[#ok + 1] = c end
end
if #ok > 0 then
  ct.cif.write(ok, out .. "/generated")
  ct.picture.grid(crystals, out .. "/crystals.png")
  print("CIFs in " .. out .. "/generated/, pictures in " .. out .. "/crystals.png")
end]]},
  {title = "Evaluate",
   text = "How consistent are the samples (the paper's Table 1), and how do they compare\n" ..
          "with real crystals (Kolmogorov–Smirnov per quantity)?",
   code = [[
p = ct.metrics.paper(gen, {structures = crystals})
print(("var(lengths) %.3g  var(angles) %.3g  var(SG) %.3g  var(frac) %.3g"):format(
  p.var_lengths, p.var_angles, p.var_sg, p.var_frac))
local ok = {}
for _, c in ipairs(crystals) do if c then ok[#ok + 1] = c end end
if #ok > 0 then
  for k, v in pairs(ct.metrics.ks(ok, ds)) do
    if type(v) == "number" then print(("K-S %-8s %.3f"):format(k, v)) end
  end
end
print("The whole evaluation with plots: ct.report(crystals, ds, {out = 'report'})")]]},
}

-- Read a line with opts.read (default io.read); nil at end of input.
local function ask(read)
  io.write("\n[Enter] run this step, q stop > ")
  io.flush()
  return read()
end

function M.run(opts)
  opts = opts or {}
  local read = opts.read or function() return io.read("l") end
  local out = opts.out or "tour-out"
  require("crystens.file").mkdirs(out)
  local env = setmetatable({out = out}, {__index = _G})
  print(("A tour of crystens in %d steps; files go to %s/. Press Enter to go on, q to stop."):
        format(#M.steps, out))
  for i, step in ipairs(M.steps) do
    print(("\n── Step %d of %d: %s ──\n%s\n"):format(i, #M.steps, step.title, step.text))
    for line in (step.code .. "\n"):gmatch("(.-)\n") do print("  crystens> " .. line) end
    local answer = ask(read)
    if answer == nil or answer:match("^%s*q") then
      print("Tour stopped. The variables of the steps so far are yours to use.")
      break
    end
    local fn, err = load(step.code, "=tour step " .. i, "t", env)
    local ok = fn and true
    if fn then ok, err = pcall(fn) end
    if not ok then print("error: " .. tostring(err)) end
  end
  for k, v in pairs(env) do if k ~= "out" then rawset(_G, k, v) end end
  print("\nEnd of the tour. Next: the lessons in examples/workshop/, and help().")
end
doc[M.run] = "tour([{out='tour-out'}]). A guided walk through crystens in the REPL: " ..
  "encode a crystal, look at its tensor, sample from the shipped model, K-means by hand, " ..
  "reconstruct, evaluate. Each step shows the Lua it runs and waits for Enter (q stops); " ..
  "the variables it makes (s, t, gen, crystals, ...) stay in the session."

return M
