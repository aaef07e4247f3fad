-- crystens.snap: put a generated crystal that is nearly symmetric onto the
-- symmetric structure it is near, as ct.crystens.snap(s, [opts]).
--
--   local t, info = ct.crystens.snap(s, {max = 0.5})
--   -- info.tol: the tolerance (Å) at which spglib found the group, nil when
--   -- none up to max did; info.number / info.symbol: the group of t;
--   -- info.move (with inplace = true): the largest move of an atom (Å)
--
-- Why: a diffusion model places each atom with an error of a few tenths of
-- an Å, so its crystals are P1 at spglib's 0.1 Å even where the arrangement
-- it meant is symmetric (share/models/MODEL.md).  The step asks spglib for
-- the space group at tolerances loosening from 0.1 Å up to opts.max, and at
-- the first that finds a group above P1 replaces the crystal by spglib's
-- refined cell of that group (every atom moved onto its site, the lattice
-- made to the group's metric), the smallest move that makes the symmetry
-- exact.  The result is kept only when it is what a crystallographer would
-- accept as the same crystal made exact: spglib finds the same group in it
-- at 0.1 Å, its composition (the element ratios) is the input's, and no two
-- atoms are closer than opts.min_distance; otherwise the next tolerance is
-- tried, and when none passes the crystal comes back unchanged.  The refined
-- cell is the conventional one, so a centred group's crystal comes back with
-- more atoms (the same crystal, a larger cell).  opts.inplace makes it
-- symmetric in place instead (s:symmetrized: the same cell, atoms and
-- order, each atom moved to the mean of its images under the group), which
-- moves atoms less than the refined cell does (its idealised sites) and
-- keeps the cell the crystal was generated in.
local doc = require "crystens.doc"
local options = require "crystens.options"

local LADDER = {0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0, 1.2, 1.5}

-- Each element's share of the atoms, to compare compositions across cells
-- of different sizes.
local function shares(s)
  local counts, n = {}, 0
  for _, z in ipairs(s.species) do counts[z] = (counts[z] or 0) + 1; n = n + 1 end
  for z, c in pairs(counts) do counts[z] = c / n end
  return counts
end

local function same_composition(a, b)
  local sa, sb = shares(a), shares(b)
  for z, f in pairs(sa) do if math.abs((sb[z] or 0) - f) > 1e-9 then return false end end
  for z in pairs(sb) do if not sa[z] then return false end end
  return true
end

local function check_opts(opts)
  local max, mind = opts.max or 0.5, opts.min_distance or 0.5
  if type(max) ~= "number" or not (max >= 0.1) then
    error("bad option 'max' to 'snap' (a tolerance of at least 0.1 Å expected)", 3)
  end
  if type(mind) ~= "number" or not (mind >= 0) then
    error("bad option 'min_distance' to 'snap' (a distance ≥ 0 in Å expected)", 3)
  end
  return max, mind
end

local function snap(s, opts)
  if type(s) ~= "userdata" or not s.species then
    error("bad argument #1 to 'snap' (a structure expected)", 2)
  end
  opts = options.check("ct.crystens.snap", opts, {max = "number", min_distance = "number", inplace = "boolean"}, 2)
  local max, mind = check_opts(opts)
  local at0 = s:symmetry(0.1)
  if at0 and at0.number > 1 then
    return s, {tol = 0.1, number = at0.number, symbol = at0.symbol, snapped = false}
  end
  for _, tol in ipairs(LADDER) do
    if tol > max + 1e-12 then break end
    local sym = s:symmetry(tol)
    if sym and sym.number > 1 then
      local ok, r, moved
      if opts.inplace then
        r, moved = s:symmetrized(tol)
        ok = r ~= nil
      else
        ok, r = pcall(s.refined, s, tol)
      end
      local back = ok and r:symmetry(0.1)
      if back and back.number == sym.number and same_composition(s, r)
         and (r.natoms < 2 or (r:closest_pair() or math.huge) >= mind) then
        return r, {tol = tol, number = back.number, symbol = back.symbol, snapped = true,
                   move = opts.inplace and moved.move or nil}
      end
    end
  end
  return s, {number = at0 and at0.number or nil, snapped = false}
end

doc[snap] = "ct.crystens.snap(s, [{max=0.5, min_distance=0.5, inplace=false}]) -> structure, " ..
  "info. A nearly symmetric crystal made exactly symmetric: spglib is asked for the space " ..
  "group at tolerances from 0.1 Å up to max (0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, ... Å), and " ..
  "at the first that finds a group above P1 the crystal is replaced by spglib's refined " ..
  "(conventional) cell, or with inplace=true made symmetric in its own cell with its own " ..
  "atoms (s:symmetrized), if that has the group at 0.1 Å, the same element ratios and no " ..
  "atoms closer than min_distance. info: {tol (Å, nil: no group found), number, symbol, " ..
  "snapped (whether the crystal was changed), move (inplace: the largest move of an atom, " ..
  "Å)}. A crystal with a group at 0.1 Å comes back " ..
  "as it is."

return snap
