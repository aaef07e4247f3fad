-- bench/encode.lua - CrysTens encoding throughput (structures/s) against
-- pymatgen doing the comparable work (parse the CIF, distance matrix).
--
--   crystens bench/encode.lua [CSV] [S]
--
-- Default CSV: ../shared/data/mpts_52/test.csv (8096 CIFs), S = 64.  Wall
-- times, each step run once after one warm-up load (file cache).  pymatgen
-- runs on the first 400 rows (it is slow); rates are compared per structure.
local ct = require "crystens"

local srcdir = os.getenv("top_srcdir") or "."
local path = arg[1] or (srcdir .. "/../shared/data/mpts_52/test.csv")
local S = tonumber(arg[2]) or 64
local PYROWS = 400

local function report(label, n, seconds)
  print(("%-40s %6d structures  %8.3f s  %8.0f /s"):format(label, n, seconds, n / seconds))
end

-- Run fn and return its wall time in seconds.
local function wall(fn)
  local clock = ct.progress.new("bench")
  fn()
  return clock:elapsed()
end

local ds
ct.dataset.load(path, {progress = false})   -- warm the file cache
local t_parse = wall(function() ds = ct.dataset.load(path, {size = S, progress = false}) end)
local n = #ds
local list = ds:structures()

-- Encode the whole list into one N×4×S×S tensor, as a user would (530 MiB
-- at S = 64); free it before the next measurement.
local function encode_all(opts)
  ct.crystens.encode(list, opts)
  collectgarbage()
end

local t_given = wall(function() encode_all({size = S, spacegroup = "declared"}) end)
local t_spglib = wall(function() encode_all({size = S}) end)
report("parse (CSV + CIF through gemmi)", n, t_parse)
report("encode, space group given", n, t_given)
report("encode, space group by spglib", n, t_spglib)
report("parse + encode, space group given", n, t_parse + t_given)
report("parse + encode, spglib", n, t_parse + t_spglib)

local py = srcdir .. "/bench/encode_pymatgen.py"
local p = io.popen(("/usr/bin/python3 '%s' '%s' %d 2>/dev/null"):format(py, path, PYROWS))
local out = p:read("a")
p:close()
local n_py, t_py = out:match("(%d+) structures ([%d.]+) s")
if not n_py then
  print("pymatgen: not available (apt-get install python3-pymatgen to compare)")
  return
end
n_py, t_py = tonumber(n_py), tonumber(t_py)
report("pymatgen parse + distance_matrix", n_py, t_py)
local py_rate = n_py / t_py
print(("crystens / pymatgen: %.1fx for the same work (space group given), %.1fx with spglib")
      :format(n / (t_parse + t_given) / py_rate, n / (t_parse + t_spglib) / py_rate))
