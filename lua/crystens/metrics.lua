-- crystens.metrics (ct.metrics): measures that set generated crystals against
-- reference ones.  The C measures (crystens.metrics_core: K-S, Wasserstein-1,
-- histograms, SMACT validity) are merged into this table; what is policy
-- lives here: where SMACT's tables are found, how shared bins are chosen.
-- Measures built on structures (the paper's tables, the CDVAE protocol) are
-- added to the same table by the modules that define them.

local core = require "crystens.metrics_core"
local config = require "crystens.config"
local doc = require "crystens.doc"
local options = require "crystens.options"

local M = {}
for name, fn in pairs(core) do M[name] = fn end

local smact_tables = {}

-- The SMACT tables of dir (default: the installed ones), loaded once.
function M.smact_table(dir)
  dir = dir or (config.datadir .. "/smact")
  local tab = smact_tables[dir]
  if not tab then
    tab = core.smact_load(dir)
    smact_tables[dir] = tab
  end
  return tab
end
doc[M.smact_table] = "smact_table([dir]) -> SmactTable. SMACT 2.2's oxidation states and " ..
  "electronegativities, loaded once from dir (default: the copies shipped with crystens, " ..
  "in the smact folder of ct.datadir). Methods :valid(composition), :states(Z), " ..
  ":electroneg(Z)."

local SMACT = {datadir = "string"}

function M.smact_valid(composition, opts)
  opts = options.check("ct.metrics.smact_valid", opts, SMACT, 2)
  return M.smact_table(opts.datadir):valid(composition)
end
doc[M.smact_valid] = "smact_valid(composition, [opts]) -> valid, reason. Compositional " ..
  "validity by SMACT 2.2's rules as the CDVAE evaluation applies them: one element, or " ..
  "all metals, or a charge-neutral combination of SMACT oxidation states (gcd-reduced " ..
  "counts) that passes the Pauling electronegativity test. composition is a formula " ..
  "(\"NaCl2\"), a list of {Z, count} pairs, or a list of atomic numbers one per atom. " ..
  "reason names the rule that decided; opts.datadir picks other tables."

function M.smact_rate(compositions, opts)
  opts = options.check("ct.metrics.smact_rate", opts, SMACT, 2)
  local valid, reasons = 0, {}
  local tab = M.smact_table(opts.datadir)
  for _, comp in ipairs(compositions) do
    local ok, reason = tab:valid(comp)
    if ok then valid = valid + 1 end
    reasons[reason] = (reasons[reason] or 0) + 1
  end
  return #compositions > 0 and valid / #compositions or 0 / 0, reasons
end
doc[M.smact_rate] = "smact_rate(compositions, [opts]) -> fraction, reasons. The fraction " ..
  "of compositions that smact_valid accepts (NaN for none), and a table counting each " ..
  "deciding reason."

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

require("crystens.metrics_cdvae").install(M)
require("crystens.properties").install(M)

doc[M] = "ct.metrics: measures between generated and reference crystals. ks(a, b) and " ..
  "wasserstein(a, b) on samples of numbers (ks also on two structure lists, per " ..
  "quantity); histograms(samples) with shared bins; smact_valid(composition) and " ..
  "smact_rate(list), SMACT 2.2 compositional validity; cdvae(gen, ref, opts), the CDVAE " ..
  "benchmark metrics (validity, COV-R/COV-P, W1 of density and N_el); symmetry(list), " ..
  "uniqueness(list), novelty(gen, train), match(a, b); properties(gen, ref), predicted " ..
  "formation energy and energy above hull with K-S (ct.properties)."

return M
