-- ct.crystens.decode of generated tensors (reconstruction): exact tensors
-- back to their crystals, noisy ones through the networks' scaler, the
-- diagnostics against ct.metrics.paper, failures with reasons, symmetry,
-- ct.cif.write into a folder or one file, option errors.
local T = require "tap"
local ct = require "crystens"

local srcdir = os.getenv("top_srcdir") or "."
local sample = srcdir .. "/share/sample/mpts_52_val_sample.csv"
local tmp = T.tmpdir()

local ds = ct.dataset.load(sample, {limit = 60})
local exact = ct.crystens.encode(ds)
local n = #ds

-- Largest coordinate difference on the circle (atoms in order) and largest
-- relative lattice difference; nil and a reason if the atoms differ.
local function compare(a, b)
  if a.natoms ~= b.natoms then return nil, "atoms " .. a.natoms .. " vs " .. b.natoms end
  local dc, dl = 0, 0
  for i = 1, a.natoms do
    if a.species[i] ~= b.species[i] then return nil, "species of atom " .. i end
    for k = 1, 3 do
      local d = math.abs(a.frac[i][k] - b.frac[i][k]) % 1
      dc = math.max(dc, math.min(d, 1 - d))
    end
  end
  for _, k in ipairs {"a", "b", "c", "alpha", "beta", "gamma"} do
    dl = math.max(dl, math.abs(a.lattice[k] / b.lattice[k] - 1))
  end
  return dc, dl
end

local function distinct(list)
  local seen, k = {}, 0
  for _, v in ipairs(list) do
    if not seen[v] then seen[v], k = true, k + 1 end
  end
  return k
end

T.test("exact tensors reconstruct to the prepared crystals, K found", function()
  local back, diags, failures = ct.crystens.decode(exact)
  T.eq(#back, n, "one result per tensor")
  T.eq(#failures, 0, "no failures")
  local matches = 0
  for i = 1, n do
    local want = ct.crystens.prepare(ds[i])
    local dc, dl = compare(back[i], want)
    T.truthy(dc and dc < 1e-5 and dl < 1e-6, "tensor " .. i .. ": " .. tostring(dl))
    T.eq(diags[i].k_species, distinct(want.species), "K of species, tensor " .. i)
    T.eq(diags[i].natoms, want.natoms, "atoms")
    T.eq(diags[i].occupancy_margin, 1, "every slot clear")
    T.eq(back[i].spacegroup_stored, want.spacegroup, "carried group")
    if diags[i].spacegroup_match then matches = matches + 1 end
  end
  print(("# spglib on the result agrees with the carried group for %d of %d"):format(matches, n))
  T.eq(matches, n, "spglib finds the carried group again on exact tensors")
end)

T.test("S = 32 tensors reconstruct too", function()
  local small = {}
  for i = 1, n do if ds[i].natoms <= 20 then small[#small + 1] = ds[i] end end
  local back, _, failures = ct.crystens.decode((ct.crystens.encode(small, {size = 32})))
  T.eq(#failures, 0, "no failures")
  for i = 1, #small do
    local dc = compare(back[i], ct.crystens.prepare(small[i]))
    T.truthy(dc and dc < 1e-5, "crystal " .. i)
  end
end)

T.test("single tensors: structure and diag; exact=true is still the exact inverse", function()
  local s, d = ct.crystens.decode(exact[1])
  T.eq(getmetatable(s) ~= nil and s.natoms, ds[1].natoms, "a structure")
  for _, k in ipairs {"z", "coord", "length", "angle", "sg"} do
    T.truthy(d.spread[k] < 1e-4, "spread." .. k .. " ~ 0 on an exact tensor")
  end
  T.truthy(d.vote_spread < 1e-6 and d.coord_delta < 1e-6 and d.snap_max < 1e-5, "vote agrees")
  local e, ed = ct.crystens.decode(exact[1], {exact = true})
  T.truthy(ed.header_spread ~= nil and compare(e, s) < 1e-5, "exact decode reachable")
end)

-- The networks' view: scaled, noise of sigma in scaled units, unscaled.
local sc = ct.crystens.scaler(exact)
local function noisy(sigma, seed)
  local z = sc:scale(exact)
  return sc:unscale(z + ct.tensor.randn(z:shape(), ct.tensor.rng(seed)) * sigma)
end

T.test("noisy tensors: diag spreads are the paper's Table 1/2 measures", function()
  local t = noisy(0.01, 5)
  local back, diags = ct.crystens.decode(t, {symmetry = false})
  local list = {}
  for i = 1, n do list[i] = back[i] or nil end
  local m = ct.metrics.paper(t, {structures = back})
  local worst = 0
  for i = 1, n do
    local r, d = m.rows[i], diags[i]
    if back[i] then
      worst = math.max(worst, math.abs(d.spread.length ^ 2 / r.var_lengths - 1),
                       math.abs(d.spread.angle ^ 2 / r.var_angles - 1),
                       math.abs(d.spread.sg ^ 2 / r.var_sg - 1),
                       math.abs(d.pdm_delta / r.pdm_diff - 1))
    end
  end
  T.truthy(worst < 1e-3, "spread² = var_*, pdm_delta = pdm_diff (worst relative " .. worst .. ")")
end)

T.test("noisy tensors: automatic K beats the paper's fixed K", function()
  local t = noisy(0.005, 9)
  local auto = ct.crystens.decode(t, {symmetry = false})
  local fixed, fd = ct.crystens.decode(t, {symmetry = false, k_species = 3, k_coords = 6})
  local na, nf = 0, 0
  for i = 1, n do
    local want = ct.crystens.prepare(ds[i])
    local a = auto[i] and compare(auto[i], want)
    local f = fixed[i] and compare(fixed[i], want)
    if a and a < 0.01 then na = na + 1 end
    if f and f < 0.01 then nf = nf + 1 end
    if fixed[i] then
      T.truthy(fd[i].k_species <= 3 and fd[i].k_coords <= 6, "fixed K used")
    end
  end
  print(("# sigma 0.005 (scaled): same species and positions within 0.01: auto %d, fixed %d of %d")
        :format(na, nf, n))
  local plain, pd = ct.crystens.decode(t, {symmetry = false, vote = "plain"})
  local differ = 0
  for i = 1, n do
    if plain[i] and auto[i] and compare(plain[i], auto[i]) > 0 then differ = differ + 1 end
  end
  T.truthy(differ > 0 and pd[1].vote_spread > 0, "vote='plain' is the unweighted mean")
  T.truthy(na >= 0.9 * n and na > nf, "auto K " .. na .. " > fixed K " .. nf)
end)

T.test("degenerate tensors give nil and a reason; strict raises", function()
  local z = ct.tensor.new(4, 64, 64)
  local s, why, d = ct.crystens.decode(z)
  T.eq(s, nil, "nil")
  T.truthy(why:find("no atoms"), why)
  T.eq(d.reason, why, "diag.reason")
  T.raises(function() ct.crystens.decode(z, {strict = true}) end, "no atoms")
  local nan = ct.tensor.new(4, 64, 64)
  nan:fill(0 / 0)
  s, why = ct.crystens.decode(nan)
  T.truthy(s == nil and why:find("NaN at layer 1, row 1, column 1"), why)
  local huge = ct.tensor.new(4, 64, 64)
  huge:fill(1e30)
  s, why = ct.crystens.decode(huge)
  T.truthy(s == nil and why:find("outside 1%-230"), why)
  local bad = exact[2]:clone()
  for l = 1, 4 do
    for j = 1, ds[2].natoms do
      for r = 8, 10 do bad:set(120, l, r, 12 + j); bad:set(120, l, 12 + j, r) end
    end
  end
  s, why = ct.crystens.decode(bad)
  T.truthy(s == nil and why:find("volume"), why)
end)

T.test("a batch returns false and a reason for each failure", function()
  local t = exact:narrow(1, 3):clone()
  for l = 1, 4 do for r = 1, 64 do for c = 1, 64 do t:set(0, 2, l, r, c) end end end
  local back, diags, failures = ct.crystens.decode(t)
  T.eq(back[2], false, "failed sample is false")
  T.truthy(back[1] and back[3], "the others reconstructed")
  T.eq(#failures, 1, "one failure")
  T.eq(failures[1].item, 2, "its index")
  T.truthy(failures[1].reason:find("no atoms") and diags[2].reason == failures[1].reason,
           failures[1].reason)
  T.raises(function() ct.crystens.decode(t, {strict = true}) end, "tensor 2: no atoms")
end)

T.test("symmetrize returns spglib's refined cell of the detected group", function()
  local s, d = ct.crystens.decode(exact[1], {symmetrize = true})
  T.eq(s.spacegroup, d.spacegroup_detected, "the refined cell's group")
  T.eq(s:symmetry().number, d.spacegroup_detected, "spglib agrees on it")
end)

T.test("cif.write: a folder of files or one multi-block file, failures skipped", function()
  local back = ct.crystens.decode(exact:narrow(1, 4))
  back[3] = false
  T.eq(ct.cif.write(back, tmp .. "/cifs/"), 3, "three files")
  T.truthy(T.exists(tmp .. "/cifs/0001.cif") and T.exists(tmp .. "/cifs/0004.cif") and
           not T.exists(tmp .. "/cifs/0003.cif"), "numbered by place in the batch")
  local again = ct.cif.read(tmp .. "/cifs/0004.cif")[1]
  T.truthy(compare(again, back[4]) < 1e-5, "reads back")
  T.eq(ct.cif.write(back, tmp .. "/all.cif"), 3, "three blocks")
  T.eq(#ct.cif.read(tmp .. "/all.cif"), 3, "read back")
  T.eq(ct.cif.write({back[1]}, tmp .. "/cifs", {symmetrize = true}), 1, "existing folder")
end)

T.test("bad options name themselves", function()
  T.raises(function() ct.crystens.decode(exact, {k_species = -1}) end, "k_species")
  T.raises(function() ct.crystens.decode(exact, {k_coords = 1.5}) end, "k_coords")
  T.raises(function() ct.crystens.decode(exact, {occupancy = 2}) end, "occupancy")
  T.raises(function() ct.crystens.decode(exact, {sep = 0}) end, "sep")
  T.raises(function() ct.crystens.decode(exact, {distance = "miles"}) end, "distance")
  T.raises(function() ct.crystens.decode(exact, {vote = "loud"}) end,
           "bad option 'vote' to 'ct.crystens.decode' (invalid value 'loud'; expected 'weighted' or 'plain')")
  T.raises(function() ct.crystens.decode(exact, {vote = "plian"}) end, "did you mean 'plain'?")
  -- the report encode returns second is no options table for decode
  T.raises(function() ct.crystens.decode(ct.crystens.encode(ct.crystens.decode(exact)[1])) end,
           "bad option 'spacegroup_mismatch' to 'ct.crystens.decode' (unknown option")
  T.raises(function() ct.crystens.decode(exact, 5) end, "bad argument #2")
  T.raises(function() ct.crystens.decode(ct.tensor.new(4, 8, 8)) end, "expected 4×S×S")
  T.raises(function() ct.cif.write({5}, tmp .. "/x.cif") end, "item 1 is a number, not a Structure or false")
  T.raises(function() ct.cif.write({false}, tmp .. "/x.cif") end, "no structures")
end)

T.done()
