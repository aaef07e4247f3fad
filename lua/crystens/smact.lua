-- crystens.smact: SMACT 2.2 compositional validity (ct.metrics.smact_table,
-- smact_valid, smact_rate).  The rules are C (crystens.metrics_core); what
-- lives here is where the tables are found and that each folder's are
-- loaded once.

local core = require "crystens.metrics_core"
local config = require "crystens.config"
local doc = require "crystens.doc"
local options = require "crystens.options"

local M = {}

local tables = {}

-- The SMACT tables of dir (default: the installed ones), loaded once.
function M.smact_table(dir)
  dir = dir or (config.datadir .. "/smact")
  local tab = tables[dir]
  if not tab then
    tab = core.smact_load(dir)
    tables[dir] = tab
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

return M
