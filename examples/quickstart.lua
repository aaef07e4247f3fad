-- quickstart.lua: the README's main job, the whole story in a few minutes
-- on 2 cores.  Run it with
--   src/crystens examples/quickstart.lua [--quick] [output-folder]
-- It loads the shipped sample of real crystals, pictures one as a CrysTens
-- tensor, trains a small diffusion model briefly (to show training), then
-- samples new crystals from the pretrained model shipped with crystens,
-- reconstructs them, writes CIFs and pictures, evaluates them against the
-- sample with the paper's tables and the benchmark metrics, and writes an
-- HTML report.  Everything lands under the output folder (default
-- quickstart-out); the last lines say where.
local ct = require "crystens"

local quick, out = false, "quickstart-out"
for _, a in ipairs(arg or {}) do
  if a == "--quick" then quick = true else out = a end
end
ct.file.mkdirs(out)
local t0 = os.time()
print(("crystens %s (data in %s)%s"):format(ct.version, ct.datadir, quick and ", quick run" or ""))

-- 1. Real crystals, and one of them as the image-like CrysTens tensor.
local ds = ct.dataset.load(ct.datadir .. "/sample/mpts_52_val_sample.csv")
local s = ds[3]
local t = ct.crystens.encode(s)
t:save_png(out .. "/crystens.png")
s:save_png(out .. "/crystal.png")
print(("\n1. %s\n   %s\n   encoded as %s; pictures: %s/crystens.png (the tensor), %s/crystal.png"):
      format(tostring(ds), tostring(s), tostring(t), out, out))

-- 2. Training, briefly: a small diffusion model on the sample's crystals
--    that fit in 32×32 (≤ 20 atoms).  A real model needs thousands of steps;
--    this shows the loop, its checkpoint and its loss curve.
local small = {}
for i = 1, #ds do if ds[i].natoms <= 20 then small[#small + 1] = ds[i] end end
local data = ct.crystens.encode(small, {size = 32})
local m = ct.models.diffusion{size = 32, preset = "small", target = "v"}
local r = ct.train{model = m, data = data, steps = quick and 10 or 60, batch = 16, seed = 1,
                   decay = "cosine", checkpoint = out .. "/train/ckpt.safetensors", every = 50,
                   log = out .. "/train/log.csv"}
ct.train.plot(out .. "/train/log.csv", out .. "/train/loss.svg")
print(("\n2. trained %d steps on %d crystals at %.0f samples/s; loss curve %s/train/loss.svg"):
      format(r.steps, #small, r.samples_per_s, out))

-- 3. New crystals from the pretrained model (trained on three benchmark val splits; see
--    share/models/MODEL.md), DDIM with 50 steps.
local n = quick and 16 or 64
local model = ct.models.pretrained()
local gen = model:sample(n, {steps = quick and 20 or 50, seed = 1})
gen:save(out .. "/generated.npy")
gen[1]:save_png(out .. "/generated_1.png")
print(("\n3. sampled %s from the pretrained model"):format(tostring(gen)))

-- 4. Reconstruction: averaging, voting, K-means with automatic K.
local crystals, diags, failures = ct.crystens.decode(gen)
local ok = {}
for _, c in ipairs(crystals) do if c then ok[#ok + 1] = c end end
print(("\n4. %d of %d reconstruct to crystals; e.g. %s"):format(#ok, n, tostring(ok[1])))
for i = 1, math.min(3, #failures) do
  print(("   sample %d failed: %s"):format(failures[i].item, failures[i].reason))
end
-- two atoms on one site make a CIF no reader takes: cif.write refuses them
local writable = {}
for _, c in ipairs(ok) do
  if (c:closest_pair() or math.huge) >= 0.5 then writable[#writable + 1] = c end
end
if #writable > 0 then ct.cif.write(writable, out .. "/cif/") end
if #ok > 0 then ct.picture.grid(crystals, out .. "/generated.png", {size = 192}) end
print(("   %d CIFs in %s/cif/ (%d with overlapping atoms left out), pictures in %s/generated.png")
      :format(#writable, out, #ok - #writable, out))

-- 5. Evaluation against the sample: the paper's Tables 1-2, the CDVAE
--    benchmark metrics, K-S per quantity, all in one HTML report.
local p = ct.metrics.paper(gen, {structures = crystals})
print(("\n5. paper's Table 1: var(lengths) %.3g  var(angles) %.3g  var(SG) %.3g  var(frac) %.3g")
      :format(p.var_lengths, p.var_angles, p.var_sg, p.var_frac))
print(("   paper's Table 2: Δcoord/atom %.3g  ΣΔPDM/atom %.3g"):format(p.coord_agreement,
      p.pdm_diff))
local rep = ct.report(crystals, ds, {out = out .. "/report", tensors = gen, n_eval = 0,
                                     dataset = "mp20", pictures = 16})
print(("\nDone in %d s. Results are in %s/: report/index.html (open it in a browser), cif/, "
       .. "generated.png, crystens.png, train/"):format(os.time() - t0, out))
print("Results in " .. out .. "/")
