-- quickstart.lua: the README's main job.  Run it with
--   src/crystens examples/quickstart.lua [output-folder]
-- It writes its results under the output folder (default: quickstart-out)
-- and prints where they are.
--
-- What crystens can do today: load crystals, encode them as CrysTens tensors
-- (saved for NumPy, pictured as PNG), decode them exactly back to CIF; the
-- K-means step of reconstruction with automatic K; SMACT compositional
-- validity; and the SVG plots of the evaluation report.
local ct = require "crystens"

local out = arg and arg[1] or "quickstart-out"
assert(os.execute("mkdir -p '" .. out .. "'"), "cannot create " .. out)
print(("crystens %s (data in %s)"):format(ct.version, ct.datadir))

-- 1. A batch in the CrysTens layout: N x 4 layers x S x S, saved as .npy.
local S = 64
local batch = ct.tensor.new(2, 4, S, S)
for i = 1, 2 do
  for j = 13, S do batch[i][1]:set((j - 12) * i, 1, j) end
end
local npy = out .. "/batch.npy"
batch:save(npy)
assert(ct.tensor.load(npy):get(2, 1, 1, S) == (S - 12) * 2, "round trip through .npy")
print("1. CrysTens-shaped batch " .. tostring(batch))

-- 1b. The shipped sample of real crystals, encoded as CrysTens, pictured,
--     decoded exactly and written back as CIF.
local ds = ct.dataset.load(ct.datadir .. "/sample/mpts_52_val_sample.csv")
local crystals = {}
for i = 1, 8 do crystals[i] = ds[i] end
local tensors = ct.crystens.encode(crystals, {size = S})
tensors:save(out .. "/crystens_sample.npy")
tensors[1]:save_png(out .. "/crystens_1.png")
local back = ct.crystens.decode(tensors[1])
ct.cif.write(back, out .. "/decoded_1.cif")
print(("1b. %s\n    encoded 8 as %s\n    first: %s\n    picture %s, CIF %s"):format(
      tostring(ds), tostring(tensors), tostring(back), out .. "/crystens_1.png",
      out .. "/decoded_1.cif"))

-- 1c. Pictures of the crystals themselves: one, and all 8 as a grid.
back:save_png(out .. "/crystal_1.png")
ct.picture.grid(crystals, out .. "/crystals.png", {cols = 4})
print(("1c. pictures %s and %s"):format(out .. "/crystal_1.png", out .. "/crystals.png"))

-- 2. Reconstruction snaps noisy averages with K-means; K is chosen for us.
--    The paper's example: averaged atomic numbers of 8 atoms.
local z = {12.2, 12.6, 12.4, 12.5, 7.7, 7.4, 8.4, 8.5}
local r = ct.kmeans(z, {auto = true, integer = true})
local snapped = {}
for i, label in ipairs(r.labels) do snapped[i] = math.floor(r.centroids[label] + 0.5) end
print(("2. K-means chose K = %d: Z %s -> %s"):format(r.k, table.concat(z, " "),
      table.concat(snapped, " ")))

-- 3. Compositional validity, SMACT 2.2 rules as the CDVAE benchmark applies them.
local formulas = {"NaCl", "NaCl2", "Fe3Al", "SrTiO3", "LiFePO4", "CsMnCrC6N6"}
local verdicts = {}
for _, f in ipairs(formulas) do
  local ok, valid, reason = pcall(ct.metrics.smact_valid, f)
  verdicts[#verdicts + 1] = ok and ("%s %s (%s)"):format(f, valid and "valid" or "invalid", reason)
                               or ("%s: %s"):format(f, valid)
end
print("3. SMACT validity:\n     " .. table.concat(verdicts, "\n     "))

-- 4. A figure of the evaluation report: two samples overlaid, with their K-S.
local rng, a, b = 12345, {}, {}
local function uniform()
  rng = (1103515245 * rng + 12345) % 2147483648
  return rng / 2147483648
end
for i = 1, 500 do
  a[i] = 4 + 2 * (uniform() + uniform() + uniform())
  b[i] = 4.5 + 2 * (uniform() + uniform() + uniform())
end
local ks = ct.metrics.ks(a, b)
local svg = out .. "/lattice_a.svg"
ct.plot.histogram{samples = {{name = "generated", values = a}, {name = "reference", values = b}},
                  title = "lattice a",
                  xlabel = "a (Å)", path = svg}
print(("4. K-S %.3f, W1 %.3f; histogram in %s"):format(ks.statistic,
      ct.metrics.wasserstein(a, b), svg))

print("Results are in " .. out .. "/")
