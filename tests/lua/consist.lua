-- The consistency projection (sc:project, ct_consist.h): encoded crystals
-- are its fixed points, its output is consistent whatever the input, and
-- its backward pass is the transpose of its Jacobian (central differences,
-- printed seed).
local T = require "tap"
local ct = require "crystens"

local srcdir = os.getenv("top_srcdir") or "."
local ds = ct.dataset.load(srcdir .. "/share/sample/mpts_52_val_sample.csv", {max_atoms = 20})
local raw = ct.crystens.encode(ds, {size = 32})
local n = raw:shape()[1]
local sc = ct.crystens.scaler(raw)
local scaled = sc:scale(raw)

T.test("an encoded, scaled crystal is a fixed point", function()
  local y = sc:project(scaled)
  local worst = (y - scaled):abs():stats().max
  T.truthy(worst < 2e-5, "largest change " .. worst)
end)

local seed = T.seed()
local rng = ct.tensor.rng(seed)
local noisy = scaled:narrow(1, 4) + ct.tensor.randn({4, 4, 32, 32}, rng) * 0.3
-- little enough noise that every averaged Z stays a positive atomic number
local mild = scaled:narrow(1, 4) + ct.tensor.randn({4, 4, 32, 32}, rng) * 0.02

T.test("the projection of noise is consistent and decodes exactly", function()
  local y = sc:project(mild)
  -- projecting twice changes nothing
  local again = sc:project(y)
  T.truthy((again - y):abs():stats().max < 2e-5, "idempotent")
  local back = sc:unscale(y)
  for i = 1, 4 do
    local s, d = ct.crystens.decode(back[i])
    T.truthy(s, "decodes")
    if d then
      for k, v in pairs(d.spread) do T.truthy(v < 1e-3, "the copies of " .. k .. " agree: " .. v) end
      T.truthy(d.coord_delta < 1e-4, "difference layers follow the coordinates: " .. d.coord_delta)
      T.truthy(d.pdm_delta < 1e-2, "layer 0 holds the distances: " .. d.pdm_delta)
    end
  end
end)

T.test("backward is the transpose of the Jacobian (distances excluded)", function()
  local x = noisy:narrow(1, 2)
  local y, state = sc:project(x)
  -- a loss that ignores layer 0's interatomic block (a derived output)
  local w = ct.tensor.randn(y:shape(), rng)
  for i = 1, 2 do for r = 13, 32 do for c = 13, 32 do w:set(0, i, 1, r, c) end end end
  local g = sc:project_backward(state, w)
  local function loss(t) return (sc:project(t) * w):sum() end
  local worst = 0
  for _, idx in ipairs {{1, 1, 1, 13}, {1, 2, 14, 2}, {2, 3, 5, 15}, {1, 4, 13, 11},
                        {2, 1, 13, 1}, {1, 2, 2, 16}, {2, 4, 18, 4}} do
    local old = x:get(table.unpack(idx))
    local h = 1e-2
    x:set(old + h, table.unpack(idx))
    local lp = loss(x)
    x:set(old - h, table.unpack(idx))
    local lm = loss(x)
    x:set(old, table.unpack(idx))
    local fd = (lp - lm) / (2 * h)
    local an = g:get(table.unpack(idx))
    worst = math.max(worst, math.abs(fd - an) / math.max(1, math.abs(fd)))
  end
  T.truthy(worst < 2e-3, "largest relative difference " .. worst)
end)

T.test("with the atom counts given, empty slots are empty and backward is still the transpose", function()
  local x = noisy:narrow(1, 2)
  local natoms = {3, 5}
  local y, state = sc:project(x, {natoms = natoms})
  for i = 1, 2 do
    for j = 1, 20 do
      local z = y:get(i, 1, 1, 12 + j)
      if j > natoms[i] then T.eq(z, -1.0, "sample " .. i .. " slot " .. j .. " is empty") end
    end
  end
  local w = ct.tensor.randn(y:shape(), rng)
  for i = 1, 2 do for r = 13, 32 do for c = 13, 32 do w:set(0, i, 1, r, c) end end end
  local g = sc:project_backward(state, w)
  local function loss(t) return (sc:project(t, {natoms = natoms}) * w):sum() end
  local worst = 0
  for _, idx in ipairs {{1, 1, 1, 13}, {1, 1, 1, 20}, {2, 3, 5, 15}, {2, 2, 14, 2}, {1, 4, 13, 11}} do
    local old = x:get(table.unpack(idx))
    x:set(old + 1e-2, table.unpack(idx))
    local lp = loss(x)
    x:set(old - 1e-2, table.unpack(idx))
    local lm = loss(x)
    x:set(old, table.unpack(idx))
    worst = math.max(worst, math.abs((lp - lm) / 2e-2 - g:get(table.unpack(idx))))
  end
  T.truthy(worst < 2e-3, "largest difference " .. worst)
  T.raises(function() sc:project(x, {natoms = {3}}) end, "one atom count per tensor")
  T.raises(function() sc:project(x, {natoms = {3, 21}}) end, "from 1 to 20")
  T.raises(function() sc:project(x, {natom = {3, 2}}) end,
           "bad option 'natom' to 'Scaler:project' (unknown option; did you mean 'natoms'?)")
end)

T.test("bad input", function()
  T.raises(function() sc:project(ct.tensor.full({4, 16, 16}, 0)) end, "4×32×32")
  local _, state = sc:project(noisy)
  T.raises(function() sc:project_backward(state:sub(2), noisy) end, "not the state")
end)

T.done()
