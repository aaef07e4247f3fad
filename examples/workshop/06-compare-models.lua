-- Lesson 6: GAN, WGAN-GP and diffusion side by side — the paper's comparison
-- on a workshop budget.
--   crystens examples/workshop/06-compare-models.lua [--quick] [out-folder]
-- Runs the capstone script, examples/paper.lua, with a budget that fits the
-- lesson (a few minutes; --quick: about a minute): each model trains at
-- S = 32 on the shipped sample for the same number of steps with the
-- shipped models' recipes (--train), samples, and is scored with the
-- paper's Tables 1-2, K-S and the CDVAE metrics.  All three project their
-- tensors onto consistent ones, so Tables 1-2 are float rounding for all of
-- them and cannot rank them; the validity rows do.  On this budget the
-- models are far from trained: expect GAN and WGAN-GP crystals of one
-- element (compositional validity then passes trivially).  The script
-- prints what the samples are and comments on both.  The GAN's loss plot (loss.svg) holds its losses;
-- the discriminator's probabilities for real and generated tensors are in
-- probabilities.svg.  Then try the full run:
--   crystens examples/paper.lua          (the shipped S = 64 models)
--   crystens examples/paper.lua --train  (all three trained afresh at S = 64)
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local quick, out = false, "workshop-out/06"
for _, a in ipairs(arg) do
  if a == "--quick" then quick = true else out = a end
end
print("Lesson 6: comparing the three model families" .. (quick and " (quick)" or ""))
arg = quick and {[0] = here .. "/../paper.lua", "--train", "--size", "32", "--quick", "--out", out}
             or {[0] = here .. "/../paper.lua", "--train", "--size", "32", "--steps", "150", "--samples", "64",
                 "--out", out}
dofile(here .. "/../paper.lua")
