-- s:symmetrized(symprec): a crystal made exactly symmetric in place under
-- the group spglib finds at symprec (ct_symmetry_symmetrize).  Known
-- crystals (rutile, rock salt in its conventional cell and in a skewed cell
-- spglib only searches after reducing it) shaken by a few hundredths of an
-- Å come back with their group at a tolerance far below the noise, the same
-- cell choice, atoms and order, each atom within the noise of where it
-- belongs; an exact crystal comes back unchanged; bad input errors.
local T = require "tap"
local ct = require "crystens"

local rng = ct.tensor.rng(T.seed())

-- rutile TiO2, P4_2/mnm (136)
local U = 0.305
local RUTILE = {lattice = {4.594, 4.594, 2.959, 90, 90, 90}, species = {22, 22, 8, 8, 8, 8},
                frac = {{0, 0, 0}, {.5, .5, .5}, {U, U, 0}, {1 - U, 1 - U, 0},
                        {.5 + U, .5 - U, .5}, {.5 - U, .5 + U, .5}}}
-- rock salt in its conventional cell, Fm-3m (225): centring translations
local NACL = {lattice = {5.64, 5.64, 5.64, 90, 90, 90}, species = {11, 11, 11, 11, 17, 17, 17, 17},
              frac = {{0, 0, 0}, {0, .5, .5}, {.5, 0, .5}, {.5, .5, 0},
                      {.5, 0, 0}, {0, .5, 0}, {0, 0, .5}, {.5, .5, .5}}}

local function mat3(m)   -- rows
  local d = m[1][1] * (m[2][2] * m[3][3] - m[2][3] * m[3][2]) - m[1][2] * (m[2][1] * m[3][3] - m[2][3] * m[3][1]) +
            m[1][3] * (m[2][1] * m[3][2] - m[2][2] * m[3][1])
  local inv = {}
  for i = 0, 2 do
    inv[i + 1] = {}
    for j = 0, 2 do
      local a, b, c, e = (j + 1) % 3 + 1, (j + 2) % 3 + 1, (i + 1) % 3 + 1, (i + 2) % 3 + 1
      inv[i + 1][j + 1] = (m[a][c] * m[b][e] - m[a][e] * m[b][c]) / d
    end
  end
  return inv
end

-- rock salt with the lattice vectors a, b, c + 4a + 4b: the same crystal
-- in a cell so flat (volume below 0.2·abc) that spglib searches its
-- Niggli-reduced copy, whose operations must come back to this basis
local function skewed_nacl()
  local a = 5.64
  local rows = {{a, 0, 0}, {0, a, 0}, {4 * a, 4 * a, a}}
  local inv = mat3(rows)
  local frac = {}
  for i, f in ipairs(NACL.frac) do
    local x = {f[1] * a, f[2] * a, f[3] * a}
    frac[i] = {}
    for k = 1, 3 do frac[i][k] = x[1] * inv[1][k] + x[2] * inv[2][k] + x[3] * inv[3][k] end
  end
  local c = math.sqrt(33) * a
  local alpha = math.deg(math.acos(4 * a * a / (a * c)))
  return {lattice = {a, a, c, alpha, alpha, 90}, species = NACL.species, frac = frac}
end

local KEYS = {"a", "b", "c", "alpha", "beta", "gamma"}
local function param(s, k) return s.lattice[KEYS[k]] end

-- the crystal with every atom moved by up to `shake` Å (a random direction)
-- and the cell lengths by up to 0.2 %: P1 at 0.01 Å
local function shaken(def, shake)
  local s = ct.structure.new(def)
  local inv = mat3(s.matrix)
  local frac = {}
  for i, f in ipairs(s.frac) do
    local d = {rng:normal(), rng:normal(), rng:normal()}
    local len = math.sqrt(d[1] ^ 2 + d[2] ^ 2 + d[3] ^ 2)
    local r = shake * rng:uniform() / len
    frac[i] = {}
    for k = 1, 3 do
      frac[i][k] = f[k] + r * (d[1] * inv[1][k] + d[2] * inv[2][k] + d[3] * inv[3][k])
    end
  end
  local l = {}
  for k = 1, 6 do l[k] = def.lattice[k] * (k <= 3 and 1 + 0.002 * (rng:uniform() - 0.5) or 1) end
  return ct.structure.new{lattice = l, species = def.species, frac = frac}
end

-- the largest distance of atom i of t from atom i of ref, over the
-- lattice translations, in the cell of m (default ref's)
local function largest_move(ref, t, m)
  m = m or ref.matrix
  local worst = 0
  for i = 1, ref.natoms do
    local d = {}
    for k = 1, 3 do
      d[k] = t.frac[i][k] - ref.frac[i][k]
      d[k] = d[k] - math.floor(d[k] + 0.5)
    end
    local x = {0, 0, 0}
    for j = 1, 3 do for k = 1, 3 do x[k] = x[k] + d[j] * m[j][k] end end
    worst = math.max(worst, math.sqrt(x[1] ^ 2 + x[2] ^ 2 + x[3] ^ 2))
  end
  return worst
end

for _, case in ipairs{{"rutile", RUTILE, 136}, {"rock salt", NACL, 225},
                      {"rock salt in a skewed cell", skewed_nacl(), 225}} do
  local name, def, group = case[1], case[2], case[3]
  T.test(name .. ": shaken by 0.05 Å, symmetrized at 0.2 Å, exact again", function()
    local exact = ct.structure.new(def)
    T.eq(exact:symmetry(1e-4).number, group, "the exact crystal's group")
    local s
    repeat s = shaken(def, 0.05) until s:symmetry(0.01).number < group
    local t, info = s:symmetrized(0.2)
    T.eq(info.number, group, "spglib's group at 0.2 Å")
    T.eq(t:symmetry(1e-4).number, group, "the result has it to 1e-4 Å")
    T.eq(t.natoms, s.natoms, "atom count")
    for i = 1, s.natoms do T.eq(t.species[i], s.species[i], "element of atom " .. i) end
    for k = 1, 6 do
      T.near(param(t, k), param(s, k), k <= 3 and 0.003 * param(s, k) or 0.2, "the same cell choice, parameter " .. k)
    end
    -- an atom moves from its shaken place to the mean of its orbit's: at
    -- most its own shake plus the mean of the others'
    T.truthy(info.move <= 2 * 0.05, "no atom moved more than twice the noise: " .. info.move)
    T.near(info.move, largest_move(s, t, t.matrix), 1e-9, "info.move is the largest move")
    -- its exact site, up to the mean noise of its orbit and the origin's
    -- shift (spglib places the operations' origin from the shaken atoms)
    T.truthy(largest_move(exact, t) <= 2 * 0.05, "every atom within the noise of its exact site: " ..
             largest_move(exact, t))
    T.truthy(info.length_change <= 0.003 * param(s, 3), "the cell lengths moved little: " .. info.length_change)
  end)

  T.test(name .. ": an exact crystal comes back unchanged", function()
    local s = ct.structure.new(def)
    local t, info = s:symmetrized(0.1)
    T.eq(info.number, group, "group")
    T.truthy(info.move < 1e-9 and info.length_change < 1e-9 and info.angle_change < 1e-9,
             "nothing moved: " .. info.move .. " Å, " .. info.length_change .. " Å, " .. info.angle_change .. "°")
    for k = 1, 6 do T.near(param(t, k), param(s, k), 1e-9, "parameter " .. k) end
    for i = 1, s.natoms do
      for k = 1, 3 do
        local d = t.frac[i][k] - s.frac[i][k]
        T.near(d - math.floor(d + 0.5), 0, 1e-9, ("atom %d coordinate %d"):format(i, k))
      end
    end
  end)
end

T.test("operations found in one state of a crystal imposed on another", function()
  local s1, s2
  repeat s1 = shaken(RUTILE, 0.05) until s1:symmetry(0.01).number < 136
  repeat s2 = shaken(RUTILE, 0.05) until s2:symmetry(0.01).number < 136
  local _, found = s1:symmetrized(0.2)
  T.eq(found.number, 136, "spglib's group in the first")
  T.eq(#found.ops.rotations, 9 * found.nops, "9 rotation entries per operation")
  T.eq(#found.ops.translations, 3 * found.nops, "3 translations per operation")
  local t, info = s2:symmetrized(found.ops)
  T.eq(t:symmetry(1e-4).number, 136, "the second made exactly symmetric under them")
  T.eq(info.number, nil, "no group named: none was searched")
  T.eq(info.nops, found.nops, "operations")
  T.truthy(info.move <= 2 * 0.05, "atoms moved within the noise: " .. info.move)
  local bad = {rotations = {}, translations = {0, 0, 0}}
  for k = 1, 9 do bad.rotations[k] = 0 end
  local none, why = s2:symmetrized(bad)
  T.truthy(none == nil and why:match("determinant 0"), "a singular rotation: nil and " .. tostring(why))
  T.raises(function() s2:symmetrized{rotations = {1, 0, 0}, translations = {0, 0, 0}} end,
           "9 rotation entries and 3 translations per operation expected")
  T.raises(function() s2:symmetrized{translations = {0, 0, 0}} end, "operations {rotations=, translations=} expected")
end)

T.test("a crystal whose group spglib finds only as P1 comes back as a copy", function()
  local s
  repeat s = shaken(RUTILE, 0.3) until s:symmetry(0.02).number == 1
  local t, info = s:symmetrized(0.02)
  T.eq(info.number, 1, "P1")
  T.eq(info.nops, 1, "one operation")
  T.truthy(info.move < 1e-12, "nothing moved")
  T.truthy(t ~= s and t.formula == s.formula, "a new structure, the same crystal")
end)

T.test("bad input", function()
  local s = ct.structure.new(RUTILE)
  T.raises(function() s:symmetrized(0) end, "symprec must be positive")
  T.raises(function() s:symmetrized(-1) end, "symprec must be positive")
  T.raises(function() s:symmetrized("x") end, "number expected")
  T.raises(function() s.symmetrized(42) end, "bad argument #1")
  -- two atoms 0.01 Å apart: spglib finds no group, an answer rather than an error
  local t, why = ct.structure.new{lattice = {5, 5, 5, 90, 90, 90}, species = {8, 8},
                                  frac = {{0, 0, 0}, {0.002, 0, 0}}}:symmetrized(0.1)
  T.truthy(t == nil and type(why) == "string" and why:match("spglib"), "nil and spglib's reason: " .. tostring(why))
end)

T.done()
