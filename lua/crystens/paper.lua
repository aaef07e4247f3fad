-- crystens.paper: the paper's own quality measures (Alverson et al. 2024,
-- Tables 1 and 2; spec section 3): the function that crystens.metrics makes
-- ct.metrics.paper.  The per-tensor
-- measures are computed in C (crystens.paper_core, src/ct_paper.h says
-- exactly what each one is); here they are averaged over a batch.

local core = require "crystens.paper_core"
local doc = require "crystens.doc"
local options = require "crystens.options"

local KEYS = {"var_lengths", "var_angles", "var_sg", "var_frac", "coord_agreement",
              "pdm_diff"}

local function paper(tensors, opts)
  opts = options.check("ct.metrics.paper", opts, {structures = "table", distance = {"angstrom", "fractional"}}, 2)
  local dist = opts.distance or "angstrom"
  local rows = core.measures(tensors, opts.structures, dist == "fractional")
  local out, count = {rows = rows, n = #rows, empty = 0}, {}
  for _, k in ipairs(KEYS) do out[k], count[k] = 0, 0 end
  for _, r in ipairs(rows) do
    if r.natoms == 0 then out.empty = out.empty + 1 end
    for _, k in ipairs(KEYS) do
      local v = r[k]
      if v == v then out[k], count[k] = out[k] + v, count[k] + 1 end
    end
  end
  for _, k in ipairs(KEYS) do out[k] = count[k] > 0 and out[k] / count[k] or 0 / 0 end
  return out
end
doc[paper] = "paper(tensors, [{structures=list, distance='angstrom'|'fractional'}]) " ..
  "-> {var_lengths, var_angles, var_sg, var_frac, coord_agreement, pdm_diff, n, empty, " ..
  "rows}. The paper's Tables 1-2 over raw N×4×S×S tensors, averaged over the tensors that " ..
  "hold atoms: variances of the repeated lattice lengths, angles, space group and " ..
  "fractional coordinates; mean |own - implied| coordinate per atom and axis (implied by " ..
  "the directional graphs, on the circle); Σ|distance - layer 0| per atom against the " ..
  "reconstructed structures (NaN without them; a false entry is skipped). distance says " ..
  "what layer 0 holds. rows has each tensor's values. All are 0 on an exact tensor."

return paper
