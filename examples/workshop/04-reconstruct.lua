-- Lesson 4: from a noisy tensor back to a crystal.
--   crystens examples/workshop/04-reconstruct.lua [--quick] [out-folder]
-- A generated CrysTens is never exact.  We make "generated-like" tensors by
-- adding noise, in the networks' own scaled units, to real crystals, then
-- reconstruct them — with the paper's fixed K (3 for Z, 6 for coordinates)
-- and with crystens' automatic K — and count how often the crystal comes
-- back.  Output folder default: workshop-out/04.
local ct = require "crystens"

local quick, out = false, "workshop-out/04"
for _, a in ipairs(arg or {}) do
  if a == "--quick" then quick = true else out = a end
end
ct.file.mkdirs(out)
print("Lesson 4: reconstruction" .. (quick and " (quick)" or ""))

local ds = ct.dataset.load(ct.datadir .. "/sample/mpts_52_val_sample.csv")
local n = quick and 40 or #ds
local crystals = {}
for i = 1, n do crystals[i] = ct.crystens.prepare(ds[i]) end
local exact = ct.crystens.encode(crystals)
local sc = ct.crystens.scaler(exact)
print(("\n1. %d real crystals encoded as %s; the networks see them scaled to [-1, 1]"):format(
  n, tostring(exact)))

-- Same crystal: same species in order, coordinates within 0.01 (mod 1),
-- lattice within 1 %.
local function same(a, b)
  if not a or a.natoms ~= b.natoms then return false end
  for k, v in pairs {a = 1, b = 1, c = 1, alpha = 1, beta = 1, gamma = 1} do
    if math.abs(a.lattice[k] - b.lattice[k]) > 0.01 * b.lattice[k] then return false end
  end
  for i = 1, b.natoms do
    if a.species[i] ~= b.species[i] then return false end
    for k = 1, 3 do
      local d = math.abs(a.frac[i][k] - b.frac[i][k]) % 1
      if math.min(d, 1 - d) > 0.01 then return false end
    end
  end
  return true
end

print("\n2. Fraction of crystals that come back, by noise level (σ in scaled units):")
print("      σ     automatic K   paper's K = 3/6")
local rng = ct.tensor.rng(4)
local example
for _, sigma in ipairs {0.002, 0.005, 0.01} do
  local noisy = sc:unscale(sc:scale(exact) + ct.tensor.randn(exact:shape(), rng) * sigma)
  local auto = ct.crystens.decode(noisy, {symmetry = false})
  local fixed = ct.crystens.decode(noisy, {symmetry = false, k_species = 3, k_coords = 6})
  local na, nf = 0, 0
  for i = 1, n do
    na = na + (same(auto[i], crystals[i]) and 1 or 0)
    nf = nf + (same(fixed[i], crystals[i]) and 1 or 0)
  end
  print(("   %6.3f      %5.1f %%        %5.1f %%"):format(sigma, 100 * na / n, 100 * nf / n))
  if sigma == 0.005 then example = {noisy = noisy, auto = auto} end
end

-- 3. One of them, looked at.
local i = 3
example.noisy[i]:save_png(out .. "/noisy.png")
local s, why = ct.crystens.decode(example.noisy[i])
print(("\n3. Crystal %d at σ = 0.005:\n   true          %s\n   reconstructed %s"):format(
  i, tostring(crystals[i]), tostring(s or why)))
if s then ct.cif.write(s, out .. "/reconstructed.cif") end
local grid = {}
for k = 1, 8 do grid[k] = example.auto[k] end
ct.picture.grid(grid, out .. "/crystals.png", {size = 192})
print(("   tensor picture %s/noisy.png, CIF %s/reconstructed.cif, 8 reconstructions in "
       .. "%s/crystals.png"):format(out, out, out))
print("\nDone: results in " .. out .. "/")
