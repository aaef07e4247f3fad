-- bench/metrics.lua - the full metrics suite on 10,000 "generated" crystals
-- against the 8,096 crystals of the mpts_52 test split: CDVAE validity,
-- coverage and W1 (ct.metrics.cdvae), K-S per quantity, symmetry,
-- uniqueness and novelty (against mpts_52 val, standing in for a training
-- set).  The generated crystals are test crystals, cycled, with their cell
-- lengths scaled by up to ±3 % and every atom moved by up to 0.05 Å per
-- axis (seeded); one in a hundred is `false`, a crystal that could not be
-- built.  Goal: under 5 minutes on 2 cores.
--
-- The structure fingerprint is crystens.fingerprint's CrystalNN when it is
-- built in; otherwise a labelled stand-in (cell lengths and atom count)
-- keeps the coverage step's O(N·M) cost in the timing, and the result says
-- which one ran.  Run: make bench, or
--   top_srcdir=$PWD src/crystens bench/metrics.lua [N]
local ct = require "crystens"
local metrics = ct.metrics

local top = os.getenv("top_srcdir") or "."
local data = top .. "/../shared/data/mpts_52/"
if not io.open(data .. "test.csv") then
  print("bench/metrics.lua: " .. data .. "test.csv is absent; skipped")
  return
end
local N = tonumber(arg and arg[1]) or 10000
local SEED = 20240607

local t_all = os.time()
local function stage(name, fn)
  local t0 = os.time()
  local r = fn()
  print(("%-38s %5d s"):format(name, os.time() - t0))
  return r
end

local ref = stage("load mpts_52 test", function() return ct.dataset.load(data .. "test.csv") end)
local train = stage("load mpts_52 val (training stand-in)",
                    function() return ct.dataset.load(data .. "val.csv") end)

local gen = stage(("perturb %d generated"):format(N), function()
  math.randomseed(SEED)
  local out = {}
  for i = 1, N do
    if i % 100 == 0 then
      out[i] = false
    else
      local s = ref[(i - 1) % #ref + 1]
      local l = s.lattice
      local f = 1 + (math.random() - 0.5) * 0.06
      local frac = {}
      local lens = {l.a * f, l.b * f, l.c * f}
      for k, p in ipairs(s.frac) do
        frac[k] = {p[1] + (math.random() - 0.5) * 0.1 / lens[1],
                   p[2] + (math.random() - 0.5) * 0.1 / lens[2],
                   p[3] + (math.random() - 0.5) * 0.1 / lens[3]}
      end
      out[i] = ct.structure.new {lattice = {lens[1], lens[2], lens[3], l.alpha, l.beta, l.gamma},
                                 species = s.species, frac = frac}
    end
  end
  return out
end)

local fingerprint, fp_name
if pcall(require, "crystens.fingerprint") then
  fp_name = "CrystalNN (crystens.fingerprint)"
else
  fp_name = "stand-in: cell lengths / 10 and atom count / 10 (crystens.fingerprint not built)"
  fingerprint = function(list)
    local out = {}
    for i, s in ipairs(list) do
      local l = s.lattice
      out[i] = {l.a / 10, l.b / 10, l.c / 10, #s / 10}
    end
    return out
  end
end

local r = stage("cdvae (validity, COV, W1)", function()
  return metrics.cdvae(gen, ref, {n_eval = 1000, seed = 42, dataset = "mp20",
                                  fingerprint = fingerprint, fingerprint_name = fp_name})
end)
local ks = stage("ks per quantity", function() return metrics.ks(gen, ref) end)
local sym = stage("symmetry (symprec 0.1)", function() return metrics.symmetry(gen) end)
local uni = stage("uniqueness", function() return metrics.uniqueness(gen) end)
local nov = stage("novelty vs mpts_52 val", function() return metrics.novelty(gen, train) end)

print(("\n%d generated (%d built) vs %d reference, CT_NUM_THREADS=%s")
      :format(r.n_generated, r.n_built, r.n_reference, os.getenv("CT_NUM_THREADS") or "all cores"))
print(("struct valid %.2f%%  comp valid %.2f%%  valid %.2f%%"):format(
      100 * r.struct_valid, 100 * r.comp_valid, 100 * r.valid))
print(("COV-R %.2f%%  COV-P %.2f%%  (structure fingerprint: %s)"):format(
      100 * (r.cov_r or 0 / 0), 100 * (r.cov_p or 0 / 0), fp_name))
print(("W(rho) %.4f  W(N_el) %.4f  (n_eval %d, seed %d)"):format(r.w_density, r.w_nelem,
      r.n_eval, r.seed))
local parts = {}
for _, k in ipairs {"a", "b", "c", "alpha", "beta", "gamma", "spacegroup", "Z"} do
  parts[#parts + 1] = ("%s %.3f"):format(k, ks[k].statistic)
end
print("K-S: " .. table.concat(parts, "  "))
print(("above P1 %.2f%%  uniqueness %.2f%%  novelty %.2f%%"):format(100 * sym.above_p1,
      100 * uni.uniqueness, 100 * nov.novelty))
print(("total %d s"):format(os.time() - t_all))
