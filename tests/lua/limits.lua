-- Resource limits: inputs that claim far more than they hold, or far more
-- than crystens will take, are refused with a clear message before the
-- memory or time they would cost is spent.
local T = require "tap"
local ct = require "crystens"
local nn = require "crystens.nn_core"

local tmp = T.tmpdir()

-- Seconds of CPU time fn takes.
local function timed(fn)
  local t0 = os.clock()
  fn()
  return os.clock() - t0
end

local function cif_header(a, group)
  return string.format("data_big\n_cell_length_a %g\n_cell_length_b %g\n_cell_length_c %g\n" ..
    "_symmetry_space_group_name_H-M '%s'\nloop_\n_atom_site_type_symbol\n" ..
    "_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n", a, a, a, group)
end

-- Sites spread on a grid (never within the merge tolerance of each other).
local function sites(n)
  local out, k = {}, math.ceil(n ^ (1 / 3))
  for i = 0, n - 1 do
    local x, y, z = i % k, (i // k) % k, i // (k * k)
    out[#out + 1] = string.format("O %.6f %.6f %.6f", (x + 0.13) / k / 2,
                                  (y + 0.29) / k / 3, (z + 0.41) / k / 5)
  end
  return table.concat(out, "\n") .. "\n"
end

T.test("an atom loop of more sites than a structure holds is refused before expansion", function()
  local text = cif_header(2000, "P 1") .. sites(100001)
  local secs = timed(function()
    T.raises(function() ct.cif.parse(text, "huge.cif") end, "100001 atom sites (a structure holds at most 100000 atoms)")
  end)
  T.truthy(secs < 20, "refused in " .. secs .. " s")
end)

T.test("a symmetry expansion past 100000 atoms stops there, in linear time", function()
  -- 600 general positions of Fm-3m: 192 images each, 115200 atoms.
  local text = cif_header(3000, "F m -3 m") .. sites(600)
  local secs = timed(function()
    T.raises(function() ct.cif.parse(text, "expand.cif") end, "more than 100000 atoms in the cell")
  end)
  T.truthy(secs < 20, "refused in " .. secs .. " s")
end)

T.test("a large expansion under the limit is exact", function()
  -- 200 general positions of Fm-3m: 38400 atoms, none merged.
  local s = ct.cif.parse(cif_header(3000, "F m -3 m") .. sites(200), "ok.cif")[1]
  T.eq(s.natoms, 200 * 192, "atoms")
end)

-- A file of one line of 2e9 bytes, made sparse: little of it is on disk.
local function sparse_line_file(path, head)
  local f = assert(io.open(path, "wb"))
  -- 2 MiB of text before the hole (NUL bytes, which are refused as binary)
  f:write(head, string.rep("7", 2 << 20))
  assert(f:seek("set", 2000000000))
  f:write("\n")
  f:close()
  return path
end

T.test("a 2 GB line in a CIF file is refused after 1 MiB, naming the line", function()
  local p = sparse_line_file(tmp .. "/line.cif", "data_x\n_cell_length_a ")
  local err = T.raises(function() ct.cif.read(p) end, "line.cif:2: line longer than 1048576 bytes")
  T.truthy(#err < 400, "a short message")
end)

T.test("a 2 GB line in a CSV file is refused after 1 MiB", function()
  local p = sparse_line_file(tmp .. "/line.csv", "a,cif\n1,")
  T.raises(function() ct.dataset.load(p) end, "line.csv:2: line longer than 1048576 bytes")
end)

local function npy(path, shape)
  local dict = "{'descr': '<f4', 'fortran_order': False, 'shape': " .. shape .. ", }"
  dict = dict .. string.rep(" ", 63 - (10 + #dict) % 64) .. "\n"
  return T.write(path, "\147NUMPY\1\0" .. string.pack("<I2", #dict) .. dict .. "\0\0\0\0")
end

T.test(".npy claiming a petabyte is refused before allocating", function()
  local p = npy(tmp .. "/peta.npy", "(250000000000000,)")
  T.raises(function() ct.tensor.load(p) end, "peta.npy: not a readable .npy file: shape too large")
  p = npy(tmp .. "/peta2.npy", "(1000000, 1000000, 1000000)")
  T.raises(function() ct.tensor.load(p) end, "shape too large")
end)

T.test(".npy claiming more than the file holds is refused before allocating", function()
  local p = npy(tmp .. "/short.npy", "(1000000000,)")
  T.raises(function() ct.tensor.load(p) end, "file shorter than its shape says")
end)

local function safetensors(path, header, len)
  return T.write(path, string.pack("<I8", len or #header) .. header)
end

T.test("safetensors whose header claims a petabyte is refused", function()
  local p = safetensors(tmp .. "/hdr.safetensors", "{}", 1 << 50)
  T.raises(function() nn.load(p) end, "header length 1125899906842624 in a file of 10 bytes")
end)

T.test("safetensors whose tensor claims a petabyte is refused", function()
  local p = safetensors(tmp .. "/big.safetensors",
    '{"t":{"dtype":"F32","shape":[250000000000000],"data_offsets":[0,1000000000000000]}}')
  T.raises(function() nn.load(p) end, "dimension too large")
  p = safetensors(tmp .. "/big2.safetensors",
    '{"t":{"dtype":"F32","shape":[100000,100000,100000],"data_offsets":[0,4000000000000000]}}')
  T.raises(function() nn.load(p) end, "tensor 't' is too large")
  p = safetensors(tmp .. "/trunc.safetensors",
    '{"t":{"dtype":"F32","shape":[1000000],"data_offsets":[0,4000000]}}')
  T.raises(function() nn.load(p) end, "truncated: tensor 't' ends at byte 4000000")
end)

T.rmtree(tmp)
T.test("symmetry searches refuse cells spglib cannot handle, and flat cells are reduced first", function()
  local function cell(a, angle)
    return ct.structure.new{lattice = {a = a, b = a, c = a, alpha = angle, beta = angle, gamma = angle},
                            species = {"Li"}, frac = {{0, 0, 0}}}
  end
  -- symmetry() answers nil and the reason
  local function refused(s, reason)
    local res, why = s:symmetry()
    T.eq(res, nil, "no group")
    T.truthy(why and why:find(reason, 1, true), tostring(why) .. " names " .. reason)
  end
  refused(cell(2000, 90), "too long for a symmetry search")
  refused(cell(3.0, 3), "too short for a symmetry search")
  -- γ = 1° crashed spglib 2.0 (fuzzing); reduced first, its 0.09 Å
  -- translation is named
  local flat = ct.structure.new{lattice = {a = 4.9, b = 4.9, c = 4.9, alpha = 90, beta = 90, gamma = 1},
                                species = {"B"}, frac = {{0.0002, 0.5, 0.5}}}
  refused(flat, "translation of 0.08")
  T.raises(function() flat:refined() end, "translation of 0.08")
  -- a flat cell with a sound lattice behind it: γ = 170° on a 2-atom cell
  local skew = ct.structure.new{lattice = {a = 4, b = 4, c = 4, alpha = 90, beta = 90, gamma = 170},
                                species = {"Na", "Cl"}, frac = {{0, 0, 0}, {0.5, 0.5, 0.5}}}
  T.truthy(skew:symmetry().number >= 1, "searched after reduction")
  T.eq(cell(3.0, 90):symmetry().number, 221, "a plain cubic cell still works")
end)

T.done()
