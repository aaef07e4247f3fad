-- Lesson 5: new crystals from the pretrained diffusion model.
--   crystens examples/workshop/05-sample.lua [--quick] [out-folder]
-- Samples the model shipped with crystens (share/models/MODEL.md says how it
-- was trained), reconstructs the samples and writes the evaluation report
-- against the shipped sample of real crystals.  Output: workshop-out/05.
local ct = require "crystens"

local quick, out = false, "workshop-out/05"
for _, a in ipairs(arg or {}) do
  if a == "--quick" then quick = true else out = a end
end
ct.file.mkdirs(out)
print("Lesson 5: sampling" .. (quick and " (quick)" or ""))

local m = ct.models.pretrained()
print(("\n1. The pretrained model: %s, %d parameters, trained %d steps"):format(m.kind,
      m:nparams(), m.step))
local n, steps = quick and 12 or 64, quick and 10 or 50
local t0 = os.clock()
local gen = m:sample(n, {steps = steps, seed = 7})
print(("2. %d samples with %d DDIM steps in %.1f s of CPU: %s"):format(n, steps,
      os.clock() - t0, tostring(gen)))
gen:save(out .. "/samples.npy")

local crystals = ct.crystens.decode(gen)
local ok = {}
for _, c in ipairs(crystals) do if c then ok[#ok + 1] = c end end
print(("3. %d reconstruct; the first ones:"):format(#ok))
for k = 1, math.min(4, #ok) do print("   " .. tostring(ok[k])) end
ct.picture.grid(crystals, out .. "/samples.png", {size = 192})

local ds = ct.dataset.load(ct.datadir .. "/sample/mpts_52_val_sample.csv")
print("\n4. Against the shipped sample:")
ct.report(crystals, ds, {out = out .. "/report", tensors = gen, n_eval = 0, pictures = 8})
print(("\n   pictures %s/samples.png, report %s/report/index.html"):format(out, out))
print("\nDone: results in " .. out .. "/")
