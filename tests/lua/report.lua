-- ct.report: the figures it compares checked against direct computations
-- (K-S by brute force, Wasserstein-1 by integration of the CDF difference),
-- the files it writes parsed back, and its errors.
local T = require "tap"
local ct = require "crystens"

local srcdir = os.getenv("top_srcdir") or "."
local ref = ct.dataset.load(srcdir .. "/share/sample/mpts_52_val_sample.csv", {progress = false})
local tmp = T.tmpdir()

-- The empirical CDF of xs at t, counted.
local function cdf(xs, t)
  local n = 0
  for _, x in ipairs(xs) do if x <= t then n = n + 1 end end
  return n / #xs
end

-- sup |F_a - F_b| over every sample point, the definition itself.
local function ks_brute(a, b)
  local d = 0
  for _, xs in ipairs {a, b} do
    for _, t in ipairs(xs) do d = math.max(d, math.abs(cdf(a, t) - cdf(b, t))) end
  end
  return d
end

-- ∫ |F_a - F_b| dt, summed over the intervals between sorted sample points.
local function w1_brute(a, b)
  local pts = {}
  for _, xs in ipairs {a, b} do for _, x in ipairs(xs) do pts[#pts + 1] = x end end
  table.sort(pts)
  local w = 0
  for i = 1, #pts - 1 do w = w + math.abs(cdf(a, pts[i]) - cdf(b, pts[i])) * (pts[i + 1] - pts[i]) end
  return w
end

-- The first n structures of the sample with every lattice length scaled.
local function stretched(n, f)
  local out = {}
  for i = 1, n do
    local s = ref[i]
    local lat = s.lattice
    out[i] = ct.structure.new{lattice = {a = lat.a * f, b = lat.b * f, c = lat.c * f,
                                         alpha = lat.alpha, beta = lat.beta, gamma = lat.gamma},
                              species = s.species, frac = s.frac}
  end
  return out
end

T.test("the sample against itself: every K-S and W1 is 0, every file is written", function()
  local r = ct.report(ref, ref, {out = tmp .. "/self", quiet = true, cdvae = false})
  T.eq(r.n_generated, #ref, "generated count")
  for _, row in ipairs(r.rows) do T.eq(row.ks, 0, "K-S of " .. row.key) end
  T.eq(r.w1.density, 0, "W1 density")
  T.eq(r.w1.nelem, 0, "W1 nelem")
  T.truthy(T.exists(r.files.index), "index.html")
  T.eq(#r.files.figures, #ct.report.QUANTITIES, "one figure per quantity")
  for _, f in ipairs(r.files.figures) do T.truthy(T.exists(f.path), f.path) end
end)

T.test("stretched lattices: K-S and W1 equal brute-force values", function()
  local gen = stretched(60, 1.15)
  local r = ct.report(gen, ref, {out = tmp .. "/stretch", quiet = true, cdvae = false})
  local gq, rq = ct.report.quantities(gen), ct.report.quantities(ref)
  for _, k in ipairs {"a", "b", "c", "alpha", "spacegroup", "Z", "density", "nelem"} do
    T.near(r.ks[k], ks_brute(gq[k], rq[k]), 1e-12, "K-S of " .. k)
  end
  T.near(r.w1.density, w1_brute(gq.density, rq.density), 1e-9, "W1 density")
  T.truthy(r.ks.a > 0.2, "a clearly differs: " .. r.ks.a)
  local lo = 0
  for i = 1, 60 do lo = lo + gen[i]:density() end
  T.near(r.rows[9].mean_gen, lo / 60, 1e-12, "mean generated density")
end)

T.test("quantities: spglib's group and the elements of each structure", function()
  local q = ct.report.quantities({ref[1], ref[2], ref[3]})
  for i = 1, 3 do
    T.eq(q.spacegroup[i], ref[i].spacegroup, "space group " .. i)
    local seen, n = {}, 0
    for _, z in ipairs(ref[i].species) do if not seen[z] then seen[z], n = true, n + 1 end end
    T.eq(q.nelem[i], n, "elements " .. i)
  end
  T.eq(#q.Z, ref[1].natoms + ref[2].natoms + ref[3].natoms, "Z over every atom")
end)

T.test("holes in the generated list (failed reconstructions) are skipped", function()
  local r = ct.report({[1] = ref[1], [3] = ref[3], [7] = ref[7]}, ref,
                      {out = tmp .. "/holes", quiet = true, cdvae = false})
  T.eq(r.n_generated, 3)
  -- as decode returns them: false in place of a failed sample
  local r2 = ct.report({ref[1], false, ref[3]}, ref, {out = tmp .. "/false", quiet = true,
                                                    cdvae = false})
  T.eq(r2.n_generated, 2, "false entries are skipped")
end)

local function parses()
  local dir = tmp .. "/self"
  T.truthy(os.execute("xmllint --html --noout '" .. dir .. "/index.html' 2>/dev/null"), "index.html")
  T.truthy(os.execute("xmllint --noout '" .. dir .. "/a.svg'"), "a.svg is XML")
  local page = T.slurp(dir .. "/index.html")
  for _, q in ipairs(ct.report.QUANTITIES) do
    T.truthy(page:find('src="' .. q.key .. '.svg"', 1, true), "the page shows " .. q.key)
  end
end
if os.execute("command -v xmllint >/dev/null 2>&1") then
  T.test("the page and the figures parse as HTML and XML", parses)
else
  T.skip("the page and the figures parse as HTML and XML", "xmllint not installed")
end

T.test("bad arguments name themselves", function()
  T.raises(function() ct.report({}, ref, {quiet = true}) end, "no generated structures")
  T.raises(function() ct.report(ref, {}, {quiet = true}) end, "no reference structures")
  T.raises(function() ct.report(42, ref, {quiet = true}) end, "generated must be a list")
  T.raises(function() ct.report(ref, ref, {out = "/proc/nope/report", quiet = true}) end,
           "cannot create folder")
end)

T.done()
