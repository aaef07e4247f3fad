-- Lesson 6: GAN, WGAN-GP and diffusion side by side — the paper's comparison
-- on a workshop budget.
--   crystens examples/workshop/06-compare-models.lua [--quick] [out-folder]
-- Runs the capstone script, examples/paper.lua, with a budget that fits the
-- lesson (a few minutes; --quick: about a minute): each model trains on the
-- shipped sample for the same number of steps, samples, and is scored with
-- the paper's Tables 1-2 and the CDVAE metrics.  On this budget the models
-- are far from trained: expect GAN and WGAN-GP samples that fill every atom
-- slot with one element (compositional validity then passes trivially), and
-- Table 1 may rank the models opposite to the paper, because copies agree
-- trivially in samples that barely vary.  The script prints what the samples
-- are and comments on both.  The GAN's loss plot (loss.svg) holds its losses;
-- the discriminator's probabilities for real and generated tensors are in
-- probabilities.svg.  Then try the full run:
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
