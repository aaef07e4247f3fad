-- ct.metrics.paper: the paper's Tables 1-2.  Exactly 0 on exact tensors,
-- the expected size under known noise (the variance of 8 noisy copies of a
-- value is 7/8 σ² on average), a hand-perturbed copy against a variance
-- computed here, errors.
local T = require "tap"
local ct = require "crystens"

local srcdir = os.getenv("top_srcdir") or "."
local ds = ct.dataset.load(srcdir .. "/share/sample/mpts_52_val_sample.csv", {max_atoms = 20})
local list = {}
for i = 1, math.min(#ds, 40) do list[i] = ds[i] end
local exact = ct.crystens.encode(list, {size = 32, spacegroup = "declared"})
local n = exact:shape()[1]
local decoded = ct.crystens.decode(exact)

-- noise of standard deviation sigma on every entry of the occupied region
local function noisy(sigma, seed)
  local t = exact + ct.tensor.randn(exact:shape(), ct.tensor.rng(seed)) * sigma
  return t
end

T.test("every measure is 0 on exact tensors", function()
  local m = ct.metrics.paper(exact, {structures = decoded})
  T.eq(m.n, n, "tensors")
  T.eq(m.empty, 0, "empty")
  for _, k in ipairs {"var_lengths", "var_angles", "var_sg", "var_frac"} do
    T.truthy(m[k] < 1e-9, k .. " = " .. m[k])
  end
  T.truthy(m.coord_agreement < 1e-6, "coord_agreement = " .. m.coord_agreement)
  T.truthy(m.pdm_diff < 1e-3, "pdm_diff = " .. m.pdm_diff)
  T.eq(#m.rows, n, "one row per tensor")
  T.eq(m.rows[1].natoms, list[1].natoms, "atom count of the first")
end)

T.test("variances match 7/8 σ² under Gaussian noise and grow with it", function()
  local last = {}
  for _, sigma in ipairs {0.01, 0.05} do
    local m = ct.metrics.paper(noisy(sigma, 11), {structures = decoded})
    local want = 7 / 8 * sigma ^ 2
    T.near(m.var_frac / want, 1, 0.1, "var_frac / (7/8 σ²) at σ=" .. sigma)
    -- 8A copies of a global value: expected variance σ²(1 - 1/(8A))
    local g = 0
    for i = 1, n do g = g + (1 - 1 / (8 * list[i].natoms)) end
    for _, k in ipairs {"var_lengths", "var_angles", "var_sg"} do
      T.near(m[k] / (sigma ^ 2 * g / n), 1, 0.1, k .. " / expected at σ=" .. sigma)
    end
    for _, k in ipairs {"coord_agreement", "pdm_diff"} do
      T.truthy(m[k] > (last[k] or 1e-6), k .. " grows: " .. m[k])
      last[k] = m[k]
    end
  end
end)

T.test("one perturbed copy of a gives the variance computed by hand", function()
  local t = exact[1]:clone()
  local A, delta = list[1].natoms, 0.8
  local a = t:get(1, 5, 13)
  t:set(a + delta, 3, 13, 5)            -- layer 2, (12+0, 4): one copy of a
  local mean = a + delta / (8 * A)
  local var_a = ((8 * A - 1) * (a - mean) ^ 2 + (a + delta - mean) ^ 2) / (8 * A)
  local m = ct.metrics.paper(t)
  T.near(m.var_lengths, var_a / 3, 1e-5, "var_lengths")
  T.truthy(m.var_angles < 1e-9, "angles untouched")
  T.truthy(m.pdm_diff ~= m.pdm_diff, "no structures: pdm_diff is NaN")
end)

T.test("coordinate agreement sees one shifted directional graph", function()
  local t = exact[1]:clone()
  local A = list[1].natoms
  if A < 2 then return T.skip("needs two atoms") end
  -- atom 1's guess for atom 2 along x moves by 0.1: the implied coordinate
  -- of atom 2 is the circular mean of A guesses, one off by 0.1
  t:set(t:get(2, 13, 14) - 0.1, 2, 13, 14)
  local m = ct.metrics.paper(t)
  local x = 0.1 / A                     -- small angles: circular ≈ linear mean
  T.near(m.coord_agreement, x / (3 * A), 2e-4, "coord_agreement")
end)

T.test("bad input is an error naming the tensor or argument", function()
  local t = exact:clone()
  t:set(0 / 0, 3, 2, 13, 14)
  T.raises(function() ct.metrics.paper(t) end, "tensor 3: the tensor holds NaN")
  T.raises(function() ct.metrics.paper(ct.tensor.new {3, 32, 32}) end, "bad argument #1")
  T.raises(function() ct.metrics.paper(exact, {distance = "pm"}) end,
           "bad option 'distance' to 'ct.metrics.paper' (invalid value 'pm'; expected 'angstrom' or 'fractional')")
  local empty = ct.metrics.paper(ct.tensor.new {2, 4, 32, 32})
  T.eq(empty.empty, 2, "tensors without atoms are counted, not measured")
end)

T.done()
