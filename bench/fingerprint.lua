-- bench/fingerprint.lua - CDVAE structure fingerprints per second (CrystalNN
-- + order parameters, mean over sites), one core and all cores, against
-- pymatgen doing the same work (tests/fingerprint_ref.py).
--
--   crystens bench/fingerprint.lua [CSV] [N]
--
-- Default CSV: ../shared/data/mp_20_biternary/test.csv, its first N = 2000
-- crystals.  Wall times, run once, and the one-core CPU time, which a
-- machine shared with other jobs distorts less; pymatgen on the first 40.
local ct = require "crystens"

local srcdir = os.getenv("top_srcdir") or "."
local path = (arg[1] ~= "" and arg[1]) or (srcdir .. "/../shared/data/mp_20_biternary/test.csv")
local N = tonumber(arg[2]) or 2000
local PYROWS = 40

local function report(label, n, seconds)
  print(("%-36s %6d crystals  %8.3f s  %8.1f /s"):format(label, n, seconds, n / seconds))
end

local function wall(fn)
  local clock = ct.progress.new("bench")
  fn()
  return clock:elapsed()
end

local ds = ct.dataset.load(path, {limit = N, progress = false})
local list = ds:structures()
local atoms = 0
for _, s in ipairs(list) do atoms = atoms + s.natoms end
print(("%d crystals, %.1f atoms on average"):format(#list, atoms / #list))

local cpu = os.clock()
local t_one = wall(function()
  for _, s in ipairs(list) do pcall(ct.fingerprint.structure, s) end
end)
cpu = os.clock() - cpu
report("one core (one crystal a call)", #list, t_one)
report("  the same in CPU time (busy machine)", #list, cpu)
local t_all = wall(function() ct.fingerprint.structure(list) end)
report("all cores (one list)", #list, t_all)

-- pymatgen: the reference script reads "cell natoms z... frac..." lines.
local tmp = os.tmpname()
local f = assert(io.open(tmp, "w"))
for i = 1, math.min(PYROWS, #list) do
  local s, l = list[i], list[i].lattice
  local row = {l.a, l.b, l.c, l.alpha, l.beta, l.gamma, s.natoms}
  for _, z in ipairs(s.species) do row[#row + 1] = z end
  for _, x in ipairs(s.frac) do
    for k = 1, 3 do row[#row + 1] = ("%.17g"):format(x[k]) end
  end
  f:write(table.concat(row, " "), "\n")
end
f:close()
local script = srcdir .. "/tests/fingerprint_ref.py"
local t_py, lines = 0, 0
t_py = wall(function()
  local p = io.popen(("/usr/bin/python3 '%s' < '%s' 2>/dev/null"):format(script, tmp))
  for line in p:lines() do
    if line:match("^skip") then break end
    if not line:match("^ready") then lines = lines + 1 end
  end
  p:close()
end)
os.remove(tmp)
if lines == 0 then
  print("pymatgen: not available (apt-get install python3-pymatgen to compare)")
  return
end
report("pymatgen (with its import)", lines, t_py)
print(("crystens one core / pymatgen: %.0fx"):format((#list / t_one) / (lines / t_py)))
