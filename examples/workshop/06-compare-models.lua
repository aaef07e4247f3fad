-- Lesson 6: GAN, WGAN-GP and diffusion side by side — the paper's comparison
-- on a workshop budget.
--   crystens examples/workshop/06-compare-models.lua [--quick] [out-folder]
-- Runs the capstone script, examples/paper.lua, with a budget that fits the
-- lesson (a few minutes; --quick: about a minute): each model trains on the
-- shipped sample for the same number of steps, samples, and is scored with
-- the paper's Tables 1-2 and the CDVAE metrics.  Then try the full run:
--   crystens examples/paper.lua
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local quick, out = false, "workshop-out/06"
for _, a in ipairs(arg) do
  if a == "--quick" then quick = true else out = a end
end
print("Lesson 6: comparing the three model families" .. (quick and " (quick)" or ""))
arg = quick and {[0] = here .. "/../paper.lua", "--quick", "--out", out}
             or {[0] = here .. "/../paper.lua", "--steps", "150", "--samples", "64", "--out", out}
dofile(here .. "/../paper.lua")
