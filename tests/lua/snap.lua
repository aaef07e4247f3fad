-- ct.crystens.snap: a rock-salt cell with its atoms displaced by up to
-- 0.14 Å (P1 at spglib's 0.1 Å) is put onto a symmetric cell at the
-- smallest tolerance that finds a group, which then holds at 0.1 Å with the
-- composition kept; what cannot be snapped within max comes back unchanged.
local T = require "tap"
local ct = require "crystens"

local rng = ct.tensor.rng(T.seed())
local SITES = {{0, 0, 0}, {0, .5, .5}, {.5, 0, .5}, {.5, .5, 0}, {.5, 0, 0}, {0, .5, 0}, {0, 0, .5}, {.5, .5, .5}}
local function rocksalt(shake)
  local frac = {}
  for i, f in ipairs(SITES) do
    frac[i] = {}
    for k = 1, 3 do frac[i][k] = f[k] + (rng:uniform() - 0.5) * shake end
  end
  return ct.structure.new{lattice = {a = 5.64, b = 5.64, c = 5.64, alpha = 90, beta = 90, gamma = 90},
                          species = {11, 11, 11, 11, 17, 17, 17, 17}, frac = frac}
end

local function ratio(s)
  local na = 0
  for _, z in ipairs(s.species) do if z == 11 then na = na + 1 end end
  return na / s.natoms
end

T.test("a shaken crystal is snapped at the smallest tolerance that finds a group", function()
  local s
  repeat s = rocksalt(0.05) until s:symmetry(0.1).number == 1
  local t, info = ct.crystens.snap(s, {max = 0.5})
  T.truthy(info.snapped, "snapped")
  T.truthy(info.tol > 0.1 and info.tol <= 0.5, "at a tolerance above 0.1 Å and within max: " .. info.tol)
  T.truthy(info.number > 1, "a group above P1: " .. info.number)
  T.eq(t:symmetry(0.1).number, info.number, "which spglib finds at 0.1 Å in the result")
  T.eq(s:symmetry(info.tol).number, info.number, "the group spglib found at that tolerance")
  -- no smaller tolerance of the ladder found one
  for _, tol in ipairs{0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5} do
    if tol < info.tol then T.eq(s:symmetry(tol).number, 1, "P1 at " .. tol .. " Å") end
  end
  T.eq(ratio(t), 0.5, "Na:Cl stays 1:1")
  T.truthy(t:closest_pair() >= 0.5, "no atoms collide")
  local same, again = ct.crystens.snap(t)
  T.truthy(same == t and not again.snapped and again.tol == 0.1, "a symmetric crystal comes back as it is")
end)

T.test("inplace: the same cell and atoms made exactly symmetric", function()
  local s
  repeat s = rocksalt(0.05) until s:symmetry(0.1).number == 1 and s:symmetry(0.5).number > 1
  local t, info = ct.crystens.snap(s, {max = 0.5, inplace = true})
  T.truthy(info.snapped and info.number > 1, "snapped to a group above P1: " .. tostring(info.number))
  T.eq(t:symmetry(0.1).number, info.number, "which spglib finds at 0.1 Å in the result")
  T.eq(t:symmetry(1e-4).number, info.number, "exactly")
  T.eq(t.natoms, s.natoms, "the same atoms")
  for i = 1, s.natoms do T.eq(t.species[i], s.species[i], "species of atom " .. i) end
  T.near(t:volume(), s:volume(), 0.01 * s:volume(), "the same cell")
  local _, moved = s:symmetrized(info.tol)
  T.near(info.move, moved.move, 1e-12, "info.move: the largest move of s:symmetrized at that tolerance")
  -- each coordinate was shaken by up to 0.025 of 5.64 Å: an atom by up to
  -- 0.244 Å, and its orbit's mean by as much again
  T.truthy(info.move > 0 and info.move <= 2 * 0.025 * 5.64 * math.sqrt(3), "atoms moved by at most twice the shake: " .. info.move)
  local _, refined = ct.crystens.snap(s, {max = 0.5})
  T.eq(refined.move, nil, "the refined cell reports no move")
end)

T.test("nothing within max: the crystal comes back unchanged", function()
  local s
  repeat s = rocksalt(0.3) until s:symmetry(0.1).number == 1 and s:symmetry(0.1 + 1e-9).number == 1
  local t, info = ct.crystens.snap(s, {max = 0.1})
  T.truthy(t == s and not info.snapped and info.tol == nil, "unchanged, no tolerance")
end)

T.test("bad arguments", function()
  local s = rocksalt(0)
  T.raises(function() ct.crystens.snap(42) end, "a structure expected")
  T.raises(function() ct.crystens.snap(s, {max = 0.05}) end, "bad option 'max'")
  T.raises(function() ct.crystens.snap(s, {maxx = 1}) end, "bad option 'maxx' to 'ct.crystens.snap' (unknown option; did you mean 'max'?)")
  T.raises(function() ct.crystens.snap(s, {min_distance = -1}) end, "bad option 'min_distance'")
  T.raises(function() ct.crystens.snap(s, {inplace = "yes"}) end,
           "bad option 'inplace' to 'ct.crystens.snap' (boolean expected, got string)")
end)

T.done()
