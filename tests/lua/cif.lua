-- ct.cif: reading (symmetry expansion, wrapping, uncertainties), writing
-- (P1 and symmetrised round trips, pymatgen reading what we write) and every
-- kind of bad input raising a clear error.
local T = require "tap"
local ct = require "crystens"

local srcdir = os.getenv("top_srcdir") or "."
local sample = srcdir .. "/share/sample/mpts_52_val_sample.csv"
local tmp = T.tmpdir()

local write = T.write

local function rock_salt(extra_site_lines)
  return [[
data_NaCl
_cell_length_a 5.6402(3)
_cell_length_b 5.6402(3)
_cell_length_c 5.6402(3)
_cell_angle_alpha 90.0
_cell_angle_beta 90.0
_cell_angle_gamma 90.0
_symmetry_space_group_name_H-M 'F m -3 m'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
Na1 Na+ 1.0 0 0 1.0
Cl1 Cl- 0.5 0.5 0.5 1.0
]] .. (extra_site_lines or "")
end

local function count(species, z)
  local n = 0
  for _, v in ipairs(species) do if v == z then n = n + 1 end end
  return n
end

T.test("NaCl in F m -3 m expands to 8 sites, 4 Na and 4 Cl", function()
  local s = ct.cif.parse(rock_salt())[1]
  T.eq(s.natoms, 8, "atoms")
  T.eq(count(s.species, 11), 4, "Na")
  T.eq(count(s.species, 17), 4, "Cl")
  T.eq(s.declared_spacegroup, 225, "declared group")
  T.eq(s.name, "NaCl", "block name")
end)

T.test("uncertainties are read: 5.6402(3) is 5.6402", function()
  local s = ct.cif.parse(rock_salt())[1]
  T.near(s.lattice.a, 5.6402, 1e-12, "a")
  T.near(s:volume(), 5.6402 ^ 3, 1e-9, "volume")
end)

T.test("a coordinate of 1.0 wraps to 0", function()
  local s = ct.cif.parse(rock_salt())[1]
  local f = s.frac[1]
  T.eq(f[1], 0.0, "x of Na1")
  for _, p in ipairs(s.frac) do
    for k = 1, 3 do T.truthy(p[k] >= 0 and p[k] < 1, "coordinate in [0, 1)") end
  end
end)

T.test("spglib finds 225 for the rock-salt cell", function()
  local s = ct.cif.parse(rock_salt())[1]
  T.eq(s.spacegroup, 225, "spacegroup")
  T.eq(s:symmetry(0.01).symbol, "Fm-3m", "symbol")
  T.near(s:distance(1, 5), 5.6402 * math.sqrt(3) / 2, 1e-9, "Na-Cl across the body diagonal")
end)

T.test("explicit symmetry operations are applied and duplicates merged", function()
  -- P m -3 m's inversion maps 0.5 to -0.5 = 0.5: one Cl, not two.
  local text = [[
data_CsCl
_cell_length_a 4.12
_cell_length_b 4.12
_cell_length_c 4.12
loop_
_symmetry_equiv_pos_as_xyz
'x, y, z'
'-x, -y, -z'
'-y, x, z'
loop_
_atom_site_label
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
Cs1 0 0 0
Cl1 0.5 0.5 0.5
Cl2 0.5 0.5 -0.5
]]
  local s = ct.cif.parse(text)[1]
  T.eq(s.natoms, 2, "atoms after merging")
  T.eq(s.formula, "Cl1Cs1", "formula")
  T.eq(s.lattice.alpha, 90, "angles default to 90")
end)

T.test("every data block becomes a structure", function()
  local two = rock_salt() .. "\n" .. rock_salt():gsub("data_NaCl", "data_second")
  local list = ct.cif.parse(two)
  T.eq(#list, 2, "blocks")
  T.eq(list[2].name, "second", "second block's name")
end)

T.test("P1 write and read back give the same structure", function()
  local ds = ct.dataset.load(sample, {limit = 20})
  local list = ds:structures()
  local path = tmp .. "/p1.cif"
  ct.cif.write(list, path)
  local back = ct.cif.read(path)
  T.eq(#back, #list, "blocks")
  for i, s in ipairs(list) do
    local b = back[i]
    T.eq(b.natoms, s.natoms, "atoms")
    for _, k in ipairs {"a", "b", "c", "alpha", "beta", "gamma"} do
      T.near(b.lattice[k], s.lattice[k], 1e-7, k)
    end
    for j = 1, s.natoms do
      T.eq(b.species[j], s.species[j], "species")
      for k = 1, 3 do
        local d = math.abs(b.frac[j][k] - s.frac[j][k])
        T.truthy(math.min(d, 1 - d) < 1e-7, "coordinate")
      end
    end
  end
end)

T.test("symmetrised write: read back, same group, cell and atoms as the refined cell", function()
  local ds = ct.dataset.load(sample, {limit = 40})
  local path = tmp .. "/sym.cif"
  ct.cif.write(ds, path, {symmetrize = true})
  local back = ct.cif.read(path)
  T.eq(#back, #ds, "blocks")
  for i = 1, #ds do
    local s = ds[i]
    local refined = s:refined()
    T.eq(back[i].natoms, refined.natoms, "atoms of block " .. i)
    T.eq(back[i].spacegroup, s.spacegroup, "space group of block " .. i)
    T.eq(back[i].declared_spacegroup, s.spacegroup, "declared group of block " .. i)
    T.near(back[i]:volume(), refined:volume(), 1e-5, "volume")
    T.near(back[i]:density(), s:density(), 1e-6, "density")
  end
end)

-- Each bad input: a Lua error with a message naming what and why.
local bad = {
  {"empty file", "", "no data blocks"},
  {"binary garbage", "\0\1\2\255\254garbage\0", "binary"},
  {"binary garbage without NUL", "\255\254\253\252 \127\200\201 ;;; \n", "expected block header"},
  {"truncated CIF", rock_salt():sub(1, 200) .. "\n_atom_site_label\n'Na1", "truncated"},
  {"CIF without cell", rock_salt():gsub("_cell_length_%a [^\n]*\n", ""), "no unit cell"},
  {"disordered site", rock_salt("Cl2 Br 0.25 0.25 0.25 0.5\n"), "partial occupancy 0.5"},
  {"unknown element", rock_salt("Q1 Qq 0.25 0.25 0.25 1.0\n"), "unknown element"},
  {"zero volume", rock_salt():gsub("angle_alpha 90.0", "angle_alpha 180"), "between 0 and 180"},
  {"flat cell", rock_salt():gsub("90%.0", "120.0"), "zero or negative cell volume"},
  {"no atoms", "data_x\n_cell_length_a 3\n_cell_length_b 3\n_cell_length_c 3\n", "no atom sites"},
}
for _, case in ipairs(bad) do
  local name, text, why = case[1], case[2], case[3]
  T.test("bad input raises a clear error: " .. name, function()
    local file = name:gsub("%W", "_") .. ".cif"
    local path = write(tmp .. "/" .. file, text)
    local err = T.raises(function() ct.cif.read(path) end, file)
    if why ~= file then
      T.truthy(err:find(why, 1, true), "'" .. err .. "' says " .. why)
    end
    if text:find("data_") and not name:find("truncated") then
      T.truthy(err:find("block", 1, true), "'" .. err .. "' names the block")
    end
  end)
end

T.test("unreadable path and folder raise errors naming them", function()
  T.raises(function() ct.cif.read(tmp .. "/missing.cif") end, "missing.cif: cannot open")
  T.raises(function() ct.cif.read(tmp) end, "not a regular file")
  T.raises(function() ct.cif.parse({}) end, "bad argument #1")
end)

T.test("the session survives bad input: a good read works afterwards", function()
  for _ = 1, 3 do pcall(ct.cif.parse, "\0\1\2") end
  T.eq(#ct.cif.parse(rock_salt()), 1, "structures after errors")
end)

T.test("writing is atomic: a failed write leaves the old file", function()
  local path = tmp .. "/keep.cif"
  write(path, "old")
  local s = ct.cif.parse(rock_salt())[1]
  T.raises(function() ct.cif.write({}, path) end, "no structures")
  T.raises(function() ct.cif.write(s, tmp .. "/no/such/dir/x.cif") end, "cannot")
  local f = io.open(path)
  T.eq(f:read("a"), "old", "file left alone")
  f:close()
end)

local function have_pymatgen()
  return os.execute("/usr/bin/python3 -c 'import pymatgen.core' 2>/dev/null") == true
end

if have_pymatgen() then
  T.test("pymatgen reads our P1 and symmetrised CIFs to the same crystals", function()
    local ds = ct.dataset.load(sample, {limit = 12})
    ct.cif.write(ds, tmp .. "/pm_p1.cif")
    ct.cif.write(ds, tmp .. "/pm_sym.cif", {symmetrize = true})
    local script = write(tmp .. "/pm.py", [[
import sys, warnings
warnings.filterwarnings("ignore")
from pymatgen.io.cif import CifParser
for path in sys.argv[1:]:
    for s in CifParser(path).get_structures(primitive=False):
        print(len(s), "%.6f" % s.volume, "%.6f" % s.density)
]])
    local p = io.popen("/usr/bin/python3 " .. script .. " " .. tmp .. "/pm_p1.cif " ..
                       tmp .. "/pm_sym.cif")
    local lines = {}
    for line in p:lines() do lines[#lines + 1] = line end
    p:close()
    T.eq(#lines, 2 * #ds, "structures pymatgen read")
    for i = 1, #ds do
      local s, r = ds[i], ds[i]:refined()
      local n1, v1, d1 = lines[i]:match("(%d+) (%S+) (%S+)")
      local n2, v2, d2 = lines[#ds + i]:match("(%d+) (%S+) (%S+)")
      T.eq(tonumber(n1), s.natoms, "P1 atoms")
      T.near(tonumber(v1), s:volume(), 1e-4, "P1 volume")
      T.near(tonumber(d1), s:density(), 1e-4, "P1 density")
      T.eq(tonumber(n2), r.natoms, "symmetrised atoms")
      T.near(tonumber(v2), r:volume(), 1e-3, "symmetrised volume")
      T.near(tonumber(d2), s:density(), 1e-4, "symmetrised density")
    end
  end)
else
  T.skip("pymatgen reads our CIFs", "python3-pymatgen not installed")
end

T.rmtree(tmp)
T.done()
