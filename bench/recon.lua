-- bench/recon.lua - reconstruction throughput (tensors/s) at S = 64 on
-- noisy tensors, as a generator would give them.
--
--   crystens bench/recon.lua [CSV] [N]
--
-- Default CSV: ../shared/data/mpts_52/test.csv, first N = 2000 crystals
-- (falls back to the shipped sample).  The tensors are scaled with the
-- networks' scaler, given N(0, 0.01) noise in scaled units, scaled back;
-- then decoded with automatic K and with the paper's fixed K, with and
-- without spglib's check of the result.  Wall times, all cores
-- (CT_NUM_THREADS to change), and one core.
local ct = require "crystens"

local srcdir = os.getenv("top_srcdir") or "."
local path = arg[1] or (srcdir .. "/../shared/data/mpts_52/test.csv")
local N = tonumber(arg[2]) or 2000
if not io.open(path) then path = srcdir .. "/share/sample/mpts_52_val_sample.csv" end

local ds = ct.dataset.load(path, {limit = N, progress = false})
local exact = ct.crystens.encode(ds, {spacegroup = "declared"})
local sc = ct.crystens.scaler(exact)
local z = sc:scale(exact)
local noisy = sc:unscale(z + ct.tensor.randn(z:shape(), ct.tensor.rng(1)) * 0.01)
local n = #ds

local function bench(label, opts)
  local clock = ct.progress.new("bench")
  local back = ct.crystens.decode(noisy, opts)
  local s = clock:elapsed()
  local ok = 0
  for i = 1, n do if back[i] then ok = ok + 1 end end
  print(("%-46s %5d tensors %7.3f s %8.0f /s  (%d reconstructed)"):format(label, n, s, n / s, ok))
end

print(("noisy CrysTens, S = 64, sigma 0.01 (scaled units), %s"):format(path:match("[^/]+/[^/]+$")))
bench("automatic K, no spglib", {symmetry = false})
bench("fixed K = 3/6 (paper), no spglib", {symmetry = false, k_species = 3, k_coords = 6})
bench("automatic K, spglib group of the result", {})
local threads = os.getenv("CT_NUM_THREADS")
print(threads and ("(CT_NUM_THREADS=" .. threads .. ")") or "(all cores)")
