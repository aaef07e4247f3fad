-- ct.metrics as Lua users see it: K-S, Wasserstein-1 and histograms on
-- arrays and tensors, SMACT validity on formulas and composition tables,
-- argument errors, and the compositional-validity rate of the
-- mp_20_biternary test split when the shared data is there.
local T = require "tap"
local ct = require "crystens"
local metrics = ct.metrics

local seed = T.seed()

T.test("ks on hand-worked samples", function()
  -- a = {1,2,2,3}, b = {2,2,4}: |F_a - F_b| is 1/4 at 1, 1/12 at 2, 1/3 at 3.
  local r = metrics.ks({2, 1, 3, 2}, {4, 2, 2})
  T.near(r.statistic, 1 / 3, 1e-15, "D")
  T.truthy(r.pvalue > 0 and r.pvalue <= 1, "p in (0, 1]")
  local same = metrics.ks({1, 2, 3}, {3, 2, 1})
  T.eq(same.statistic, 0.0, "D of equal samples")
  T.eq(same.pvalue, 1.0, "p of equal samples")
end)

T.test("wasserstein on hand-worked samples", function()
  -- |F_u - F_v| on the gaps of {0,1,3,5,6,8}: 1/3, 2/3, 1, 2/3, 1/3 times
  -- widths 1, 2, 2, 1, 2: 1/3 + 4/3 + 2 + 2/3 + 2/3 = 5.
  T.near(metrics.wasserstein({0, 1, 3}, {5, 6, 8}), 5, 1e-12, "W")
  T.near(metrics.wasserstein({3.4, 3.9, 7.5, 7.8}, {4.5, 1.4}), 2.7, 1e-12, "W unequal sizes")
end)

T.test("1-D tensors are samples too, and agree with arrays", function()
  local a, b = {}, {}
  for i = 1, 300 do a[i] = math.random() * 4 end
  for i = 1, 200 do b[i] = math.random() * 3 + 1 end
  -- Round through float32 so the array and the tensor hold the same values.
  local ta, tb = ct.tensor.from(a), ct.tensor.from(b)
  for i = 1, 300 do a[i] = ta:get(i) end
  for i = 1, 200 do b[i] = tb:get(i) end
  T.eq(metrics.ks(ta, tb).statistic, metrics.ks(a, b).statistic, "ks")
  T.near(metrics.wasserstein(ta, b), metrics.wasserstein(a, b), 1e-12, "wasserstein")
  -- With equal sizes W is the mean gap between the sorted samples.
  local c = {}
  for i = 1, 200 do c[i] = a[i] end
  local sc, sb = {table.unpack(c)}, {table.unpack(b)}
  table.sort(sc)
  table.sort(sb)
  local mean = 0
  for i = 1, 200 do mean = mean + math.abs(sc[i] - sb[i]) / 200 end
  T.near(metrics.wasserstein(c, b), mean, 1e-12, "W equals the mean sorted gap")
end)

T.test("bad samples raise errors naming the argument", function()
  T.raises(function() metrics.ks({1, 2}, {}) end, "sample 2 is empty")
  T.raises(function() metrics.ks({1, "x"}, {1}) end, "bad argument #1 to 'ks' (item 2 is a string")
  T.raises(function() metrics.wasserstein(1, {1}) end, "bad argument #1 to 'wasserstein'")
  T.raises(function() metrics.ks(ct.tensor.new(2, 2), {1}) end, "expected 1-D tensor, got 2-D 2x2")
  T.raises(function() metrics.wasserstein({0 / 0}, {1}) end, "sample 1 holds")
end)

-- scipy (Debian python3-scipy) as an independent oracle, when installed.
local has_scipy = os.execute("/usr/bin/python3 -c 'import scipy.stats' 2>/dev/null")
if has_scipy then
  T.test("ks statistic and wasserstein agree with scipy.stats", function()
    local dir = T.tmpdir()
    local f = assert(io.open(dir .. "/s.txt", "w"))
    local samples = {}
    for s = 1, 6 do
      local x = {}
      for i = 1, math.random(1, 300) do
        x[i] = s % 2 == 0 and math.floor(math.random() * 8) or math.random() * 5 + s / 3
      end
      samples[s] = x
      for _, v in ipairs(x) do f:write(string.format("%.17g ", v)) end
      f:write("\n")
    end
    f:close()
    local p = io.popen("/usr/bin/python3 -c 'import sys, scipy.stats as st\n" ..
      "rows = [[float(v) for v in l.split()] for l in open(sys.argv[1])]\n" ..
      "for a, b in zip(rows[0::2], rows[1::2]):\n" ..
      "    print(repr(st.ks_2samp(a, b).statistic), repr(st.wasserstein_distance(a, b)))' " ..
      dir .. "/s.txt")
    local pair = 1
    for line in p:lines() do
      local d, w = line:match("^(%S+) (%S+)$")
      local a, b = samples[2 * pair - 1], samples[2 * pair]
      T.near(metrics.ks(a, b).statistic, tonumber(d), 1e-12, "ks of pair " .. pair)
      T.near(metrics.wasserstein(a, b), tonumber(w), 1e-9 * (1 + tonumber(w)),
             "wasserstein of pair " .. pair)
      pair = pair + 1
    end
    p:close()
    T.eq(pair, 4, "scipy answered for the three pairs")
    T.rmtree(dir)
  end)
else
  T.skip("ks and wasserstein agree with scipy.stats", "/usr/bin/python3 has no scipy")
end

T.test("histograms share bins and count every value", function()
  local a, b = {0, 0.5, 1, 1.5, 2}, {1, 1, 4}
  local h = metrics.histograms({a, b}, {bins = 4})
  T.eq(#h.edges, 5, "edges")
  T.eq(h.edges[1], 0.0, "low edge is the smallest value")
  T.eq(h.edges[5], 4.0, "high edge is the largest value")
  -- edges 0, 1, 2, 3, 4: a -> {2, 2, 1, 0}, b -> {0, 2, 0, 1}
  T.eq(table.concat(h.counts[1], ","), "2,2,1,0", "counts of a")
  T.eq(table.concat(h.counts[2], ","), "0,2,0,1", "counts of b")
  local g = metrics.histograms({{1, 2, 2, 230}, {3}}, {integer = true})
  T.eq(#g.edges, 231, "one bin per integer from 1 to 230")
  T.eq(g.edges[1], 0.5, "bins centred on integers")
  T.eq(g.counts[1][2], 2, "two 2s")
  T.eq(g.counts[1][230], 1, "one 230")
end)

T.test("smact_valid on formulas, pairs and species lists", function()
  T.eq(metrics.smact_valid("NaCl"), true, "NaCl")
  local ok, why = metrics.smact_valid("NaCl2")
  T.eq(ok, false, "NaCl2")
  T.eq(why, "no neutral combination", "NaCl2 reason")
  T.eq(select(2, metrics.smact_valid("Fe3Al")), "alloy", "Fe3Al")
  T.eq(select(2, metrics.smact_valid("B3Si")), "electronegativity", "B3Si")
  T.eq(metrics.smact_valid({{11, 2}, {17, 2}}), true, "{{11,2},{17,2}}")
  T.eq(metrics.smact_valid({11, 17, 17}), false, "species list Na Cl Cl")
  T.eq(metrics.smact_valid({26}), true, "one element")
  local tab = metrics.smact_table()
  T.eq(table.concat(tab:states(4), " "), "1 2", "Be states")
  T.eq(tab:electroneg(8), 3.44, "chi(O)")
  T.eq(tab:electroneg(2), nil, "chi(He) is None")
  T.eq(metrics.symbol(26), "Fe", "symbol(26)")
  local f = metrics.parse_formula("Ga4 Te4")
  T.eq(f[2][1] * 100 + f[2][2], 5204, "parse_formula('Ga4 Te4')[2] = {52, 4}")
end)

T.test("smact_valid refuses bad compositions with argument errors", function()
  T.raises(function() metrics.smact_valid("NaXx") end, "unknown element 'Xx'")
  T.raises(function() metrics.smact_valid({{11, 0}}) end, "count 0")
  T.raises(function() metrics.smact_valid({{11, "a"}}) end, "item 1 is not a {Z, count} pair")
  T.raises(function() metrics.smact_valid({}) end, "empty composition")
  T.raises(function() metrics.smact_valid({200}) end, "atomic number 200 out of range")
  T.raises(function() metrics.smact_table("/nonexistent") end, "/nonexistent/oxidation_states.txt")
end)

-- The formula of every CIF in a CSV, from its _chemical_formula_sum line.
local function formulas_of(path)
  local list = {}
  for line in io.lines(path) do
    local f = line:match("^_chemical_formula_sum%s+'([^']*)'")
    if f then list[#list + 1] = f end
  end
  return list
end

local top = os.getenv("top_srcdir") or "."
local csv = top .. "/../shared/data/mp_20_biternary/test.csv"
if io.open(csv) then
  T.test("comp. validity of mp_20_biternary test lands in a sane range", function()
    local t0 = os.clock()
    local list = formulas_of(csv)
    T.eq(#list, 7118, "rows of the test split")
    local rate, reasons = metrics.smact_rate(list)
    local parts = {}
    for why, n in pairs(reasons) do parts[#parts + 1] = why .. " " .. n end
    table.sort(parts)
    print(string.format("# comp. validity of mp_20_biternary test: %.2f%% of %d (%s) in %.2f s",
                        100 * rate, #list, table.concat(parts, ", "), os.clock() - t0))
    T.truthy(rate > 0.70 and rate < 1.0, "rate in (70%, 100%)")
  end)
else
  T.skip("comp. validity of mp_20_biternary test", csv .. " is absent")
end

-- The Lua modules are assembled by require, not by side effect: with
-- crystens' Lua modules unloaded, crystens.paper loads without touching
-- crystens.metrics, and crystens.metrics alone is the whole ct.metrics.
T.test("crystens.metrics requires its parts; no module writes into another", function()
  local saved = {}
  for name, v in pairs(package.loaded) do
    if name:match("^crystens") and package.searchpath(name, package.path) then
      saved[name], package.loaded[name] = v, nil
    end
  end
  local ok, err = pcall(function()
    local paper = require "crystens.paper"
    T.eq(type(paper), "function", "crystens.paper is the measure")
    T.eq(package.loaded["crystens.metrics"], nil, "crystens.paper loaded no crystens.metrics")
    local m = require "crystens.metrics"
    T.truthy(m ~= metrics, "a fresh crystens.metrics")
    for name in pairs(metrics) do T.eq(type(m[name]), type(metrics[name]), "metrics." .. name) end
    T.eq(m.paper, paper, "metrics.paper is crystens.paper")
  end)
  for name in pairs(package.loaded) do
    if name:match("^crystens") and package.searchpath(name, package.path) then
      package.loaded[name] = nil
    end
  end
  for name, v in pairs(saved) do package.loaded[name] = v end
  assert(ok, err)
end)

T.done()
