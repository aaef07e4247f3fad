-- ct.crystens: encode and exact decode on every row of the benchmark files,
-- layer 0 against brute-force image searches and pymatgen, the options and
-- presets, .npy and PNG output, and errors.
local T = require "tap"
local ct = require "crystens"

local srcdir = os.getenv("top_srcdir") or "."
local sample = srcdir .. "/share/sample/mpts_52_val_sample.csv"
local shared = srcdir .. "/../shared/data"
local tmp = T.tmpdir()

-- Largest differences between structures a and b, atom by atom:
-- coordinates modulo 1, lattice parameters; nil and a reason if the atoms
-- differ.
local function compare(a, b)
  if a.natoms ~= b.natoms then return nil, "atoms " .. a.natoms .. " vs " .. b.natoms end
  local fa, fb, za, zb = a.frac, b.frac, a.species, b.species
  local dc, dl = 0, 0
  for i = 1, a.natoms do
    if za[i] ~= zb[i] then return nil, "species of atom " .. i end
    for k = 1, 3 do
      local d = math.abs(fa[i][k] - fb[i][k])
      dc = math.max(dc, math.min(d, 1 - d))
    end
  end
  for _, k in ipairs {"a", "b", "c", "alpha", "beta", "gamma"} do
    dl = math.max(dl, math.abs(a.lattice[k] - b.lattice[k]))
  end
  return dc, dl
end

-- Every structure of a file round-trips: with the file's cell and order the
-- decoded structure is the original; with the defaults it is prepare(s).
local function roundtrip_file(path, stride_spglib)
  local ds = ct.dataset.load(path)
  local file_opts = {reduce = false, order = "file", spacegroup = "declared"}
  local fast_opts = {spacegroup = "declared"}
  local worst_c, worst_l, spglib_checked = 0, 0, 0
  for i = 1, #ds do
    local s = ds[i]
    for pass = 1, 2 do
      local opts = pass == 1 and file_opts or fast_opts
      local want = pass == 1 and s or ct.crystens.prepare(s, opts)
      local exact = {exact = true}
      for k, v in pairs(opts) do exact[k] = v end
      local got, diag = ct.crystens.decode((ct.crystens.encode(s, opts)), exact)
      local dc, dl = compare(got, want)
      if not dc then error(("row %d pass %d: %s"):format(i, pass, dl)) end
      worst_c, worst_l = math.max(worst_c, dc), math.max(worst_l, dl)
      T.eq(got.spacegroup_stored, pass == 1 and s.declared_spacegroup or want.spacegroup_stored,
           "space group of row " .. i)
      T.truthy(diag.header_spread < 1e-4 and diag.distance_error < 1e-4, "diagnostics")
    end
    if i % stride_spglib == 0 then   -- the default path, spglib included
      local got = ct.crystens.decode(ct.crystens.encode(s), {exact = true})
      T.eq(got.spacegroup_stored, s.spacegroup, "spglib group survives row " .. i)
      spglib_checked = spglib_checked + 1
    end
  end
  print(("# %s: %d structures, worst coordinate %.2g, worst lattice %.2g, %d with spglib")
        :format(path:match("[^/]+/[^/]+$"), #ds, worst_c, worst_l, spglib_checked))
  T.truthy(worst_c < 1e-5, "coordinates within 1e-5 modulo 1: " .. worst_c)
  T.truthy(worst_l < 1e-4, "lattice within 1e-4: " .. worst_l)
  return #ds
end

for _, name in ipairs {"mpts_52/test.csv", "perov_5/test.csv"} do
  local path = shared .. "/" .. name
  if T.exists(path) then
    T.test("every row of " .. name .. " encodes and decodes exactly", function()
      T.truthy(roundtrip_file(path, 200) > 1000, "rows")
    end)
  else
    T.skip("every row of " .. name .. " round-trips", "../shared/data not found")
  end
end

T.test("the shipped sample round-trips with every default (spglib, Niggli, sorted)", function()
  local ds = ct.dataset.load(sample)
  local t = ct.crystens.encode(ds)
  T.eq(table.concat(t:shape(), "x"), "200x4x64x64", "batch shape")
  local back, diags = ct.crystens.decode(t, {exact = true})
  T.eq(#back, 200, "decoded structures")
  for i = 1, #ds do
    local want = ct.crystens.prepare(ds[i])
    local dc, dl = compare(back[i], want)
    T.truthy(dc and dc < 1e-5 and dl < 1e-4, "row " .. i .. ": " .. tostring(dl))
    T.eq(back[i].spacegroup_stored, ds[i].spacegroup, "space group")
    T.near(back[i]:volume(), ds[i]:volume(), 1e-3, "volume (the same crystal)")
    T.eq(diags[i].natoms, ds[i].natoms, "diagnosed atoms")
  end
end)

-- Minimum over 125 images in the structure's own (unreduced) basis.
local function brute(s, i, j)
  local m, f = s.matrix, s.frac
  local best = math.huge
  for a = -2, 2 do for b = -2, 2 do for c = -2, 2 do
    local d = {f[j][1] - f[i][1] + a, f[j][2] - f[i][2] + b, f[j][3] - f[i][3] + c}
    local x, y, z = 0, 0, 0
    for k = 1, 3 do
      x, y, z = x + d[k] * m[k][1], y + d[k] * m[k][2], z + d[k] * m[k][3]
    end
    best = math.min(best, math.sqrt(x * x + y * y + z * z))
  end end end
  return best
end

T.test("layer 0 = brute-force minimum-image distances (Å)", function()
  local ds = ct.dataset.load(sample, {limit = 60})
  local worst = 0
  for n = 1, #ds do
    local s = ds[n]
    local t = ct.crystens.encode(s, {order = "file"})   -- reduced cell, file order
    for i = 1, s.natoms do
      for j = 1, s.natoms do
        worst = math.max(worst, math.abs(t:get(1, 12 + i, 12 + j) - brute(s, i, j)))
      end
    end
  end
  print(("# layer 0 vs 125-image brute force: worst difference %.2g Å"):format(worst))
  T.truthy(worst < 1e-4, "worst " .. worst)
end)

T.test("the paper preset: file cell and order, non-periodic fractional layer 0", function()
  local s = ct.dataset.load(sample, {limit = 1})[1]
  local t = ct.crystens.encode(s, {preset = "paper"})
  local f = s.frac
  for i = 1, s.natoms do
    T.near(t:get(2, 1, 12 + i), s.species[i], 0, "Z in the header")
    for j = 1, s.natoms do
      local d = math.sqrt((f[i][1] - f[j][1]) ^ 2 + (f[i][2] - f[j][2]) ^ 2 + (f[i][3] - f[j][3]) ^ 2)
      T.near(t:get(1, 12 + i, 12 + j), d, 1e-6, "fractional distance")
      T.near(t:get(3, 12 + i, 12 + j), f[i][2] - f[j][2], 1e-6, "y difference")
    end
  end
  T.near(t:get(4, 5, 13), s.lattice.a, 1e-5, "a, unreduced")
  local back = ct.crystens.decode(t, {preset = "paper", exact = true})
  T.truthy(compare(back, s) < 1e-6, "decodes to the file's structure")
end)

T.test("more atoms than S-12 is an error; a larger S holds them", function()
  local cif = {"data_big", "_cell_length_a 4", "_cell_length_b 4", "_cell_length_c 106",
               "loop_", "_atom_site_type_symbol", "_atom_site_fract_x", "_atom_site_fract_y",
               "_atom_site_fract_z"}
  for i = 1, 53 do cif[#cif + 1] = ("C 0 0 %.5f"):format((i - 1) / 53) end
  local s = ct.cif.parse(table.concat(cif, "\n"))[1]
  T.raises(function() ct.crystens.encode(s) end, "53 atoms; a CrysTens of size 64 holds at most 52")
  T.raises(function() ct.crystens.encode({s}, {size = 64}) end, "structure 1:")
  local t = ct.crystens.encode(s, {size = 80})
  T.eq(t:size(2), 80, "S=80")
  T.eq(ct.crystens.decode(t, {exact = true}).natoms, 53, "decoded atoms")
end)

T.test("tensors save as .npy and load back; decode works on the loaded copy", function()
  local ds = ct.dataset.load(sample, {limit = 5})
  local t = ct.crystens.encode(ds, {size = 64})
  local path = tmp .. "/batch.npy"
  t:save(path)
  local u = ct.tensor.load(path)
  T.eq(table.concat(u:shape(), "x"), "5x4x64x64", "shape")
  local a, b = ct.crystens.decode(t, {exact = true}), ct.crystens.decode(u, {exact = true})
  for i = 1, 5 do T.eq(compare(a[i], b[i]), 0.0, "identical decode") end
end)

T.test("t:save_png draws the four layers side by side", function()
  local s = ct.dataset.load(sample, {limit = 1})[1]
  local t = ct.crystens.encode(s)
  local path = tmp .. "/c.png"
  T.eq(t:save_png(path, {scale = 2}), t, "returns the tensor")
  local f = assert(io.open(path, "rb"))
  local head = f:read(24)
  f:close()
  T.eq(head:sub(1, 8), "\137PNG\r\n\26\n", "PNG signature")
  local w, h = string.unpack(">I4I4", head, 17)
  T.eq(w, 4 * 64 * 2 + 3 * 8, "width")
  T.eq(h, 64 * 2, "height")
  T.raises(function() ct.tensor.new(3, 5, 5):save_png(path) end, "4×S×S")
end)

-- A cubic rock-salt motif declared in P m -3 m but given a tetragonal cell:
-- spglib finds P4/mmm (123), which the tensor holds and the report names.
local function rocksalt(c, symbol)
  return ct.cif.parse(([[data_rs
_cell_length_a 5.64
_cell_length_b 5.64
_cell_length_c %s
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M '%s'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
Na Na 0 0 0
Cl Cl 0.5 0.5 0.5
]]):format(c, symbol))[1]
end

T.test("encode reports a declared space group that spglib does not find", function()
  local agree, strained = rocksalt("5.64", "P m -3 m"), rocksalt("6.5", "P m -3 m")
  local t, report = ct.crystens.encode({agree, strained, agree})
  local m = report.spacegroup_mismatch
  T.eq(#m, 1, "one mismatch")
  T.eq(m[1].item, 2, "the strained cell")
  T.eq(m[1].declared, 221, "declared")
  T.eq(m[1].spglib, 123, "spglib's")
  T.eq(t:get(2, 1, 11, 13), 123, "the tensor holds spglib's group")
  local _, r2 = ct.crystens.encode(strained, {spacegroup = "declared"})
  T.eq(#r2.spacegroup_mismatch, 0, "nothing to report when the declared group is encoded")
end)

T.test("bad arguments name themselves", function()
  local s = ct.dataset.load(sample, {limit = 1})[1]
  T.raises(function() ct.crystens.encode(s, {size = 8}) end,
           "bad option 'size' to 'ct.crystens.encode' (must be an integer from 13 to 4096)")
  T.raises(function() ct.crystens.encode(s, {distance = "miles"}) end,
           "bad option 'distance' to 'ct.crystens.encode' (invalid value 'miles'; expected 'angstrom' or 'fractional')")
  T.raises(function() ct.crystens.encode(s, {preset = "x"}) end, "bad option 'preset'")
  T.raises(function() ct.crystens.encode(s, {exact = true}) end,
           "bad option 'exact' to 'ct.crystens.encode' (unknown option")
  T.raises(function() ct.crystens.encode("s") end, "bad argument #1")
  T.raises(function() ct.crystens.decode(ct.tensor.new(4, 64, 32), {exact = true}) end, "expected 4×S×S")
  T.raises(function() ct.crystens.decode(ct.tensor.new(4, 64, 64), {exact = true}) end, "no atoms")
  local t = ct.crystens.encode(s)
  for l = 1, 4 do   -- every copy of the space group: 250
    for j = 1, s.natoms do t:set(250, l, 11, 12 + j); t:set(250, l, 12 + j, 11) end
  end
  T.raises(function() ct.crystens.decode(t, {exact = true}) end, "space group")
end)

local function have_pymatgen()
  return os.execute("/usr/bin/python3 -c 'import pymatgen.core' 2>/dev/null") == true
end

if have_pymatgen() then
  T.test("layer 0 agrees with pymatgen's distance_matrix (sample rows 1, 11, ..., 191)", function()
    local script = tmp .. "/dm.py"
    local f = assert(io.open(script, "w"))
    f:write([[
import csv, sys, warnings
warnings.filterwarnings("ignore")
from pymatgen.io.cif import CifParser
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
for r in rows[::10]:
    s = CifParser.from_string(r["cif"]).get_structures(primitive=False)[0]
    d = sorted(s.distance_matrix.flatten())
    print(len(s), " ".join("%.6f" % x for x in d))
]])
    f:close()
    local p = io.popen("/usr/bin/python3 " .. script .. " " .. sample)
    local ds = ct.dataset.load(sample)
    local row, worst = 1, 0
    for line in p:lines() do
      local s = ds[row]
      local n = tonumber(line:match("^(%d+)"))
      T.eq(n, s.natoms, "atoms in row " .. row)
      local want = {}
      for x in line:gmatch(" (%S+)") do want[#want + 1] = tonumber(x) end
      local t = ct.crystens.encode(s)
      local got = {}
      for i = 1, n do for j = 1, n do got[#got + 1] = t:get(1, 12 + i, 12 + j) end end
      table.sort(got)
      for k = 1, #got do worst = math.max(worst, math.abs(got[k] - want[k])) end
      row = row + 10
    end
    p:close()
    print(("# layer 0 vs pymatgen distance_matrix: %d structures, worst %.2g Å")
          :format((row - 1) // 10, worst))
    T.eq(row, 201, "structures compared")
    T.truthy(worst < 1e-4, "worst " .. worst)
  end)
else
  T.skip("layer 0 vs pymatgen", "python3-pymatgen not installed")
end

-- ct.crystens.layout (ct_layout.h) says where the spec puts each value:
-- read an encoded structure through it, header rows 1-based as t:get counts.
T.test("ct.crystens.layout locates the header rows and slots of an encoded tensor", function()
  local L = ct.crystens.layout
  T.eq(L.header, 12, "header rows")
  T.eq(L.layers, 4, "layers")
  T.eq(L.copies, 8, "copies")
  T.eq(L.min_size, 13, "min_size")
  T.eq(L.max_size, 4096, "max_size")
  T.eq(L.max_atoms(64), 52, "max_atoms(64)")
  T.eq(L.max_atoms(32), 20, "max_atoms(32)")
  T.raises(function() L.max_atoms(12) end, "size must be an integer from 13 to 4096")
  T.raises(function() L.max_atoms(4097) end, "size must be an integer from 13 to 4096")
  local s = ct.crystens.prepare(ct.dataset.load(sample, {limit = 1})[1], {size = 32})
  local t = ct.crystens.encode(s, {size = 32, species = "periodic"})
  local R, slot = L.rows, L.header + 1
  T.eq(t:get(1, R.Z, slot), s.species[1], "Z of atom 1")
  T.near(t:get(3, slot, R.x), s.frac[1][1], 1e-6, "x of atom 1 (its row, layer 3)")
  T.near(t:get(2, R.a, slot), s.lattice.a, 1e-4, "a")
  T.near(t:get(4, slot, R.gamma), s.lattice.gamma, 1e-3, "gamma")
  T.eq(t:get(1, R.sg, slot), s.spacegroup, "space group")
  T.truthy(t:get(1, R.column, slot) > 0, "periodic column")
  T.eq(t:get(1, R.Z, L.header + s.natoms + 1), 0, "first empty slot")
end)

T.rmtree(tmp)
T.done()
