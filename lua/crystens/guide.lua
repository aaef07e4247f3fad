-- crystens.guide: symmetry-guided sampling for the consistent diffusion
-- models, model:sample(n, {symmetry = {from = 0.6, tol = {3, 0.2}}}).
--
-- Why: a diffusion model places each atom with an error of a few tenths of
-- an Å, so its crystals are P1 at spglib's 0.1 Å even where the arrangement
-- it meant is symmetric (share/models/MODEL.md).  Making them symmetric
-- after sampling (ct.crystens.snap) moves atoms by up to its tolerance and
-- leaves the network no say.  Here, during the last part of sampling (from
-- timestep from·T down), the clean tensor the network predicts (after the
-- consistency projection) is read back as a crystal, made exactly symmetric
-- in place under the group spglib finds in it at the step's tolerance
-- (s:symmetrized: the same cell choice, atoms and order, each atom moved to
-- the mean of its images, the metric averaged), and written back into its
-- slots; the sampler then steps towards that symmetric prediction with the
-- network's own noise estimate, so the network keeps denoising around a
-- symmetric arrangement and can still adapt the cell and the other atoms.
-- A group found at one step is kept at the later ones: where the step's
-- tighter tolerance loses it, the tolerance that found it is tried again,
-- and failing that its operations are imposed (s:symmetrized(ops)) if no
-- atom moves further than the step's tolerance.
-- The tolerance loosens early and tightens towards the end: a pair
-- {first, last} is interpolated geometrically over the guided steps, a
-- number is used at every step.  The defaults, from 0.6·T at 3 Å down to
-- 0.2 Å, are what worked best of those measured on diffusion-atoms64
-- (share/models/MODEL.md): a loose tolerance is harmless while the
-- network can still rearrange the atoms, and by the last steps the
-- network's own prediction is symmetric to a few thousandths of an Å.
--
-- What is written back: each atom's coordinates (wrapped into [0, 1), as
-- the training crystals' are, so the scaler's clamp keeps them), the six
-- cell parameters and the space-group row, set to the group found;
-- species and atom counts stay the network's.  The projection then derives
-- the difference layers and distances, as for any prediction.
local crystens = require "crystens.crystens"
local structure = require "crystens.structure"
local tensor = require "crystens.tensor"
local options = require "crystens.options"

local M = {}

-- Per-slot header rows as crystens.slot_features returns them (1-based):
-- Z, x, y, z, a, b, c, α, β, γ, space group, padding / periodic column.
local ROW_Z, ROW_X, ROW_A, ROW_SG, HEADER = 1, 2, 5, 11, 12
local CELL = {"a", "b", "c", "alpha", "beta", "gamma"}
local MAX_Z = 103   -- CT_MAX_Z: the elements a structure may hold

local RETRIES = 4   -- tolerances tried between a step's and a kept group's

local SPEC = {from = "number", tol = "number|table", min_distance = "number"}

-- Check the symmetry option of fname (its argument argn); return the
-- settings {from = fraction of T, first = Å, last = Å, min_distance = Å},
-- with the tables a sampling run fills: report (per tensor, M.step says
-- what) and kept (per tensor, the tolerance, operation count and
-- operations of the last group written).  Raises at the
-- caller of the function that calls it.
function M.settings(fname, sym, argn)
  if type(sym) ~= "table" then
    error(("bad option 'symmetry' to '%s' (table {from=, tol=} expected, got %s)"):format(fname, type(sym)), 3)
  end
  local name = fname .. " symmetry"
  options.check(name, sym, SPEC, argn)
  local from, tol = sym.from or 0.6, sym.tol or {3, 0.2}
  if not (from > 0 and from <= 1) then
    error(("bad option 'from' to '%s' (a fraction of the timesteps in (0, 1] expected)"):format(name), 3)
  end
  if type(tol) == "number" then tol = {tol, tol} end
  if #tol ~= 2 or type(tol[1]) ~= "number" or type(tol[2]) ~= "number" or
     not (tol[1] > 0 and tol[2] > 0 and tol[1] <= 10 and tol[2] <= 10) then
    error(("bad option 'tol' to '%s' (a tolerance in Å, or a pair {first, last}, each in (0, 10] expected)")
          :format(name), 3)
  end
  local mind = sym.min_distance or 0.5
  if not (mind >= 0) then
    error(("bad option 'min_distance' to '%s' (a distance ≥ 0 in Å expected)"):format(name), 3)
  end
  return {from = from, first = tol[1], last = tol[2], min_distance = mind, report = {}, kept = {}}
end

-- The tolerance at each step of ts (descending timesteps of a schedule of T)
-- that is guided: a table step index -> Å.
function M.tolerances(settings, ts, T)
  local steps = {}
  for i, t in ipairs(ts) do if t <= settings.from * T then steps[#steps + 1] = i end end
  local out, m = {}, #steps
  for k, i in ipairs(steps) do
    local f = m > 1 and (k - 1) / (m - 1) or 1
    out[i] = settings.first * (settings.last / settings.first) ^ f
  end
  return out
end

-- The crystal in the per-slot header values f (feature rows × slots × 1)
-- of a tensor with k atoms, or nil where its values make none (a cell
-- that does not close, a coordinate that is not finite).
local function crystal(f, k)
  local lattice, species, frac = {}, {}, {}
  for c = 1, 6 do lattice[c] = f[ROW_A + c - 1][1][1] end
  for j = 1, k do
    local z = math.floor(f[ROW_Z][j][1] + 0.5)
    species[j] = z ~= z and 1 or math.min(MAX_Z, math.max(1, z))
    frac[j] = {f[ROW_X][j][1], f[ROW_X + 1][j][1], f[ROW_X + 2][j][1]}
  end
  local ok, s = pcall(structure.new, {lattice = lattice, species = species, frac = frac})
  return ok and s or nil
end

-- s made symmetric in place at tol, or nil where spglib finds no group or
-- the symmetric crystal has two atoms closer than mind Å that were not
-- already that close (a loose tolerance can pull distinct atoms onto one
-- special position).
local function symmetrized(s, tol, mind)
  local t, info = s:symmetrized(tol)
  if not t then return nil end
  if info.number > 1 and t.natoms > 1 then
    local d = t:closest_pair()
    if d < mind and d < s:closest_pair() - 1e-6 then return nil end
  end
  return t, info
end

-- s made symmetric under the operations of a group kept from an earlier
-- step (kept.ops, in the same cell), or nil where they do not map its atoms
-- one to one, move an atom further than the step's tolerance tol, or pull
-- atoms together; the group is named as spglib finds it in the result.
local function imposed(s, kept, tol, mind)
  if not kept.ops then return nil end
  local t, info = s:symmetrized(kept.ops)
  if not t or info.move > tol then return nil end
  if t.natoms > 1 then
    local d = t:closest_pair()
    if d < mind and d < s:closest_pair() - 1e-6 then return nil end
  end
  local g = t:symmetry(1e-3)
  if not g or g.number < 2 then return nil end
  info.number, info.symbol = g.number, g.symbol
  return t, info
end

-- One guided step: x0, the projected clean tensors (network units, N×4×S×S,
-- on any device) with atom counts natoms, each made symmetric at tol where
-- spglib finds a group above P1 in it.  sym: the settings (M.settings),
-- with sym.report[first - 1 + i] receiving tensor i's outcome {number,
-- symbol, nops (the group written and its operations; nil: none), tol,
-- move (the largest atom move, Å)}.  Returns the new x0 on x0's device
-- (x0 itself, changed, when that is the host).
function M.step(sc, x0, natoms, tol, sym, first)
  local host = x0:to("cpu")
  local feat = crystens.slot_features(sc:unscale(host)):totable()
  local changed, report, mind = {}, sym.report, sym.min_distance
  for i, f in ipairs(feat) do
    local k = natoms[i]
    local s = k >= 1 and crystal(f, k)
    local t, info, used = nil, nil, tol
    if s then
      t, info = symmetrized(s, tol, mind)
      -- a group found at an earlier step is kept: where the step's
      -- tolerance finds fewer operations (or none, or only a symmetrization
      -- that pulls atoms together), the tolerance that found it is tried
      -- again, and failing that its operations are imposed
      local before = sym.kept[first + i - 1]
      if before and (not info or info.nops < before.nops) then
        if before.tol > tol then
          local t2, info2 = symmetrized(s, before.tol, mind)
          if t2 and info2.nops > (info and info.nops or 0) then t, info, used = t2, info2, before.tol end
        end
        if not info or info.nops < before.nops then
          local t3, info3 = imposed(s, before, tol, mind)
          if t3 then t, info, used = t3, info3, tol end
        end
      end
    end
    report[first + i - 1] = {number = info and info.number, symbol = info and info.symbol, tol = used,
                             move = info and info.move, nops = info and info.nops}
    if t and info.number > 1 then
      sym.kept[first + i - 1] = {tol = used, nops = info.nops, ops = info.ops}
      local tf, tl = t.frac, t.lattice
      for j = 1, k do
        for c = 0, 2 do f[ROW_X + c][j][1] = tf[j][c + 1] end
        for c = 1, 6 do f[ROW_A + c - 1][j][1] = tl[CELL[c]] end
        f[ROW_SG][j][1] = info.number
      end
      changed[#changed + 1] = i
    end
  end
  if #changed == 0 then return x0 end
  -- the changed tensors rebuilt from their header rows: the projection
  -- derives the difference layers and distances, as encoding would
  local head, counts = {}, {}
  for c, i in ipairs(changed) do
    head[c] = table.move(feat[i], 1, HEADER, 1, {})
    counts[c] = natoms[i]
  end
  local y = sc:project(sc:scale(crystens.slot_scatter(tensor.from(head))), {natoms = counts, clamp = true})
  for c, i in ipairs(changed) do host:narrow(i, 1):copy(y:narrow(c, 1)) end
  return host:to(x0:device())
end

return M
