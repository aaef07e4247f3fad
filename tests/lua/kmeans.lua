-- ct.kmeans as Lua users see it: the paper's example, fixed K against brute
-- force, seeded runs, automatic K on noisy data, periodic values, tensors,
-- and errors that name the argument.
local T = require "tap"
local ct = require "crystens"

local seed = tonumber(os.getenv("CT_TEST_SEED")) or 20240601
print("# seed " .. seed .. " (set CT_TEST_SEED to replay another)")
math.randomseed(seed)

local function gauss()
  return math.sqrt(-2 * math.log(1 - math.random())) * math.cos(2 * math.pi * math.random())
end

-- Least inertia of sorted values v[i..#v] in k contiguous groups.
local function brute(v, k, i)
  i = i or 1
  local function sse(a, b)
    local m, s = 0, 0
    for t = a, b do m = m + v[t] end
    m = m / (b - a + 1)
    for t = a, b do s = s + (v[t] - m) ^ 2 end
    return s
  end
  if k == 1 then return sse(i, #v) end
  local best = math.huge
  for cut = i, #v - k + 1 do
    best = math.min(best, sse(i, cut) + brute(v, k - 1, cut + 1))
  end
  return best
end

T.test("paper example: Z averages snap to (12,12,12,12,8,8,8,8)", function()
  local z = {12.2, 12.6, 12.4, 12.5, 7.7, 7.4, 8.4, 8.5}
  local r = ct.kmeans(z, {auto = true, integer = true})
  T.eq(r.k, 2, "K")
  T.eq(r.criterion, "separation", "criterion")
  local want = {12, 12, 12, 12, 8, 8, 8, 8}
  for i = 1, #z do
    T.eq(math.floor(r.centroids[r.labels[i]] + 0.5), want[i], "snapped Z " .. i)
  end
  T.truthy(r.scores[2] > r.sep and r.scores[4] < r.sep, "scores say why: K=2 passes, K=4 fails")
  T.eq(r.labels[1], 2, "clusters numbered by ascending centroid")
end)

T.test("fixed K matches brute force on small inputs", function()
  for trial = 1, 60 do
    local n = 1 + trial % 7
    local v = {}
    for i = 1, n do v[i] = math.random(0, 4) + (trial % 2) * math.random() end
    local s = {table.unpack(v)}
    table.sort(s)
    for k = 1, n do
      local r = ct.kmeans(v, k)
      T.eq(r.k, k, "k")
      T.eq(r.criterion, "fixed", "criterion")
      T.near(r.inertia, brute(s, k), 1e-9, ("inertia, trial %d, k %d"):format(trial, k))
      -- the labels and centroids agree with the inertia reported
      local w = 0
      for i = 1, n do w = w + (v[i] - r.centroids[r.labels[i]]) ^ 2 end
      T.near(w, r.inertia, 1e-9, "inertia from labels")
    end
  end
end)

T.test("seeded k-means++ runs are reproducible", function()
  local pts = {}
  for i = 1, 45 do
    local c = i % 3
    pts[i] = {c * 4 + 0.5 * gauss(), (c == 1 and 4 or 0) + 0.5 * gauss()}
  end
  local a = ct.kmeans(pts, {k = 3, seed = 7, restarts = 1})
  local b = ct.kmeans(pts, {k = 3, seed = 7, restarts = 1})
  for i = 1, #pts do T.eq(a.labels[i], b.labels[i], "label " .. i) end
  for j = 1, 3 do
    T.eq(a.centroids[j][1], b.centroids[j][1], "centroid x")
    T.eq(a.centroids[j][2], b.centroids[j][2], "centroid y")
  end
  for i = 1, #pts do   -- and it finds the blobs
    for j = 1, i - 1 do
      T.eq(a.labels[i] == a.labels[j], i % 3 == j % 3, "partition " .. i .. "," .. j)
    end
  end
end)

T.test("automatic K recovers the true K under noise (rates over many sets)", function()
  local function rate(z_like, sigma, trials)
    local good = 0
    for _ = 1, trials do
      local k = math.random(1, z_like and 4 or 6)
      local vals, x = {}, {}
      while #vals < k do
        local v = z_like and math.random(1, 60) or math.random()
        local clash = false
        for _, u in ipairs(vals) do
          local d = math.abs(u - v)
          if not z_like then d = math.min(d, 1 - d) end
          clash = clash or d < (z_like and 1 or 0.05)
        end
        if not clash then vals[#vals + 1] = v end
      end
      for _, v in ipairs(vals) do
        for _ = 1, math.random(1, 6) do
          local t = v + sigma * gauss()
          x[#x + 1] = z_like and t or t % 1
        end
      end
      local r = z_like and ct.kmeans(x, {integer = true})
        or ct.kmeans(x, {periodic = true, noise = math.max(sigma, 1e-6)})
      if r.k == k then good = good + 1 end
    end
    return good / trials
  end
  for _, s in ipairs{0, 0.05, 0.1} do
    local r = rate(true, s, 150)
    print(("# Z-like values spaced >= 1, sigma %.2f, integer=true: %.3f"):format(s, r))
    T.truthy(r >= 0.97, ("rate %.3f at sigma %.2f"):format(r, s))
  end
  for _, s in ipairs{0, 0.005, 0.01} do
    local r = rate(false, s, 150)
    print(("# coordinates spaced >= 0.05, sigma %.3f, periodic, noise=sigma: %.3f"):format(s, r))
    T.truthy(r >= (s <= 0.005 and 0.95 or 0.85), ("rate %.3f at sigma %.3f"):format(r, s))
  end
end)

T.test("exact coordinates: automatic K = number of distinct values", function()
  local x = {}
  for _, v in ipairs{0, 0.25, 0.5, 0.25, 0, 0.5, 0.75, 0.75, 0} do x[#x + 1] = v end
  T.eq(ct.kmeans(x).k, 4, "K of 0, 0.25, 0.5, 0.75")
  T.eq(ct.kmeans(x, {periodic = true}).k, 4, "periodic K")
  T.eq(ct.kmeans({3, 3, 3}).k, 1, "one value")
end)

T.test("periodic mode clusters 0.99 with 0.01", function()
  local r = ct.kmeans({0.99, 0.01, 0.5, 0.52}, {k = 2, periodic = true})
  T.eq(r.labels[1], r.labels[2], "0.99 and 0.01 together")
  T.truthy(r.labels[1] ~= r.labels[3], "0.5 apart")
  local c = r.centroids[r.labels[1]]
  T.near(math.min(c, 1 - c), 0, 1e-12, "centroid on the wrap")
  T.near(r.inertia, 2 * 0.01 ^ 2 + 2 * 0.01 ^ 2, 1e-12, "circular inertia")
  local lin = ct.kmeans({0.99, 0.01, 0.5, 0.52}, 2)
  T.truthy(lin.labels[1] ~= lin.labels[2], "without periodic they are far apart")
end)

T.test("tensors: 1-D values and 2-D points", function()
  local r = ct.kmeans(ct.tensor.from{1, 1.1, 5, 5.2, 9}, 3)
  T.eq(r.k, 3, "k")
  T.near(r.centroids[1], 1.05, 1e-6, "first centroid")
  local p = ct.kmeans(ct.tensor.from{{0, 0}, {0, 0.1}, {5, 5}, {5, 5.1}}, 2)
  T.eq(p.labels[1], p.labels[2], "2-D labels")
  T.near(p.centroids[2][2], 5.05, 1e-6, "2-D centroid")
  T.raises(function() ct.kmeans(ct.tensor.new(2, 2, 2), 2) end,
           "bad argument #1 to 'kmeans' (expected 1-D or 2-D tensor")
end)

T.test("errors name the argument", function()
  T.raises(function() ct.kmeans({1, 2, 3}, 0) end, "bad argument #2 to 'kmeans' (k must be at least 1")
  T.raises(function() ct.kmeans({1, 2, 3}, 4) end, "bad argument #2 to 'kmeans' (k = 4 exceeds")
  T.raises(function() ct.kmeans({1, 0 / 0, 3}, 2) end, "bad argument #1 to 'kmeans' (value 2 is NaN)")
  T.raises(function() ct.kmeans({}, 1) end, "bad argument #1 to 'kmeans' (empty input)")
  T.raises(function() ct.kmeans({1, "x"}, 1) end, "bad argument #1 to 'kmeans' (value 2 is not a number)")
  T.raises(function() ct.kmeans({{1, 2}, {3}}, 1) end, "point 2 is not an array of 2 numbers")
  T.raises(function() ct.kmeans({1, 2}, {sed = 3}) end,
           "bad option 'sed' to 'ct.kmeans' (unknown option; did you mean 'seed'?)")
  T.raises(function() ct.kmeans({1, 2}, {k = 1, auto = true}) end, "not both")
  T.raises(function() ct.kmeans({{1, 2}}, {periodic = true}) end, "periodic needs 1-D values")
  T.raises(function() ct.kmeans({1, 2}, {k = 1.5}) end,
           "bad option 'k' to 'ct.kmeans' (number has no integer representation)")
  T.raises(function() ct.kmeans.cluster({}, 1) end, "bad argument #1 to 'cluster' (empty input)")
end)

T.test("help documents the criterion", function()
  local doc = require "crystens.doc"
  T.truthy(doc[ct.kmeans.cluster]:find("separation", 1, true), "function doc")
  T.truthy(doc[ct.kmeans]:find("callable", 1, true), "module doc")
end)

T.done()
