-- ct.metrics.cdvae and friends as Lua users see them: validity by hand,
-- false items, the fingerprint hook, K-S on structure lists against an
-- independent computation, symmetry, uniqueness and novelty, and the
-- mp_20_biternary test split scored against itself when the shared data
-- is there (with a labelled stand-in structure fingerprint, so this test
-- does not depend on the CrystalNN module).
local T = require "tap"
local ct = require "crystens"
local metrics = ct.metrics

local seed = T.seed()

local function rocksalt(a, shift)
  shift = shift or {0, 0, 0}
  local species, frac = {}, {}
  for _, p in ipairs {{0, 0, 0}, {0, .5, .5}, {.5, 0, .5}, {.5, .5, 0}} do
    species[#species + 1] = 11
    frac[#frac + 1] = {p[1] + shift[1], p[2] + shift[2], p[3] + shift[3]}
    species[#species + 1] = 17
    frac[#frac + 1] = {p[1] + .5 + shift[1], p[2] + shift[2], p[3] + shift[3]}
  end
  return ct.structure.new {lattice = {a, a, a, 90, 90, 90}, species = species, frac = frac}
end

local function pair(d, z1, z2)
  return ct.structure.new {lattice = {5, 5, 5, 90, 90, 90}, species = {z1 or 11, z2 or 17},
                           frac = {{0, 0, 0}, {d / 5, 0, 0}}}
end

-- A labelled stand-in for the CrystalNN fingerprint: cell lengths / 10 and
-- the atom count / 10.  Identical crystals get identical vectors, which is
-- all the self-score needs.
local function standin(list)
  local out = {}
  for i, s in ipairs(list) do
    local l = s.lattice
    out[i] = {l.a / 10, l.b / 10, l.c / 10, #s / 10}
  end
  return out
end

T.test("validity by hand, false items count as not built", function()
  local gen = {rocksalt(5.64), pair(0.4), false, pair(0.6, 11, 11), pair(2.0, 2, 8)}
  local r = metrics.cdvae(gen, {rocksalt(5.64), pair(2.0)}, {fingerprint = standin, n_eval = 0})
  -- struct: rocksalt, Na-Na 0.6 and He-O 2.0 pass; 0.4 Å fails; false fails.
  T.near(r.struct_valid, 3 / 5, 1e-15, "struct valid 3/5")
  -- comp: NaCl (4 of them), NaCl, Na (one element) valid; HeO not (He has no SMACT states).
  T.near(r.comp_valid, 3 / 5, 1e-15, "comp valid 3/5")
  T.near(r.valid, 2 / 5, 1e-15, "both: rocksalt and Na2")
  T.eq(r.n_generated, 5, "N counts the false item")
  T.eq(r.n_built, 4, "four built")
  T.eq(r.n_sampled, 2, "n_eval = 0 takes every valid one")
  T.truthy(r.conventions.sampling:match("every valid"), "sampling stated")
  T.truthy(r.conventions.coverage:match("opts.fingerprint"), "fingerprint named")
  T.truthy(r.conventions.struct_valid:match("0.5"), "cutoff stated")
  T.eq(r.conventions.cutoffs.struct, 0.4, "mp20 struct threshold")
  T.eq(r.conventions.cutoffs.comp, 10, "mp20 comp threshold")
end)

T.test("W1 and coverage on a tiny set by hand", function()
  local gen = {rocksalt(5.64), rocksalt(5.64)}
  local ref = {rocksalt(5.64), rocksalt(6.0), pair(2.0)}
  local r = metrics.cdvae(gen, ref, {fingerprint = standin, n_eval = 0, dataset = "carbon"})
  local rho = {ref[1]:density(), ref[2]:density(), ref[3]:density()}
  local g = {gen[1]:density(), gen[2]:density()}
  T.near(r.w_density, metrics.wasserstein(g, rho), 1e-12, "W(rho) from the densities")
  T.near(r.w_nelem, metrics.wasserstein({2, 2}, {2, 2, 2}), 1e-12, "W(N_el) = 0")
  -- Ref 1 is matched exactly; ref 2's stand-in differs by 0.036 * sqrt(3) = 0.062 (< 0.2)
  -- and the same composition; ref 3 has another composition and cell.
  T.near(r.cov_r, 2 / 3, 1e-12, "COV-R 2/3")
  T.near(r.cov_p, 1, 1e-12, "COV-P 1")
  T.eq(r.conventions.cutoffs.struct, 0.2, "carbon thresholds")
end)

T.test("the fingerprint hook and its absence", function()
  local has = pcall(require, "crystens.fingerprint")
  if not has then
    T.raises(function() metrics.cdvae({rocksalt(5.64)}, {rocksalt(5.64)}) end,
             "crystens.fingerprint is not built in")
  end
  local r = metrics.cdvae({rocksalt(5.64)}, {rocksalt(5.64)}, {coverage = false})
  T.eq(r.cov_r, nil, "coverage = false skips COV")
  T.truthy(r.conventions.coverage:match("not computed"), "and says so")
  T.raises(function() metrics.cdvae({rocksalt(5.64)}, {rocksalt(5.64)}, {dataset = "xx"}) end,
           "unknown dataset 'xx'")
  T.raises(function() metrics.cdvae({rocksalt(5.64), 7}, {rocksalt(5.64)}, {coverage = false}) end,
           "item 2 is a number")
  T.raises(function() metrics.cdvae({rocksalt(5.64)}, {rocksalt(5.64)}, {n_eval = -1}) end,
           "n_eval")
end)

T.test("a fingerprint that fails on one crystal leaves only that one without", function()
  local bad = pair(0.6, 11, 11)
  local function picky(list)
    for _, s in ipairs(list) do
      if #s == 2 and s.species[2] == 11 then error("no neighbours") end
    end
    return standin(list)
  end
  local r = metrics.cdvae({rocksalt(5.64), bad}, {rocksalt(5.64)}, {fingerprint = picky, n_eval = 0})
  T.near(r.valid, 1 / 2, 1e-15, "Na2 is valid but has no fingerprint")
  T.eq(r.n_gen_used, 1, "one generated crystal with fingerprints")
  T.near(r.cov_p, 1 / 2, 1e-15, "COV-P counts it as a miss")
end)

T.test("seeded sampling is reproducible and without replacement", function()
  local core = require "crystens.cdvae_core"
  local a, b = core.sample(100, 30, 7), core.sample(100, 30, 7)
  local seen, same = {}, true
  for i = 1, 30 do
    same = same and a[i] == b[i]
    T.truthy(not seen[a[i]] and a[i] >= 1 and a[i] <= 100, "distinct index in range")
    seen[a[i]] = true
  end
  T.truthy(same, "same seed, same draw")
  local c = core.sample(100, 30, 8)
  local differ = false
  for i = 1, 30 do differ = differ or a[i] ~= c[i] end
  T.truthy(differ, "another seed, another draw")
end)

T.test("ks on structure lists agrees with K-S on the quantities", function()
  local gen, ref = {}, {}
  for i = 1, 6 do gen[i] = rocksalt(5 + i / 10) end
  for i = 1, 5 do ref[i] = pair(1 + i / 5, 11, 9 + i) end
  ref[6] = false
  local r = metrics.ks(gen, ref)
  local ga, ra, gz, rz = {}, {}, {}, {}
  for i, s in ipairs(gen) do
    ga[i] = s.lattice.a
    for _, z in ipairs(s.species) do gz[#gz + 1] = z end
  end
  for i = 1, 5 do
    ra[i] = ref[i].lattice.a
    for _, z in ipairs(ref[i].species) do rz[#rz + 1] = z end
  end
  T.eq(r.a.statistic, metrics.ks(ga, ra).statistic, "a")
  T.eq(r.Z.statistic, metrics.ks(gz, rz).statistic, "Z pooled over atoms")
  local gsg, rsg = ct.structure.spacegroups(gen), ct.structure.spacegroups({table.unpack(ref, 1, 5)})
  T.eq(r.spacegroup.statistic, metrics.ks(gsg, rsg).statistic, "space group")
  T.eq(r.alpha.statistic, 0.0, "all cubic")
  T.eq(metrics.ks({1, 2, 3}, {3, 2, 1}).statistic, 0.0, "the two-sample form still works")
end)

T.test("symmetry: above P1 and agreement with the carried group", function()
  local nacl = rocksalt(5.64)
  local carried = ct.structure.new {lattice = {5.64, 5.64, 5.64, 90, 90, 90},
                                    species = nacl.species, frac = nacl.frac, spacegroup = 225}
  local wrong = ct.structure.new {lattice = {5.64, 5.64, 5.64, 90, 90, 90},
                                  species = nacl.species, frac = nacl.frac, spacegroup = 12}
  local p1 = ct.structure.new {lattice = {4.1, 5.3, 6.2, 81, 97, 104}, species = {11, 17, 8},
                               frac = {{0.1, 0.2, 0.3}, {0.55, 0.71, 0.13}, {0.3, 0.9, 0.6}}}
  local r = metrics.symmetry({nacl, carried, false, wrong, p1})
  T.eq(r.n, 4, "false left out")
  T.near(r.above_p1, 3 / 4, 1e-15, "three rock salts above P1")
  T.eq(r.n_carried, 2, "two carry a group")
  T.near(r.agreement, 1 / 2, 1e-15, "one agrees")
  T.eq(r.detected[1], 225, "Fm-3m detected")
  T.truthy(r.conventions.above_p1:match("0.1"), "symprec stated")
end)

T.test("uniqueness and novelty", function()
  local a, b = rocksalt(5.64), rocksalt(5.64, {0.13, 0.4, 0.77})
  local c = rocksalt(5.70)                       -- within ltol, scaled: the same
  local d = ct.structure.new {lattice = {5.64 * 1.5, 5.64, 5.64, 90, 90, 90},
                              species = a.species, frac = a.frac}   -- strained: new
  T.truthy(metrics.match(a, b), "shifted copy matches")
  T.truthy(not metrics.match(a, d), "strained copy does not")
  local u = metrics.uniqueness({a, b, false, c, d})
  T.eq(u.n, 4, "false left out")
  T.eq(u.n_unique, 2, "two distinct")
  T.near(u.uniqueness, 0.5, 1e-15, "uniqueness 1/2")
  T.truthy(u.conventions.match:match("StructureMatcher"), "rule stated")
  local nv = metrics.novelty({b, d}, {a})
  T.eq(nv.n_novel, 1, "only the strained one is novel")
  T.eq(nv.novel[1], false, "b is in the training set")
  T.near(nv.novelty, 0.5, 1e-15, "novelty 1/2")
end)

local function have_pymatgen()
  return os.execute("/usr/bin/python3 -c 'import pymatgen.core' 2>/dev/null") == true
end

if have_pymatgen() then
  -- pymatgen as an independent oracle: the smallest off-diagonal entry of
  -- Structure.distance_matrix on random, often skewed cells.
  T.test("closest-pair distances and validity agree with pymatgen", function()
    local core = require "crystens.cdvae_core"
    local tmp = T.tmpdir()
    local list = {}
    while #list < 60 do
      local n = math.random(2, 6)
      local sp, fr = {}, {}
      for k = 1, n do sp[k], fr[k] = math.random(1, 80), {math.random(), math.random(), math.random()} end
      local ok, s = pcall(ct.structure.new, {lattice = {math.random() * 5 + 1, math.random() * 5 + 1,
        math.random() * 5 + 1, math.random() * 100 + 40, math.random() * 100 + 40,
        math.random() * 100 + 40}, species = sp, frac = fr})
      if ok then list[#list + 1] = s end
    end
    local a = core.assess(list, nil, metrics.magpie_table())
    for i, s in ipairs(list) do T.write(("%s/%d.cif"):format(tmp, i), s:to_cif()) end
    local script = T.write(tmp .. "/oracle.py", [[
import sys, warnings
warnings.filterwarnings("ignore")
import numpy as np
from pymatgen.core import Structure
for i in range(1, int(sys.argv[2]) + 1):
    s = Structure.from_file("%s/%d.cif" % (sys.argv[1], i))
    print("%.9f" % (s.distance_matrix + np.eye(len(s)) * 1e9).min())
]])
    local p = io.popen(("/usr/bin/python3 %s %s %d"):format(script, tmp, #list))
    local worst, flips, n = 0, 0, 0
    for line in p:lines() do
      n = n + 1
      local d = tonumber(line)
      worst = math.max(worst, math.abs(d - a.min_distance[n]))
      if (d >= 0.5) ~= a.struct_valid[n] then flips = flips + 1 end
    end
    p:close()
    T.rmtree(tmp)
    T.eq(n, #list, "pymatgen answered for every structure")
    T.truthy(worst < 1e-5, ("largest difference %.2g Å (CIF rounding)"):format(worst))
    T.eq(flips, 0, "the same validity verdicts")
  end)
else
  T.skip("closest-pair distances against pymatgen", "python3-pymatgen not installed")
end

local top = os.getenv("top_srcdir") or "."
local csv = top .. "/../shared/data/mp_20_biternary/test.csv"
if io.open(csv) then
  T.test("mp_20_biternary test scored against itself", function()
    local t0 = os.time()
    local ds = ct.dataset.load(csv)
    -- Validity and distances on the whole split; coverage on its first 1500
    -- crystals against themselves (the O(N²) part), with the stand-in.
    local r = metrics.cdvae(ds, ds, {coverage = false, n_eval = 1000, seed = 42})
    T.eq(r.struct_valid, 1.0, "struct valid 100%")
    local formulas = {}
    for i = 1, #ds do formulas[i] = ds[i].species end
    T.near(r.comp_valid, metrics.smact_rate(formulas), 1e-15, "comp valid = SMACT rate")
    T.eq(r.n_sampled, 1000, "1000 sampled")
    T.truthy(r.w_density < 0.5 and r.w_nelem < 0.05, "W small")
    local valid = {}
    -- The valid crystals against themselves: both distances exactly 0.
    local core = require "crystens.cdvae_core"
    local a = core.assess(ds, metrics.smact_table(), metrics.magpie_table())
    for i = 1, #ds do
      if a.comp_valid[i] then valid[#valid + 1] = ds[i] end
    end
    local r0 = metrics.cdvae(valid, valid, {coverage = false, n_eval = 0})
    T.eq(r0.w_density, 0.0, "W(rho) of the valid set against itself")
    T.eq(r0.w_nelem, 0.0, "W(N_el) likewise")
    local sub = ct.dataset.load(csv, {limit = 1500})
    local rc = metrics.cdvae(sub, sub, {fingerprint = standin, n_eval = 0})
    T.eq(rc.cov_r, 1.0, "COV-R 100%")
    T.eq(rc.cov_p, 1.0, "COV-P 100%")
    -- and with the real CrystalNN fingerprint (crystens.fingerprint) on 400
    local small = ct.dataset.load(csv, {limit = 400})
    local rr = metrics.cdvae(small, small, {n_eval = 0})
    T.eq(rr.cov_r, 1.0, "COV-R 100% with CrystalNN")
    T.eq(rr.cov_p, 1.0, "COV-P 100% with CrystalNN")
    T.truthy(rr.conventions.coverage:find("CrystalNN", 1, true),
             "conventions name the fingerprint: " .. rr.conventions.coverage)
    local few = ct.dataset.load(csv, {limit = 60})
    local k = metrics.ks(few, few:structures())
    for _, q in ipairs {"a", "gamma", "spacegroup", "Z"} do
      T.eq(k[q].statistic, 0.0, "K-S of a dataset against its own structures: " .. q)
    end
    print(("# mp_20_biternary self-score: struct %.2f%%, comp %.2f%%, W(rho) %.4f, " ..
           "W(N_el) %.4f (n_eval 1000, seed 42); COV %.0f/%.0f%% on 1500 with the stand-in; %d s")
          :format(100 * r.struct_valid, 100 * r.comp_valid, r.w_density, r.w_nelem,
                  100 * rc.cov_r, 100 * rc.cov_p, os.time() - t0))
  end)
  -- CDVAE fitted CompScaler on MP-20's training split, so on an MP-20 test
  -- subset every standardised Magpie feature should have a mean near 0 and
  -- a spread near 1: a wrong property, statistic or order would stand out.
  T.test("scaled Magpie fingerprints of mp_20_biternary test are standardised", function()
    local ds = ct.dataset.load(csv)
    local core = require "crystens.cdvae_core"
    local a = core.assess(ds, nil, metrics.magpie_table())
    local sum, sq = {}, {}
    for k = 1, 132 do sum[k], sq[k] = 0, 0 end
    for i = 1, #ds do
      local f = a.comp_fp:get(i)
      for k = 1, 132 do sum[k], sq[k] = sum[k] + f[k], sq[k] + f[k] * f[k] end
    end
    local bad = {}
    for k = 1, 132 do
      local m = sum[k] / #ds
      local sd = math.sqrt(sq[k] / #ds - m * m)
      if math.abs(m) > 0.15 or sd < 0.4 or sd > 1.3 then
        bad[#bad + 1] = ("%d (mean %.2f, sd %.2f)"):format(k, m, sd)
      end
    end
    T.eq(table.concat(bad, ", "), "", "features off the scaler")
  end)
else
  T.skip("mp_20_biternary self-score", csv .. " is absent")
  T.skip("scaled Magpie fingerprints", csv .. " is absent")
end

T.done()
