-- ct.fingerprint: the CDVAE structure fingerprint from Lua (one structure,
-- lists over all cores, sites, CrystalNN, labels) and its errors.
local T = require "tap"
local ct = require "crystens"
local fp = ct.fingerprint

local function rock_salt()
  return ct.structure.new{
    lattice = {a = 5.64, b = 5.64, c = 5.64, alpha = 90, beta = 90, gamma = 90},
    species = {"Na", "Na", "Na", "Na", "Cl", "Cl", "Cl", "Cl"},
    frac = {{0, 0, 0}, {0, .5, .5}, {.5, 0, .5}, {.5, .5, 0},
            {.5, .5, .5}, {.5, 0, 0}, {0, .5, 0}, {0, 0, .5}}}
end

local function cubic(a, z)
  return ct.structure.new{
    lattice = {a = a, b = a, c = a, alpha = 90, beta = 90, gamma = 90},
    species = {z}, frac = {{0, 0, 0}}}
end

local function index(name)
  for i, n in ipairs(fp.names) do if n == name then return i end end
  error("no label " .. name)
end

T.test("names: 61 matminer labels in preset order", function()
  T.eq(#fp.names, 61)
  T.eq(fp.names[1], "wt CN_1")
  T.eq(fp.names[25], "octahedral CN_6")
  T.eq(fp.names[61], "wt CN_24")
end)

T.test("rock salt: every ion octahedral", function()
  local v = fp.structure(rock_salt())
  T.eq(#v, 61)
  T.near(v[index("wt CN_6")], 1, 1e-12)
  T.near(v[index("octahedral CN_6")], 1, 1e-6)
  local sum = 0
  for _, name in ipairs(fp.names) do
    if name:match("^wt ") then sum = sum + v[index(name)] end
  end
  T.near(sum, 1, 1e-12, "CN probabilities add up to 1")
end)

T.test("site: the mean over sites is the structure fingerprint", function()
  local s = ct.structure.new{
    lattice = {a = 4.2, b = 4.2, c = 6.1, alpha = 90, beta = 90, gamma = 120},
    species = {"Zn", "Zn", "O", "O"},
    frac = {{1/3, 2/3, 0}, {2/3, 1/3, .5}, {1/3, 2/3, .38}, {2/3, 1/3, .88}}}
  local whole, mean = fp.structure(s), {}
  for i = 1, 4 do
    for k, x in ipairs(fp.site(s, i)) do mean[k] = (mean[k] or 0) + x / 4 end
  end
  for k = 1, 61 do T.near(mean[k], whole[k], 1e-12, fp.names[k]) end
end)

T.test("crystalnn: neighbours by weight, CN levels", function()
  local nn = fp.crystalnn(rock_salt(), 1)
  T.near(nn.cn_weights[6], 1, 1e-12)
  T.eq(#nn.neighbors, 6)
  for _, b in ipairs(nn.neighbors) do
    T.eq(b.weight, 1)
    T.near(b.distance, 2.82, 1e-9)
    T.truthy(b.site >= 5, "Na's neighbours are Cl")
    local v = b.vector
    T.near(math.sqrt(v[1]^2 + v[2]^2 + v[3]^2), 2.82, 1e-9)
  end
end)

T.test("lists and data sets: one fingerprint each, same as alone", function()
  local list = {rock_salt(), cubic(2.5, 29), rock_salt()}
  local all, errors = fp.structure(list)
  T.eq(#all, 3)
  T.eq(next(errors), nil)
  local alone = fp.structure(list[2])
  for k = 1, 61 do T.eq(all[2][k], alone[k]) end
  T.near(all[2][index("octahedral CN_6")], 1, 1e-9)
  local sample = (os.getenv("top_srcdir") or ".") .. "/share/sample/mpts_52_val_sample.csv"
  local ds = ct.dataset.load(sample, {limit = 8})
  local fps = fp.structure(ds)
  T.eq(#fps, #ds)
  T.eq(fps[3][7], fp.structure(ds[3])[7])
end)

T.test("a failed crystal in a list is false, with its reason", function()
  local bk = cubic(3.0, "Bk")   -- pymatgen has no radius for Bk..Lr
  local all, errors = fp.structure({rock_salt(), bk})
  T.eq(type(all[1]), "table")
  T.eq(all[2], false)
  T.truthy(errors[2]:match("no covalent or atomic radius for Bk"), errors[2])
  T.raises(function() fp.structure(bk) end,
           "bad argument #1 to 'structure' (no covalent or atomic radius for Bk)")
end)

T.test("atoms on top of each other: merged, as qhull merges them", function()
  local s = ct.structure.new{
    lattice = {a = 5, b = 5, c = 5, alpha = 90, beta = 90, gamma = 90},
    species = {"Na", "Cl"}, frac = {{0, 0, 0}, {0, 0, 1e-12}}}
  -- each atom sees only images 5 Å away, beyond any bond: CN 0
  for _, x in ipairs(fp.structure(s)) do T.eq(x, 0) end
end)

T.test("bad arguments raise clear errors", function()
  local s = rock_salt()
  T.raises(function() fp.structure(42) end, "bad argument #1")
  T.raises(function() fp.structure({s, 7}) end, "item 2 is a number, not a Structure")
  T.raises(function() fp.site(s, 0) end, "site index out of range")
  T.raises(function() fp.site(s, 9) end, "site index out of range")
  T.raises(function() fp.crystalnn(s) end, "bad argument #2")
  T.raises(function() fp.site("x", 1) end, "bad argument #1")
end)

T.done()
