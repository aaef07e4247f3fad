-- Symmetry-guided sampling (crystens.guide, model:sample's symmetry
-- option): one guided step makes the crystals of predicted tensors exactly
-- symmetric in place, keeping their atoms, order and species; the
-- tolerance schedule; a guided sample whose report names a group holds it;
-- bad options.
local T = require "tap"
local ct = require "crystens"
local guide = require "crystens.guide"

local rng = ct.tensor.rng(T.seed())
local S = 32

-- rutile TiO2, P4_2/mnm (136), with every coordinate moved by up to
-- shake/2 (fractional) and the cell by up to 0.2 %
local U = 0.305
local function rutile(shake)
  local frac = {{0, 0, 0}, {.5, .5, .5}, {U, U, 0}, {1 - U, 1 - U, 0}, {.5 + U, .5 - U, .5}, {.5 - U, .5 + U, .5}}
  for _, f in ipairs(frac) do
    for k = 1, 3 do f[k] = f[k] + (rng:uniform() - 0.5) * shake end
  end
  local l = {4.594, 4.594, 2.959, 90, 90, 90}
  for k = 1, 3 do l[k] = l[k] * (1 + 0.002 * (rng:uniform() - 0.5)) end
  return ct.structure.new{lattice = l, species = {22, 22, 8, 8, 8, 8}, frac = frac}
end

local ENC = {size = S, species = "periodic"}

-- a crystal with coordinates at both ends of [0, 1), so that a scaler fitted
-- with it clamps no coordinate of a wrapped crystal (the scaler keeps values
-- in the range it was fitted on, as a model's does, fitted on thousands)
local SPAN = ct.structure.new{lattice = {4.594, 4.594, 2.959, 90, 90, 90}, species = {22, 8},
                              frac = {{0, 0, 0}, {0.99999, 0.99999, 0.99999}}}

T.test("a guided step makes the predicted crystals symmetric in place", function()
  local shaken = {}
  while #shaken < 2 do
    local s = rutile(0.02)
    if s:symmetry(0.01).number < 136 then shaken[#shaken + 1] = s end
  end
  local raw = ct.crystens.encode(shaken, ENC)
  local sc = ct.crystens.scaler(ct.crystens.encode({rutile(0), shaken[1], shaken[2], rutile(0.03), SPAN}, ENC))
  local natoms = {6, 6}
  local x0 = sc:project(sc:scale(raw), {natoms = natoms, clamp = true})
  local report = {}
  local y = guide.step(sc, x0:clone(), natoms, 0.3, {report = report, kept = {}, min_distance = 0.5}, 5)
  T.eq(report[4], nil, "the report starts at the chunk's first index")
  local dec = {exact = true, size = S, reduce = false, order = "file", species = "periodic"}
  for i = 1, 2 do
    local r = report[4 + i]
    T.eq(r.number, 136, "tensor " .. i .. ": the group found")
    T.eq(r.tol, 0.3, "at the step's tolerance")
    T.truthy(r.move > 0 and r.move < 0.15, "atoms moved a little: " .. r.move)
    local before = ct.crystens.decode(sc:unscale(x0:narrow(i, 1)):reshape{4, S, S}, dec)
    local after, d = ct.crystens.decode(sc:unscale(y:narrow(i, 1)):reshape{4, S, S}, dec)
    T.truthy(d.graph_error < 1e-4 and d.distance_error < 1e-3,
             "the rebuilt tensor is consistent: " .. d.graph_error .. ", " .. d.distance_error)
    T.eq(after:symmetry(1e-3).number, 136, "its crystal is exactly symmetric")
    T.eq(after.spacegroup_stored, 136, "its space-group row holds the group")
    T.eq(after.natoms, 6, "atoms")
    for j = 1, 6 do
      T.eq(after.species[j], before.species[j], "species of atom " .. j)
      local worst = 0
      for k = 1, 3 do
        local dd = after.frac[j][k] - before.frac[j][k]
        worst = math.max(worst, math.abs(dd - math.floor(dd + 0.5)))
      end
      T.truthy(worst < 0.03, ("atom %d stays in its slot, near where it was: %g"):format(j, worst))
    end
  end
  -- a tolerance that finds nothing above P1 leaves the tensors as they were
  local report2 = {}
  local z = guide.step(sc, x0:clone(), natoms, 1e-4, {report = report2, kept = {}, min_distance = 0.5}, 1)
  T.eq(report2[1].number, 1, "P1 at 1e-4 Å")
  T.near((z - x0):abs():stats().max, 0, 0, "unchanged")
end)

T.test("a symmetrization that pulls atoms together is not used", function()
  -- Cl 0.37 Å from Na: at 1 Å spglib finds Pm-3m, whose mean puts both on
  -- the origin
  local s = ct.structure.new{lattice = {5, 5, 5, 90, 90, 90}, species = {11, 17, 8},
                             frac = {{0, 0, 0}, {0.06, 0.04, 0.02}, {0.5, 0.5, 0.5}}}
  local t = s:symmetrized(1.0)
  T.truthy(t:closest_pair() < 1e-6, "s:symmetrized puts Na and Cl together")
  local raw = ct.crystens.encode(s, {size = S, species = "periodic", reduce = false}):reshape{1, 4, S, S}
  local sc = ct.crystens.scaler(raw)
  local x0 = sc:project(sc:scale(raw), {natoms = {3}, clamp = true})
  local report = {}
  local y = guide.step(sc, x0:clone(), {3}, 1.0, {report = report, kept = {}, min_distance = 0.5}, 1)
  T.eq(report[1].number, nil, "no group written")
  T.near((y - x0):abs():stats().max, 0, 0, "the tensor unchanged")
  guide.step(sc, x0:clone(), {3}, 1.0, {report = report, kept = {}, min_distance = 0}, 1)
  T.truthy(report[1].number > 1, "with min_distance 0 it is used: " .. tostring(report[1].number))
end)

T.test("a kept group is imposed where the step's tolerance no longer finds it", function()
  local _, exact = rutile(0):symmetrized(0.1)
  local s, moved
  repeat
    s = rutile(0.03)
    moved = select(2, s:symmetrized(exact.ops))
  until s:symmetry(0.08).number ~= 136 and moved.move <= 0.08
  local enc = {size = S, species = "periodic", reduce = false, order = "file"}
  local raw = ct.crystens.encode({s}, enc)
  local sc = ct.crystens.scaler(ct.crystens.encode({s, rutile(0), rutile(0.03), SPAN}, enc))
  local x0 = sc:project(sc:scale(raw), {natoms = {6}, clamp = true})
  local fresh = {report = {}, kept = {}, min_distance = 0.5}
  guide.step(sc, x0:clone(), {6}, 0.08, fresh, 1)
  T.truthy(fresh.report[1].number ~= 136, "without a kept group: " .. tostring(fresh.report[1].number))
  local sym = {report = {}, kept = {{tol = 0.08, nops = exact.nops, ops = exact.ops}}, min_distance = 0.5}
  local y = guide.step(sc, x0:clone(), {6}, 0.08, sym, 1)
  T.eq(sym.report[1].number, 136, "the kept group, imposed")
  T.eq(sym.report[1].nops, exact.nops, "its operations")
  T.truthy(sym.report[1].move <= 0.08, "no atom moved further than the tolerance")
  local back = ct.crystens.decode(sc:unscale(y):reshape{4, S, S}, {exact = true, size = S, reduce = false,
                                                                  order = "file", species = "periodic"})
  T.eq(back:symmetry(1e-3).number, 136, "the tensor's crystal has it")
end)

T.test("the tolerance schedule", function()
  local ts = {}
  for i = 50, 1, -1 do ts[#ts + 1] = math.floor((i - 1) * 1000 / 50 + 0.5) end
  local tols = guide.tolerances({from = 0.3, first = 2, last = 0.1}, ts, 1000)
  local steps = {}
  for i in pairs(tols) do steps[#steps + 1] = i end
  table.sort(steps)
  T.eq(#steps, 16, "the steps at t ≤ 300 of 50 over 1000: t = 300, 280, ..., 0")
  T.eq(ts[steps[1]], 300, "the first guided step")
  T.eq(steps[#steps], 50, "the last step is guided")
  T.near(tols[steps[1]], 2, 1e-12, "first tolerance")
  T.near(tols[steps[#steps]], 0.1, 1e-12, "last tolerance")
  for k = 2, #steps do
    T.near(tols[steps[k]] / tols[steps[k - 1]], (0.1 / 2) ^ (1 / 15), 1e-9, "geometric, step " .. k)
  end
  local fixed = guide.tolerances({from = 0.3, first = 0.5, last = 0.5}, ts, 1000)
  T.eq(fixed[50], 0.5, "a fixed tolerance")
end)

T.test("guided sampling: every group the report names holds in the sample", function()
  local m = ct.models.pretrained("diffusion-atoms32")
  local x, report = m:sample(4, {steps = 8, seed = 3, natoms = 4, symmetry = {from = 0.5, tol = {3, 1}}})
  T.eq(x:size(1), 4, "samples")
  local plain, none = m:sample(4, {steps = 8, seed = 3, natoms = 4})
  T.eq(none, nil, "no report without the option")
  T.truthy((plain - x):abs():stats().max > 0, "the guidance changed the samples")
  local feat = ct.crystens.slot_features(x):totable()
  local found = 0
  for i = 1, 4 do
    local r = report[i]
    T.eq(r.tol, 1, "the last step's tolerance")
    if r.number and r.number > 1 then
      found = found + 1
      local f, frac, sp = feat[i], {}, {}
      for j = 1, 4 do
        frac[j] = {f[2][j][1], f[3][j][1], f[4][j][1]}
        sp[j] = math.floor(f[1][j][1] + 0.5)
      end
      local s = ct.structure.new{lattice = {f[5][1][1], f[6][1][1], f[7][1][1], f[8][1][1], f[9][1][1], f[10][1][1]},
                                 species = sp, frac = frac}
      T.eq(s:symmetry(1e-3).number, r.number, "sample " .. i .. " has the group its last step found")
    end
  end
  T.truthy(found >= 1, "a group above P1 in " .. found .. " of 4 four-atom samples at 1 Å")
end)

T.test("the cascade guides its second stage and reports per tensor", function()
  local c = ct.models.cascade{size = S, low_preset = "tiny", base = 8, depth = 1}
  c:fit_scaler(ct.crystens.encode({rutile(0), rutile(0.02)}, ENC))
  local x, report = c:sample(3, {steps = 2, natoms = 6, batch = 2, symmetry = {from = 1, tol = 0.5}})
  T.eq(x:size(1), 3, "samples")
  T.eq(#report, 3, "one report per tensor, over the chunks")
  for i = 1, 3 do T.eq(report[i].tol, 0.5, "tensor " .. i .. ": the last step's tolerance") end
  local _, none = c:sample(1, {steps = 2, natoms = 6})
  T.eq(none, nil, "no report without the option")
end)

T.test("bad options", function()
  local m = ct.models.pretrained("diffusion-atoms32")
  T.raises(function() m:sample(1, {steps = 2, symmetry = 0.3}) end,
           "bad option 'symmetry' to 'model:sample' (table expected, got number)")
  T.raises(function() m:sample(1, {steps = 2, symmetry = {form = 0.3}}) end,
           "bad option 'form' to 'model:sample symmetry' (unknown option; did you mean 'from'?)")
  T.raises(function() m:sample(1, {steps = 2, symmetry = {from = 0}}) end, "bad option 'from'")
  T.raises(function() m:sample(1, {steps = 2, symmetry = {from = 1.5}}) end, "bad option 'from'")
  T.raises(function() m:sample(1, {steps = 2, symmetry = {tol = -1}}) end, "bad option 'tol'")
  T.raises(function() m:sample(1, {steps = 2, symmetry = {tol = {1}}}) end, "bad option 'tol'")
  T.raises(function() m:sample(1, {steps = 2, symmetry = {tol = "loose"}}) end,
           "bad option 'tol' to 'model:sample symmetry' (number or table expected, got string)")
  local plain = ct.models.diffusion{preset = "tiny", size = 16, consistent = false}
  local nacl = ct.structure.new{lattice = {5.64, 5.64, 5.64, 90, 90, 90}, species = {11, 17},
                                frac = {{0, 0, 0}, {.5, .5, .5}}}
  plain:fit_scaler(ct.crystens.encode(nacl, {size = 16}):reshape{1, 4, 16, 16})
  T.raises(function() plain:sample(1, {steps = 2, symmetry = {}}) end, "needs a consistent model")
end)

T.done()
