-- crystens.metrics_cdvae: the CDVAE benchmark protocol (validity, coverage,
-- Wasserstein distances; spec metrics.md section 4), K-S on structure lists,
-- symmetry, uniqueness and novelty; crystens.metrics gathers them into ct.metrics.
-- The C half is crystens.cdvae_core; what lives here is policy: thresholds
-- per data set, the seeded sample, which fingerprint to use, and the
-- `conventions` every result carries so a number can be read.
--
-- The CrystalNN structure fingerprint comes from the module
-- "crystens.fingerprint" (.structure(list) -> array of 61-number arrays)
-- when it is built in, or from opts.fingerprint = function(list) ... end.

local core = require "crystens.cdvae_core"
local core_metrics = require "crystens.metrics_core"
local smact = require "crystens.smact"
local config = require "crystens.config"
local doc = require "crystens.doc"
local options = require "crystens.options"

local X = {}

-- Published (struct, comp) coverage thresholds of CDVAE, by data set.
X.cov_cutoffs = {
  mp20 = {struct = 0.4, comp = 10},
  carbon = {struct = 0.2, comp = 4},
  perovskite = {struct = 0.2, comp = 4},
}
local ALIASES = {mp20 = "mp20", mp_20 = "mp20", ["mp-20"] = "mp20",
                 mp_20_biternary = "mp20", carbon = "carbon", carbon_24 = "carbon",
                 perovskite = "perovskite", perov = "perovskite", perov_5 = "perovskite"}

local KS_QUANTITIES = {"a", "b", "c", "alpha", "beta", "gamma", "spacegroup", "Z"}

local magpie_tables = {}

-- The Magpie tables of dir (default: the shipped ones), loaded once.
function X.magpie_table(dir)
  dir = dir or (config.datadir .. "/magpie")
  local tab = magpie_tables[dir]
  if not tab then
    tab = core.magpie_load(dir)
    magpie_tables[dir] = tab
  end
  return tab
end
doc[X.magpie_table] = "magpie_table([dir]) -> MagpieTable. matminer's 22 Magpie element " ..
  "tables and CDVAE's CompScaler, loaded once from dir (default: the magpie folder of " ..
  "ct.datadir). Method :features(zs, amounts, [scaled]) gives the 132-number vector."

-- An array of a list, with false where an item is missing; Datasets as is.
local function items(x, what, level)
  local kind = core.kind(x)
  if kind == "dataset" then return x end
  if kind == "structure" then return {x} end
  if type(x) ~= "table" then
    error(("bad argument (%s must be an array of structures or a dataset)"):format(what), level)
  end
  return x
end

-- The structures of x without holes (for the fingerprint and matching).
local function compact(x)
  if core.kind(x) == "dataset" then return x:structures() end
  local out = {}
  for i = 1, #x do
    if x[i] then out[#out + 1] = x[i] end
  end
  return out
end

local function count(flags)
  local n = 0
  for _, v in ipairs(flags) do
    if v then n = n + 1 end
  end
  return n
end

local function cutoffs_for(opts)
  local name = opts.dataset or "mp20"
  local key = ALIASES[name]
  local cut = opts.cutoffs or (key and X.cov_cutoffs[key])
  if not cut then
    error(("ct.metrics.cdvae: unknown dataset '%s' (mp20, carbon, perovskite; or give " ..
           "opts.cutoffs = {struct=, comp=})"):format(tostring(name)), 4)
  end
  return cut, key or name
end

-- The structure fingerprint function and its name, or nil when coverage is off.
local function fingerprint_fn(opts)
  if opts.coverage == false then return nil end
  if opts.fingerprint then return opts.fingerprint, opts.fingerprint_name or "opts.fingerprint" end
  local ok, fp = pcall(require, "crystens.fingerprint")
  if ok and type(fp) == "table" and fp.structure then
    return fp.structure, "CrystalNN site fingerprint, ops preset (crystens.fingerprint)"
  end
  error("ct.metrics.cdvae: coverage needs the CrystalNN structure fingerprint, but module " ..
        "crystens.fingerprint is not built in; pass opts.fingerprint = function(list) ... end " ..
        "(one array of numbers per structure) or opts.coverage = false", 4)
end

-- Structure fingerprints of the built items of x as a Fingerprints object.
local function structure_fps(fn, x, built)
  local list, where = {}, {}
  for i = 1, #built do
    if built[i] then
      list[#list + 1] = x[i]
      where[#list] = i
    end
  end
  local ok, fps = pcall(fn, list)
  if not ok then
    -- CDVAE catches a failing fingerprint per crystal (it then has none);
    -- find which ones fail by asking one at a time.
    fps = {}
    for k, s in ipairs(list) do
      local ok1, one = pcall(fn, {s})
      fps[k] = ok1 and type(one) == "table" and one[1] or false
    end
  end
  if type(fps) ~= "table" then error("ct.metrics.cdvae: the fingerprint function returned no array", 4) end
  local dim
  for _, f in pairs(fps) do
    if type(f) == "table" then dim = #f; break end
  end
  local full = {}
  for k, i in ipairs(where) do full[i] = fps[k] or false end
  return core.fingerprints(full, #built, dim or 0)
end

-- W1 of density and N_el: n_eval valid crystals drawn with seed against all refs.
local function distances(ga, ra, valid, n_eval, seed)
  local idx = {}
  for i, v in ipairs(valid) do
    if v then idx[#idx + 1] = i end
  end
  local k = (n_eval == 0 or n_eval > #idx) and #idx or n_eval
  local out = {n_sampled = k, n_valid = #idx}
  local rho_r, nel_r = {}, {}
  for i, b in ipairs(ra.built) do
    if b then
      rho_r[#rho_r + 1] = ra.density[i]
      nel_r[#nel_r + 1] = ra.nelem[i]
    end
  end
  if k == 0 or #rho_r == 0 then
    out.w_density, out.w_nelem = 0 / 0, 0 / 0
    return out
  end
  local rho, nel = {}, {}
  for j, p in ipairs(core.sample(#idx, k, seed)) do
    rho[j], nel[j] = ga.density[idx[p]], ga.nelem[idx[p]]
  end
  out.w_density = core_metrics.wasserstein(rho, rho_r)
  out.w_nelem = core_metrics.wasserstein(nel, nel_r)
  return out
end

-- {[k] = share of the built crystals with k elements}.
local function nelem_shares(a)
  local shares, n = {}, 0
  for i, b in ipairs(a.built) do
    if b then
      shares[a.nelem[i]] = (shares[a.nelem[i]] or 0) + 1
      n = n + 1
    end
  end
  for k, v in pairs(shares) do shares[k] = v / n end
  return shares
end

local CDVAE = {n_eval = "integer", seed = "integer", dataset = "string", cutoffs = "table",
               coverage = "boolean", fingerprint = "function", fingerprint_name = "string",
               datadir = "string"}

local function cdvae(gen, ref, opts)
  opts = options.check("ct.metrics.cdvae", opts, CDVAE, 3)
  local n_eval = math.tointeger(opts.n_eval or 1000)
  if not n_eval or n_eval < 0 then error("bad argument #3 to 'cdvae' (n_eval must be an integer >= 0)", 3) end
  local seed = math.tointeger(opts.seed or 42)
  if not seed then error("bad argument #3 to 'cdvae' (seed must be an integer)", 3) end
  gen, ref = items(gen, "generated", 4), items(ref, "reference", 4)
  local cut, dsname = cutoffs_for(opts)
  local fpfn, fpname = fingerprint_fn(opts)
  local mp = X.magpie_table(opts.datadir and opts.datadir .. "/magpie")
  local tab = smact.smact_table(opts.datadir and opts.datadir .. "/smact")
  local ga = core.assess(gen, tab, mp)
  local ra = core.assess(ref, nil, mp)
  local n = #ga.built
  if n == 0 then error("bad argument #1 to 'cdvae' (no generated crystals)", 3) end
  if count(ra.built) == 0 then error("bad argument #2 to 'cdvae' (no reference structures)", 3) end
  local gs, rs
  if fpfn then gs, rs = structure_fps(fpfn, gen, ga.built), structure_fps(fpfn, ref, ra.built) end
  local valid = {}
  for i = 1, n do
    valid[i] = ga.struct_valid[i] and ga.comp_valid[i] and ga.comp_fp:get(i) ~= nil
               and (not gs or gs:get(i) ~= nil)
  end
  local r = {n_generated = n, n_built = count(ga.built), n_reference = #ra.built,
             struct_valid = count(ga.struct_valid) / n, comp_valid = count(ga.comp_valid) / n,
             valid = count(valid) / n, n_eval = n_eval, seed = seed}
  -- a single element passes SMACT by its first rule, so comp_valid means
  -- little without the share of such crystals and the element counts
  local single = {}
  for i = 1, n do single[i] = ga.built[i] and ga.nelem[i] == 1 end
  r.single_element = count(single) / n
  r.nelem = {generated = nelem_shares(ga), reference = nelem_shares(ra)}
  local d = distances(ga, ra, valid, n_eval, seed)
  r.w_density, r.w_nelem, r.n_sampled, r.n_valid = d.w_density, d.w_nelem, d.n_sampled, d.n_valid
  if gs then
    local c = core.coverage(gs, ga.comp_fp, rs, ra.comp_fp, n, cut.struct, cut.comp)
    for k, v in pairs(c) do r[k] = v end
  end
  local sampling
  if n_eval == 0 then
    sampling = "every valid crystal (n_eval = 0)"
  elseif d.n_valid < n_eval then
    sampling = ("only %d valid crystals, all used (CDVAE's script would abort below %d)")
               :format(d.n_valid, n_eval)
  else
    sampling = ("%d of the %d valid crystals drawn uniformly without replacement, seed %d " ..
                "(xoshiro256**, not numpy's stream)"):format(n_eval, d.n_valid, seed)
  end
  r.conventions = {
    protocol = "CDVAE scripts/compute_metrics.py as described in metrics.md section 4",
    struct_valid = "constructed, all distinct-site minimum-image distances >= 0.5 Å and " ..
                   "volume >= 0.1 Å³; a false item is a crystal that could not be built",
    comp_valid = "SMACT 2.2 rules (one element, all metals, or a neutral Pauling-passing " ..
                 "combination of SMACT's default oxidation states)",
    single_element = "the share of all N that are built crystals of one element: they " ..
                     "pass comp_valid trivially (SMACT's first rule), whatever their structure",
    nelem = "generated and reference: the share of the built crystals with each number " ..
            "of elements (nelem.generated[1] is the single-element share among them)",
    valid = "struct_valid and comp_valid and fingerprints computable, over all N",
    sampling = sampling,
    wasserstein = "scipy.stats.wasserstein_distance of density (g/cm³) and number of " ..
                  "elements: the sample against every reference crystal",
    coverage = fpfn and ("COV-R/COV-P with thresholds struct %g, comp %g (%s); " ..
      "fingerprints of every constructed crystal (CDVAE's convention, not crystal-text-llm's " ..
      "valid-only), COV-P divided by all N; composition fingerprint Magpie (matminer 0.7.3, " ..
      "NaN kept) standardised with CDVAE's CompScaler, NaN -> 0; structure fingerprint %s, " ..
      "not scaled"):format(cut.struct, cut.comp, dsname, fpname)
      or "not computed (opts.coverage = false)",
    w_prop = "not computed (CDVAE's property GNN is not available in C)",
    dataset = dsname, cutoffs = {struct = cut.struct, comp = cut.comp},
    n_eval = n_eval, seed = seed,
  }
  return r
end

-- spglib results, remembered per Structure (read-only from Lua) or Dataset
-- and symprec, so ks and symmetry on the same lists run spglib once.
local sg_memo = setmetatable({}, {__mode = "k"})

-- detected, carried space groups of list (an array with false items, or a Dataset).
local function spacegroups_of(list, symprec)
  local key = ("%.17g"):format(symprec)
  if core.kind(list) == "dataset" then
    local m = sg_memo[list] or {}
    sg_memo[list] = m
    if not m[key] then m[key] = {core.detect(list, symprec)} end
    return m[key][1], m[key][2]
  end
  local todo, where = {}, {}
  local detected, carried = {}, {}
  for i = 1, #list do
    local s = list[i]
    local m = s and sg_memo[s]
    if m and m[key] then
      detected[i], carried[i] = m[key][1], m[key][2]
    elseif s then
      todo[#todo + 1], where[#todo + 1] = s, i
    else
      detected[i], carried[i] = 0, 0
    end
  end
  if #todo > 0 then
    local d, c = core.detect(todo, symprec)
    for k, i in ipairs(where) do
      detected[i], carried[i] = d[k], c[k]
      local m = sg_memo[todo[k]] or {}
      sg_memo[todo[k]] = m
      m[key] = {d[k], c[k]}
    end
  end
  return detected, carried
end

-- The K-S quantities of a structure list (Z pooled over every atom).
local function ks_quantities(list, symprec)
  local q = {}
  for _, k in ipairs(KS_QUANTITIES) do q[k] = {} end
  -- the crystal's symmetry, never the group a tensor stored (the atoms of a
  -- generated crystal rarely have it)
  q.spacegroup = spacegroups_of(list, symprec or 0.1)
  for i, s in ipairs(list) do
    local lat = s.lattice
    for _, k in ipairs {"a", "b", "c", "alpha", "beta", "gamma"} do q[k][i] = lat[k] end
    for _, z in ipairs(s.species) do q.Z[#q.Z + 1] = z end
  end
  return q
end

local function is_structures(x)
  if core.kind(x) then return true end
  if type(x) ~= "table" then return false end
  for i = 1, #x do
    if x[i] then return core.kind(x[i]) == "structure" end
  end
  return false
end

-- ks is the two-sample C function; the parameter's name is what its
-- argument errors name ("bad argument #1 to 'ks'"), so the call is not a tail call.
local function ks_lists(ks, a, b, opts)
  opts = options.check("ct.metrics.ks", opts, {symprec = "number"}, 3)
  if not (is_structures(a) or is_structures(b)) then
    local r = ks(a, b)
    return r
  end
  local ga, gr = items(a, "the first list", 4), items(b, "the second list", 4)
  if core.kind(ga) ~= "dataset" then ga = compact(ga) end
  if core.kind(gr) ~= "dataset" then gr = compact(gr) end
  if #ga == 0 or #gr == 0 then error("bad argument to 'ks' (no structures to compare)", 3) end
  local qa, qb = ks_quantities(ga, opts.symprec), ks_quantities(gr, opts.symprec)
  local r = {conventions = {
    quantities = "a, b, c (Å), alpha, beta, gamma (°) of each cell as given; spacegroup: " ..
                 "spglib's at symprec " .. (opts.symprec or 0.1) .. " Å (0 where it finds " ..
                 "none), not the group a tensor stored; Z: atomic numbers of every atom pooled",
    statistic = "two-sample K-S D as scipy's ks_2samp; pvalue asymptotic (Stephens)",
    n = {#ga, #gr}}}
  for _, k in ipairs(KS_QUANTITIES) do r[k] = ks(qa[k], qb[k]) end
  return r
end

function X.symmetry(list, opts)
  opts = options.check("ct.metrics.symmetry", opts, {symprec = "number"}, 2)
  local symprec = opts.symprec or 0.1
  list = items(list, "the list", 3)
  local detected, carried = spacegroups_of(list, symprec)
  local n, above, placed, n_carried, agree = 0, 0, 0, 0, 0
  for i = 1, #detected do
    if list[i] then
      n = n + 1
      local sg = detected[i]
      if sg > 0 then placed = placed + 1 end
      if sg > 1 then above = above + 1 end
      if carried[i] > 0 then
        n_carried = n_carried + 1
        if carried[i] == sg then agree = agree + 1 end
      end
    end
  end
  return {n = n, above_p1 = n > 0 and above / n or 0 / 0, placed = placed,
          n_carried = n_carried, agreement = n_carried > 0 and agree / n_carried or 0 / 0,
          detected = detected, carried = carried, symprec = symprec,
          conventions = {
            above_p1 = ("fraction of the structures whose spglib space group at symprec " ..
                        "%g Å is above P1 (not placed counts as P1)"):format(symprec),
            agreement = "fraction of the structures that carry a space group (decoded " ..
                        "from a tensor) whose detected group equals it; NaN when none carries one",
            n = "false items are left out"}}
end
doc[X.symmetry] = "symmetry(list, [{symprec=0.1}]) -> {above_p1, agreement, n, n_carried, " ..
  "placed, detected, carried, conventions}. The fraction of structures spglib places above " ..
  "P1, and how often the detected group agrees with the one a structure carries."

-- The matcher's conventions, stated with every uniqueness/novelty result.
local function match_conventions(o)
  o = o or {}
  return ("simplified StructureMatcher (src/ct_match.h): same element counts at the same " ..
          "N (no supercells, no primitive reduction); Niggli cells%s compared under the 48 " ..
          "signed axis permutations (mirror images match) with ltol %g, angle_tol %g°; " ..
          "sites after an origin shift within stol %g × (V/N)^(1/3)")
         :format(o.scale == false and "" or " scaled to equal volume", o.ltol or 0.2,
                 o.angle_tol or 5, o.stol or 0.3)
end

function X.uniqueness(list, opts)
  local l = compact(items(list, "the list", 3))
  if #l == 0 then error("bad argument #1 to 'uniqueness' (no structures)", 2) end
  local classes, nclass = core.unique(l, opts)
  return {uniqueness = nclass / #l, n = #l, n_unique = nclass, classes = classes,
          conventions = {match = match_conventions(opts),
                         uniqueness = "distinct groups / structures; false items left out"}}
end
doc[X.uniqueness] = "uniqueness(list, [{ltol=0.2, stol=0.3, angle_tol=5, scale=true}]) -> " ..
  "{uniqueness, n, n_unique, classes, conventions}. The fraction of distinct structures " ..
  "by the simplified StructureMatcher; classes[i] is the first structure i matches."

function X.novelty(gen, train, opts)
  local g = compact(items(gen, "generated", 3))
  local t = compact(items(train, "training", 3))
  if #g == 0 then error("bad argument #1 to 'novelty' (no structures)", 2) end
  local novel = core.novel(g, t, opts)
  return {novelty = count(novel) / #g, n = #g, n_novel = count(novel), novel = novel,
          n_train = #t,
          conventions = {match = match_conventions(opts),
                         novelty = "fraction of generated structures matching no training " ..
                                   "structure; false items left out"}}
end
doc[X.novelty] = "novelty(gen, train, [opts]) -> {novelty, n, n_novel, novel, conventions}. " ..
  "The fraction of generated structures that match none of the training set (simplified " ..
  "StructureMatcher; opts as uniqueness)."

X.match = core.match

X.cdvae = function(gen, ref, opts) return cdvae(gen, ref, opts) end
doc[X.cdvae] = "cdvae(gen, ref, [opts]) -> table. The CDVAE benchmark metrics of " ..
  "generated crystals gen (array of Structures, false for one that could not be built, " ..
  "or a dataset) against reference ones: struct_valid, comp_valid, valid (fractions of " ..
  "all N), single_element (the share of one-element crystals, which comp_valid passes " ..
  "trivially), nelem (the shares of each number of elements, generated and reference), w_density and w_nelem (Wasserstein-1 on opts.n_eval=1000 valid crystals " ..
  "drawn with opts.seed=42; 0 takes every valid one), cov_r, cov_p, amsd/amcd (thresholds " ..
  "of opts.dataset='mp20' | 'carbon' | 'perovskite', or opts.cutoffs={struct=, comp=}), " ..
  "and conventions, which says how each was computed. The structure fingerprint is " ..
  "crystens.fingerprint's or opts.fingerprint(list); opts.coverage=false skips coverage."

-- K-S: metrics_core's on samples of numbers, per quantity on structure lists.
X.ks = function(a, b, opts) return ks_lists(core_metrics.ks, a, b, opts) end
doc[X.ks] = (doc[core_metrics.ks] or "") .. " On two lists of structures (or datasets) it " ..
  "returns one {statistic, pvalue} per quantity: a, b, c, alpha, beta, gamma, spacegroup, Z " ..
  "(opts.symprec for spglib), and conventions."

return X
