-- sample_cifs.lua: generate crystals and write each as its own CIF file, for
-- the independent scorer (tools/score_cifs.py) or any other program.
--   crystens examples/sample_cifs.lua [--model pretrained|NAME|ckpt.safetensors]
--       [--samples 1000] [--steps 50] [--seed 1] [--out generated]
--       [--tensors samples.npy] [--species auto|atom|kmeans] [--symmetrize no|yes]
--       [--symprec 0.1] [--clip means|copies] [--tol 2.5] [--snap 0|0.5]
--       [--snapmode refined|inplace] [--symmetry 0|FROM:TOL[:LAST]]
--       [--device cpu|cuda] [--batch 64]
-- --tensors decodes tensors sampled earlier instead of sampling; --steps,
-- --clip and --symmetry are the diffusion sampler's options (models.lua; a
-- GAN or WGAN-GP samples in one generator pass), --tol reconstruction's
-- species_tol.
-- --symmetry guides the last FROM of the sampling (a fraction of the
-- timesteps) towards symmetric crystals (model:sample's symmetry option,
-- crystens.guide): at each of those steps the predicted crystal is made
-- exactly symmetric in place under the group spglib finds at a tolerance
-- going from TOL to LAST Å (geometrically; TOL throughout without LAST;
-- 0.6:3:0.2 is the model's default);
-- OUT/symmetry.tsv gets per sample the group its last guided step found,
-- the tolerance and the largest atom move (Å) of that step.
-- --snap MAX (Å) puts every crystal that spglib finds symmetric at a
-- tolerance up to MAX onto its refined symmetric cell (ct.crystens.snap:
-- the smallest tolerance that finds a group above P1 is used, and written
-- to OUT/snap.tsv with the group for every crystal), or with --snapmode
-- inplace makes it symmetric in its own cell (s:symmetrized: the same atoms,
-- each moved to the mean of its images; snap.tsv adds the largest move);
-- 0 leaves them as generated.  --device cuda samples on the GPU, --batch
-- crystals at a time (the sampler's option: on a GPU, 1000 at once pays).
-- Writes OUT/NNNN.cif for every sample that reconstructs,
-- OUT/samples.npy (the raw tensors) and OUT/failed.txt (item and reason of
-- every sample that did not); prints the counts.  Score with
--   tools/score_cifs.py OUT --n-total SAMPLES --reference ../shared/data/mpts_52/test.csv
local ct = require "crystens"

local o = {model = "pretrained", samples = 1000, steps = 50, seed = 1, out = "generated",
           tensors = "", species = "auto", symmetrize = "no", symprec = "0.1", clip = "",
           tol = "2.5", snap = "0", snapmode = "refined", symmetry = "0", device = "cpu", batch = 64}
local i = 1
while arg[i] do
  local key = arg[i]:match("^%-%-(%w+)$")
  if not (key and o[key] ~= nil and arg[i + 1]) then
    local keys = {}
    for k in pairs(o) do keys[#keys + 1] = "--" .. k end
    table.sort(keys)
    error("usage: crystens examples/sample_cifs.lua [" .. table.concat(keys, " V] [") .. " V]", 0)
  end
  local v = arg[i + 1]
  if type(o[key]) == "number" then
    v = math.tointeger(tonumber(v)) or error("--" .. key .. " wants an integer", 0)
  end
  o[key] = v
  i = i + 2
end
if o.symmetrize ~= "yes" and o.symmetrize ~= "no" then error("--symmetrize wants yes or no", 0) end
require("crystens.options").check("sample_cifs.lua", {device = o.device}, {device = {"cpu", "cuda"}})
if o.batch < 1 then error("--batch wants a positive integer", 0) end
local symprec = tonumber(o.symprec) or error("--symprec wants a number", 0)
local snap = tonumber(o.snap) or error("--snap wants a tolerance in Å (0: off)", 0)
if snap ~= 0 and snap < 0.1 then error("--snap wants 0 (off) or a tolerance of at least 0.1 Å", 0) end
if o.snapmode ~= "refined" and o.snapmode ~= "inplace" then error("--snapmode wants refined or inplace", 0) end
local symmetry
if o.symmetry ~= "0" then
  local f, t0, t1 = o.symmetry:match("^([%d.]+):([%d.]+):?([%d.]*)$")
  f, t0, t1 = tonumber(f), tonumber(t0), t1 == "" and tonumber(t0) or tonumber(t1)
  if not (f and t0 and t1) then error("--symmetry wants 0 (off) or FROM:TOL[:LAST], e.g. 0.5:2:0.1", 0) end
  if o.tensors ~= "" then error("--symmetry guides sampling: it cannot apply to --tensors", 0) end
  symmetry = {from = f, tol = {t0, t1}}
end

ct.file.mkdirs(o.out)
local x
if o.tensors ~= "" then
  x = ct.tensor.load(o.tensors)
else
  local m = o.model == "pretrained" and ct.models.pretrained()
            or (o.model:match("%.safetensors$") and ct.models.load(o.model) or ct.models.pretrained(o.model))
  local t0 = os.time()
  local opts = {seed = o.seed, batch = o.batch, device = o.device ~= "cpu" and o.device or nil}
  -- --steps, --clip and --symmetry are the denoising sampler's: a GAN's generator takes none
  if m.kind == "crystens.diffusion" or m.kind == "crystens.cascade" then
    opts.steps, opts.clip, opts.symmetry = o.steps, o.clip ~= "" and o.clip or nil, symmetry
  elseif symmetry then
    error("--symmetry guides a diffusion model's sampling: " .. m.kind .. " has none", 0)
  end
  local report
  x, report = m:sample(o.samples, opts)
  local how = m.kind == "crystens.diffusion" and ("DDIM-%d, "):format(o.steps)
              or m.kind == "crystens.cascade" and ("DDIM-%d per stage, "):format(o.steps) or ""
  if symmetry then
    how = how .. ("symmetry-guided from %g·T at %g to %g Å, "):format(symmetry.from, symmetry.tol[1], symmetry.tol[2])
  end
  print(("sampled %d tensors (%sseed %d, on %s) in %d s"):format(o.samples, how, o.seed, o.device,
        os.time() - t0))
  if report then
    local rows, above = {"item\tspacegroup\tsymbol\ttol_A\tmove_A"}, 0
    for k = 1, o.samples do
      local r = report[k] or {}
      rows[#rows + 1] = ("%d\t%s\t%s\t%s\t%s"):format(k, r.number or "", r.symbol or "", r.tol or "",
                                                       r.move and ("%.4f"):format(r.move) or "")
      if r.number and r.number > 1 then above = above + 1 end
    end
    ct.file.write(o.out .. "/symmetry.tsv", table.concat(rows, "\n") .. "\n")
    print(("symmetry guidance: the last guided step found a group above P1 in %d of %d tensors (per tensor in symmetry.tsv)")
          :format(above, o.samples))
  end
end
x:save(o.out .. "/samples.npy")
local out, diags = ct.crystens.decode(x, {species = o.species, symmetrize = o.symmetrize == "yes",
                                          symprec = symprec,
                                          species_tol = tonumber(o.tol) or error("--tol wants a number", 0)})
local n, written, failed = x:size(1), 0, {}
local inplace = o.snapmode == "inplace"
local snapped, by_tol = {"item\ttol_A\tspacegroup\tsymbol\tsnapped" .. (inplace and "\tmove_A" or "")}, {}
for k = 1, n do
  if out[k] and snap > 0 then
    local s, info = ct.crystens.snap(out[k], {max = snap, inplace = inplace})
    out[k] = s
    snapped[#snapped + 1] = ("%d\t%s\t%s\t%s\t%s"):format(k, info.tol or "", info.number or "",
                                                        info.symbol or "", info.snapped and "yes" or "no") ..
                            (inplace and "\t" .. (info.move and ("%.4f"):format(info.move) or "") or "")
    if info.tol then by_tol[info.tol] = (by_tol[info.tol] or 0) + 1 end
  end
  if out[k] then
    ct.cif.write(out[k], ("%s/%04d.cif"):format(o.out, k))
    written = written + 1
  else
    failed[#failed + 1] = ("%d\t%s"):format(k, diags[k] and diags[k].reason or "no crystal")
  end
end
ct.file.write(o.out .. "/failed.txt", table.concat(failed, "\n") .. (#failed > 0 and "\n" or ""))
print(("%d of %d samples reconstructed and written to %s/ (%d failed, reasons in failed.txt)")
      :format(written, n, o.out, #failed))
if snap > 0 then
  ct.file.write(o.out .. "/snap.tsv", table.concat(snapped, "\n") .. "\n")
  local tols, total = {}, 0
  for t, c in pairs(by_tol) do tols[#tols + 1] = t; total = total + c end
  table.sort(tols)
  for i, t in ipairs(tols) do tols[i] = ("%d at %g Å"):format(by_tol[t], t) end
  print(("symmetry snap (%s) up to %g Å: %d of %d crystals have a group above P1 (%s); per crystal in snap.tsv")
        :format(o.snapmode, snap, total, written, total > 0 and table.concat(tols, ", ") or "none"))
end
