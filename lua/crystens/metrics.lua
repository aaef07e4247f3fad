-- crystens.metrics (ct.metrics): measures that set generated crystals against
-- reference ones, gathered in one table from the modules that define them:
-- the C measures (crystens.metrics_core: K-S, Wasserstein-1, histograms),
-- SMACT validity (crystens.smact), the CDVAE protocol (crystens.metrics_cdvae),
-- the paper's tables (crystens.paper) and predicted properties
-- (crystens.properties).  Defined here: how shared bins are chosen.

local core = require "crystens.metrics_core"
local smact = require "crystens.smact"
local cdvae = require "crystens.metrics_cdvae"
local paper = require "crystens.paper"
local properties = require "crystens.properties"
local doc = require "crystens.doc"
local options = require "crystens.options"

local M = {}
for name, fn in pairs(core) do M[name] = fn end
M.smact_table, M.smact_valid, M.smact_rate = smact.smact_table, smact.smact_valid, smact.smact_rate

-- The range covering every sample (each an array of numbers or 1-D tensor).
local function range_of(samples)
  local lo, hi = core.shared_range(samples[1], samples[#samples])
  for i = 2, #samples - 1 do
    local l, h = core.shared_range(samples[1], samples[i])
    lo, hi = math.min(lo, l), math.max(hi, h)
  end
  return lo, hi
end

function M.histograms(samples, opts)
  opts = options.check("ct.metrics.histograms", opts, {bins = "integer", range = "table", integer = "boolean"}, 2)
  assert(type(samples) == "table" and #samples >= 1,
         "bad argument #1 to 'histograms' (expected a list of samples)")
  local lo, hi
  if opts.range then
    lo, hi = opts.range[1], opts.range[2]
  else
    lo, hi = range_of(samples)
  end
  local edges
  if opts.integer then
    -- One bin per integer, centred on it, so counts of space groups or of
    -- elements read as bars over their values.
    lo, hi = math.floor(lo + 0.5) - 0.5, math.floor(hi + 0.5) + 0.5
    edges = core.edges(lo, hi, math.tointeger(hi - lo))
  else
    edges = core.edges(lo, hi, opts.bins or 20)
  end
  local counts = {}
  for i, s in ipairs(samples) do counts[i] = core.histogram(s, edges) end
  return {edges = edges, counts = counts}
end
doc[M.histograms] = "histograms(samples, [opts]) -> {edges, counts}. Histograms of several " ..
  "samples over shared bins: opts.bins equal bins (default 20) over opts.range or the " ..
  "range covering every sample; opts.integer gives one bin per integer instead. " ..
  "counts[i] is the list of counts of samples[i]."

M.cdvae, M.cov_cutoffs, M.magpie_table = cdvae.cdvae, cdvae.cov_cutoffs, cdvae.magpie_table
M.ks = cdvae.ks   -- core.ks, extended to lists of structures
M.symmetry, M.uniqueness, M.novelty, M.match = cdvae.symmetry, cdvae.uniqueness, cdvae.novelty,
  cdvae.match
M.paper = paper
M.properties = properties.distributions

doc[M] = "ct.metrics: measures between generated and reference crystals. ks(a, b) and " ..
  "wasserstein(a, b) on samples of numbers (ks also on two structure lists, per " ..
  "quantity); histograms(samples) with shared bins; smact_valid(composition) and " ..
  "smact_rate(list), SMACT 2.2 compositional validity; cdvae(gen, ref, opts), the CDVAE " ..
  "benchmark metrics (validity, COV-R/COV-P, W1 of density and N_el); symmetry(list), " ..
  "uniqueness(list), novelty(gen, train), match(a, b); properties(gen, ref), predicted " ..
  "formation energy and energy above hull with K-S (ct.properties)."

return M
