-- Lesson 3: why K matters — K-means by hand.
--   crystens examples/workshop/03-kmeans.lua [--quick] [out-folder]
-- Reconstruction snaps noisy averages (atomic numbers, coordinates) with
-- K-means.  The paper fixed K by hand (3 for Z, 6 for coordinates); here we
-- see what a wrong K does and how crystens chooses K itself.
-- Output folder default: workshop-out/03 (a plot of the criterion's scores).
local ct = require "crystens"

local quick, out = false, "workshop-out/03"
for _, a in ipairs(arg or {}) do
  if a == "--quick" then quick = true else out = a end
end
ct.file.mkdirs(out)
print("Lesson 3: K-means and the choice of K" .. (quick and " (quick)" or ""))

local function snapped(values, r)
  local s = {}
  for i, label in ipairs(r.labels) do s[i] = math.floor(r.centroids[label] + 0.5) end
  return table.concat(s, " ")
end

-- 1. The paper's example: averaged Z of eight atoms of a Mg-N crystal.
local z = {12.2, 12.6, 12.4, 12.5, 7.7, 7.4, 8.4, 8.5}
print("\n1. Averaged Z: " .. table.concat(z, " "))
print("   rounding alone:  " .. (function()
  local s = {}
  for i, v in ipairs(z) do s[i] = math.floor(v + 0.5) end
  return table.concat(s, " ")
end)())
for _, k in ipairs {1, 2, 3} do
  print(("   K = %d:           %s"):format(k, snapped(z, ct.kmeans(z, k))))
end
local auto = ct.kmeans(z, {auto = true, integer = true})
print(("   automatic K = %d: %s"):format(auto.k, snapped(z, auto)))

-- 2. The criterion: the largest K whose neighbouring centroids stay apart.
print(("\n2. The criterion: separation of the closest neighbouring centroids, in pooled"
       .. "\n   standard deviations (threshold sep = %g; integer=true also asks for centroids"
       .. "\n   at least one Z apart):"):format(auto.sep))
local labels, values = {}, {}
for k = 2, 6 do
  labels[#labels + 1], values[#values + 1] = "K=" .. k, auto.scores[k]
  print(("   K = %d  %.2f"):format(k, auto.scores[k]))
end

-- 3. Coordinates live on a circle: 0.98 and 0.02 are neighbours.
local x = {0.01, 0.99, 0.02, 0.5, 0.49, 0.51, 0.25, 0.26}
local line = ct.kmeans(x, 3)
local circle = ct.kmeans(x, {auto = true, periodic = true, noise = 0.02})
local function centres(r)
  local c = {}
  for i, v in ipairs(r.centroids) do c[i] = ("%.3f"):format(v) end
  return table.concat(c, " ")
end
print("\n3. Coordinates " .. table.concat(x, " "))
print("   on a line, K = 3: centroids " .. centres(line))
print(("   on the circle, automatic K = %d: centroids %s"):format(circle.k, centres(circle)))

-- 4. How often does each rule recover the truth?  Noisy copies (σ = 0.25)
--    of the Z values of a binary and of a ternary crystal; the paper's K = 3
--    against the automatic choice.
local rng = ct.tensor.rng(3)
local trials = quick and 50 or 500
print(("\n4. %d noisy copies (σ = 0.25) each:"):format(trials))
for _, truth in ipairs {{8, 8, 8, 8, 22, 22}, {8, 8, 8, 8, 22, 22, 56, 56}} do
  local want, ok_auto, ok_fixed = table.concat(truth, " "), 0, 0
  for _ = 1, trials do
    local noisy = ct.tensor.randn({#truth}, rng):totable()
    for i = 1, #truth do noisy[i] = truth[i] + 0.25 * noisy[i] end
    local a = ct.kmeans(noisy, {auto = true, integer = true})
    ok_auto = ok_auto + (snapped(noisy, a) == want and 1 or 0)
    ok_fixed = ok_fixed + (snapped(noisy, ct.kmeans(noisy, 3)) == want and 1 or 0)
  end
  print(("   Z = %-24s automatic K right %3d%%, paper's K = 3 right %3d%%"):format(
    want, 100 * ok_auto // trials, 100 * ok_fixed // trials))
end
local path = out .. "/scores.svg"
ct.plot.bars{labels = labels, series = {{name = "separation", values = values}},
             title = "K-means separation score per K (paper example)", path = path}
print("   criterion plot: " .. path)
print("\nDone: results in " .. out .. "/")
