-- Lesson 2: a crystal as an image — the CrysTens tensor.
--   crystens examples/workshop/02-crystens.lua [--quick] [out-folder]
-- Encodes a crystal as a 4×64×64 tensor, reads its header band and
-- interatomic block by hand, checks the redundancy the models must learn,
-- saves it for NumPy and as a picture (the paper's Fig. 1), and decodes it
-- back.  Output folder default: workshop-out/02.
local ct = require "crystens"

local quick, out = false, "workshop-out/02"
for _, a in ipairs(arg or {}) do
  if a == "--quick" then quick = true else out = a end
end
ct.file.mkdirs(out)
print("Lesson 2: the CrysTens tensor" .. (quick and " (quick)" or ""))

local ds = ct.dataset.load(ct.datadir .. "/sample/mpts_52_val_sample.csv")
local s = ds[3]
local t = ct.crystens.encode(s)
local p = ct.crystens.prepare(s)      -- the crystal exactly as encoded
print(("\n1. %s\n   becomes %s"):format(tostring(p), tostring(t)))

-- 2. The header band: rows 1..11 (1-based here) of column 12+j hold atom j's
--    Z, x, y, z and the crystal's a, b, c, α, β, γ, SG — in all 4 layers,
--    mirrored across the diagonal.
local names = {"Z", "x", "y", "z", "a", "b", "c", "α", "β", "γ", "SG"}
print("\n2. Header of the first two atoms (layer 1, column 13 and 14):")
for r = 1, 11 do
  print(("   %-3s %10.4f %10.4f"):format(names[r], t:get(1, r, 13), t:get(1, r, 14)))
end
local copies, worst = 0, 0
for l = 1, 4 do
  for j = 13, 12 + p.natoms do
    local d = math.abs(t:get(l, 5, j) - p.lattice.a) + math.abs(t:get(l, j, 5) - p.lattice.a)
    worst, copies = math.max(worst, d), copies + 2
  end
end
print(("   a is stored %d times (8 × %d atoms); largest difference from a: %g"):format(
  copies, p.natoms, worst))

-- 3. The interatomic block: layer 1 holds distances, layers 2-4 the
--    coordinate differences x_i - x_j.
local i, j = 1, 2
print(("\n3. Atoms %d and %d: layer-0 distance %.4f Å, s:distance %.4f Å"):format(
  i, j, t:get(1, 12 + i, 12 + j), p:distance(i, j)))
print(("   x_i - x_j = %.4f here, %.4f the other way round: the graph is antisymmetric"):format(
  t:get(2, 12 + i, 12 + j), t:get(2, 12 + j, 12 + i)))
print(("   atom %d's guess for x_%d: x_%d - Δx = %.4f, and x_%d is %.4f"):format(
  i, j, i, t:get(1, 2, 12 + i) - t:get(2, 12 + i, 12 + j), j, p.frac[j][1]))

-- 4. Files: NumPy and a picture of the four layers.
t:save(out .. "/crystal.npy")
t:save_png(out .. "/crystal.png")
local batch = ct.crystens.encode(quick and {ds[1], ds[2], ds[3], ds[4]} or ds)
batch:save(out .. "/sample.npy")
print(("\n4. Saved %s/crystal.npy (np.load reads it), %s/crystal.png, and the %s "
       .. "batch as sample.npy"):format(out, out, tostring(batch)))

-- 5. Back: an exact tensor decodes to the crystal it came from.
local back = ct.crystens.decode(t, {exact = true})
local same = back.natoms == p.natoms
for k = 1, p.natoms do same = same and back.species[k] == p.species[k] end
print(("\n5. Decoded: %s — %s"):format(tostring(back), same and "the same crystal" or "DIFFERENT"))

-- 6. The paper's own variant: the file's cell and order, fractional layer 0.
local tp = ct.crystens.encode(s, {preset = "paper"})
print(("\n6. preset='paper': layer-0 entry (1,2) is %.4f (a norm of fractional differences)"
       .. "\n   instead of %.4f Å"):format(tp:get(1, 13, 14), t:get(1, 13, 14)))
print("\nDone: results in " .. out .. "/")
