-- evaluate_model.lua: sample a saved model, reconstruct, and score the
-- crystals against a reference set — the numbers share/models/MODEL.md
-- records for the pretrained model (a test reproduces them).
--   crystens examples/evaluate_model.lua [--model pretrained|ckpt.safetensors]
--       [--samples 64] [--steps 50] [--seed 1] [--reference sample|file.csv]
--       [--json out.json] [--report dir]
local ct = require "crystens"

local o = {model = "pretrained", samples = 64, steps = 50, seed = 1, reference = "sample",
           json = "", report = ""}
local i = 1
while arg[i] do
  local key = arg[i]:match("^%-%-(%w+)$")
  if not (key and o[key] ~= nil and arg[i + 1]) then
    error("usage: crystens examples/evaluate_model.lua [--model M] [--samples N] [--steps N] "
          .. "[--seed N] [--reference F] [--json F] [--report DIR]", 0)
  end
  o[key] = type(o[key]) == "number" and math.tointeger(tonumber(arg[i + 1])) or arg[i + 1]
  i = i + 2
end

local m = o.model == "pretrained" and ct.models.pretrained() or ct.models.load(o.model)
local ref_path = o.reference == "sample" and ct.datadir .. "/sample/mpts_52_val_sample.csv"
                 or o.reference
local ref = ct.dataset.load(ref_path, {max_atoms = ct.crystens.layout.max_atoms(m.config.size)})
local t0 = os.clock()
-- steps is a diffusion model's: a GAN draws in one pass
local gen = m:sample(o.samples, m.kind == "crystens.diffusion" and {steps = o.steps, seed = o.seed}
                                or {seed = o.seed})
local sample_cpu = os.clock() - t0
local crystals = ct.crystens.decode(gen)
local ok = {}
for _, c in ipairs(crystals) do if c then ok[#ok + 1] = c end end
local decoded = #ok
local p = ct.metrics.paper(gen, {structures = crystals})
local cd = ct.metrics.cdvae(crystals, ref, {n_eval = 0, dataset = "mp20"})
local ks = decoded > 0 and ct.metrics.ks(ok, ref) or {}

local r = {samples = o.samples, steps = o.steps, seed = o.seed, reference = o.reference,
           n_reference = #ref, reconstructed = decoded / o.samples,
           struct_valid = cd.struct_valid, comp_valid = cd.comp_valid, valid = cd.valid,
           cov_r = cd.cov_r, cov_p = cd.cov_p, w_density = cd.w_density, w_nelem = cd.w_nelem,
           var_lengths = p.var_lengths, var_angles = p.var_angles, var_sg = p.var_sg,
           var_frac = p.var_frac, coord_agreement = p.coord_agreement, pdm_diff = p.pdm_diff,
           ks = {}}
for k, v in pairs(ks) do
  if type(v) == "table" and type(v.statistic) == "number" then r.ks[k] = v.statistic end
end

print(("%s (step %d): %d samples, DDIM-%d, seed %d, sampled in %.1f s CPU; reference %s (%d)")
      :format(m.kind, m.step, o.samples, o.steps, o.seed, sample_cpu, ref_path, #ref))
local keys = {"reconstructed", "struct_valid", "comp_valid", "valid", "cov_r", "cov_p",
              "w_density", "w_nelem", "var_lengths", "var_angles", "var_sg", "var_frac",
              "coord_agreement", "pdm_diff"}
for _, k in ipairs(keys) do print(("  %-16s %s"):format(k, ("%.4g"):format(r[k]))) end
local kk = {}
for k, v in pairs(r.ks) do kk[#kk + 1] = ("%s %.3f"):format(k, v) end
table.sort(kk)
print("  K-S " .. table.concat(kk, ", "))
if o.json ~= "" then
  for k, v in pairs(r) do if v ~= v then r[k] = nil end end   -- NaN: no value (JSON null)
  ct.file.write(o.json, ct.json.encode(r) .. "\n")
  print("wrote " .. o.json)
end
if o.report ~= "" then
  ct.report(crystals, ref, {out = o.report, tensors = gen, n_eval = 0, quiet = true})
  print("report in " .. o.report .. "/index.html")
end
return r
