-- Lesson 1: crystals in crystens.
--   crystens examples/workshop/01-crystals.lua [--quick] [out-folder]
-- Reads a CIF written with its symmetry, expands it to the full cell, asks
-- spglib for its space group, loads the shipped sample of 200 real crystals
-- and looks at what a data set of crystals is made of.  Writes a CIF and
-- histograms (SVG) to the output folder (default workshop-out/01).
local ct = require "crystens"

local quick, out = false, "workshop-out/01"
for _, a in ipairs(arg or {}) do
  if a == "--quick" then quick = true else out = a end
end
ct.file.mkdirs(out)
print("Lesson 1: crystals" .. (quick and " (quick)" or ""))

-- 1. Rock salt as a crystallographer writes it: two sites and the group.
local nacl = ct.cif.parse([[
data_NaCl
_cell_length_a 5.6402(3)
_cell_length_b 5.6402(3)
_cell_length_c 5.6402(3)
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'F m -3 m'
_symmetry_Int_Tables_number 225
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
Na1 Na 0 0 0
Cl1 Cl 0.5 0.5 0.5
]], "NaCl")[1]
local sg = nacl:symmetry()
print(("\n1. NaCl from 2 sites and 'F m -3 m': %d atoms in the cell, %s"):format(
  nacl.natoms, tostring(nacl)))
print(("   spglib: %s (No. %d); volume %.2f Å³, density %.3f g/cm³ (2.165 measured)"):format(
  sg.symbol, sg.number, nacl:volume(), nacl:density()))
local nearest = math.huge
for j = 1, nacl.natoms do
  if nacl.species[j] ~= nacl.species[1] then nearest = math.min(nearest, nacl:distance(1, j)) end
end
print(("   nearest Na-Cl distance %.3f Å (a/2 = %.3f)"):format(nearest, nacl.lattice.a / 2))
ct.cif.write(nacl, out .. "/NaCl_P1.cif")
print("   written as a P1 CIF: " .. out .. "/NaCl_P1.cif")

-- 2. Written back with its symmetry (spglib's refined cell): the two sites again.
local sym = nacl:to_cif{symmetrize = true}
local sites = 0
for line in sym:gmatch("[^\n]+") do
  if line:match("^%s*Na%d*%s") or line:match("^%s*Cl%d*%s") then sites = sites + 1 end
end
print(("\n2. Symmetrized CIF: %d lines, %d atom sites listed (the P1 file lists 8)"):format(
  select(2, sym:gsub("\n", "")), sites))

-- 3. A data set: the shipped sample of mpts_52 crystals.
local ds = ct.dataset.load(ct.datadir .. "/sample/mpts_52_val_sample.csv")
local n = quick and math.min(#ds, 60) or #ds
local natoms, density, nelem, zs = {}, {}, {}, {}
for i = 1, n do
  local s = ds[i]
  natoms[i], density[i] = s.natoms, s:density()
  local seen, k = {}, 0
  for _, z in ipairs(s.species) do
    if not seen[z] then seen[z], k = true, k + 1 end
    zs[#zs + 1] = z
  end
  nelem[i] = k
end
local function mean(t)
  local sum = 0
  for _, v in ipairs(t) do sum = sum + v end
  return sum / #t
end
print(("\n3. %s: %d crystals looked at; on average %.1f atoms, %.2f elements, %.2f g/cm³"):format(
  tostring(ds), n, mean(natoms), mean(nelem), mean(density)))
local files = {}
for _, h in ipairs {{"natoms", natoms, "atoms in the cell"},
                    {"density", density, "density (g/cm³)"},
                    {"Z", zs, "atomic number"}} do
  local path = out .. "/" .. h[1] .. ".svg"
  ct.plot.histogram{samples = {{name = "sample", values = h[2]}}, title = h[3],
                    xlabel = h[3], path = path}
  files[#files + 1] = path
end
print("   histograms: " .. table.concat(files, ", "))
print("\nDone: results in " .. out .. "/")
