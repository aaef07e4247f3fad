-- ct.crystens.scaler: the networks' input scaling, fitted on the shipped
-- sample: exact round trip, values against an independent computation,
-- empty slots, state round trip, errors.
local T = require "tap"
local ct = require "crystens"

local srcdir = os.getenv("top_srcdir") or "."
local ds = ct.dataset.load(srcdir .. "/share/sample/mpts_52_val_sample.csv", {max_atoms = 20})
local raw = ct.crystens.encode(ds, {size = 32, spacegroup = "declared"})
local n = raw:shape()[1]
local sc = ct.crystens.scaler(raw)

T.test("scale then unscale gives the raw tensors back", function()
  local back = sc:unscale(sc:scale(raw))
  local worst = (back - raw):abs():stats().max
  T.truthy(worst < 1e-3, "largest difference " .. worst)
  -- empty entries are exactly 0 again
  local r = raw[n]
  local natoms = ds[n].natoms
  T.eq(back[n]:get(1, 1, 12 + natoms + 1), 0.0, "first empty slot")
end)

T.test("scaled Z is the documented affine map of the data's range", function()
  local zmin, zmax = math.huge, -math.huge
  for i = 1, #ds do
    for _, z in ipairs(ds[i].species) do
      zmin, zmax = math.min(zmin, z), math.max(zmax, z)
    end
  end
  local s = sc:scale(raw)
  for _, i in ipairs {1, n // 2, n} do
    local z = ds[i].species
    local p = ct.crystens.prepare(ds[i], {spacegroup = "declared"})
    local want = -0.8 + (p.species[1] - zmin) * 1.8 / (zmax - zmin)
    T.near(s[i]:get(3, 1, 13), want, 1e-5, "Z of the first atom of item " .. i)
    T.truthy(#z == p.natoms, "same atom count")
  end
  local st = sc:state()
  T.eq(st.Z[1], zmin, "state Z min")
  T.eq(st.Z[2], zmax, "state Z max")
end)

T.test("everything scaled lies in [-1, 1]; empty slots and corner at -1", function()
  local s = sc:scale(raw)
  local st = s:stats()
  T.truthy(st.min >= -1 and st.max <= 1 + 1e-6, ("range %g..%g"):format(st.min, st.max))
  T.eq(s[1]:get(1, 1, 1), -1.0, "corner")
  T.eq(s[1]:get(2, 12, 13), -1.0, "padding row")
  local natoms = ds[1].natoms
  T.eq(s[1]:get(4, 13 + natoms, 13 + natoms), -1.0, "empty block")
end)

T.test("a scaler rebuilt from its state scales identically", function()
  local sc2 = ct.crystens.scaler(sc:state())
  T.eq((sc2:scale(raw) - sc:scale(raw)):abs():stats().max, 0.0, "difference")
end)

T.test("small noise in scaled units keeps every slot's occupancy", function()
  local s = sc:scale(raw)
  local noisy = s + ct.tensor.randn(s:shape(), ct.tensor.rng(7)) * 0.02
  local back = sc:unscale(noisy)
  for _, i in ipairs {1, n} do
    local k = ds[i].natoms
    T.truthy(back[i]:get(1, 1, 12 + k) > 0.5, "last atom of item " .. i .. " kept")
    T.eq(back[i]:get(1, 1, 12 + k + 1), 0.0, "first empty slot of item " .. i)
  end
end)

T.test("bad input is an error naming the argument", function()
  local bad = raw:clone()
  bad:set(0 / 0, 2, 1, 1, 13)
  T.raises(function() ct.crystens.scaler(bad) end, "tensor 2 holds NaN")
  T.raises(function() ct.crystens.scaler(ct.tensor.new {3, 3}) end, "bad argument #1")
  T.raises(function() sc:scale(ct.tensor.new {4, 64, 64}) end, "4×32×32")
  T.raises(function() ct.crystens.scaler(ct.tensor.new {2, 4, 32, 32}) end, "nothing to fit")
  T.raises(function() ct.crystens.scaler {size = 32} end, "state.Z")
  local st = sc:state()
  st.length = {5, 5}
  T.raises(function() ct.crystens.scaler(st) end, "length")
end)

T.test("NaN or infinity is named, not silently dropped with its atom; an empty batch fits nothing", function()
  local bad = raw:narrow(1, 2):clone()
  bad:set(0 / 0, 2, 3, 1, 14)
  T.raises(function() sc:scale(bad) end, "tensor 2 holds NaN at layer 3, row 1, column 14")
  bad:set(math.huge, 1, 1, 5, 13)
  T.raises(function() sc:unscale(bad) end, "tensor 1 holds an infinite value at layer 1, row 5, column 13")
  T.raises(function() ct.crystens.scaler(ct.tensor.new{0, 4, 32, 32}) end, "no tensors (0 rows)")
end)

T.done()
