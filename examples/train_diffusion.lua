-- train_diffusion.lua: a DDPM (U-Net on the 4 layers as channels, cosine
-- schedule, EMA weights) trained on the shipped sample, sampled with DDIM-50.
-- It predicts v and lowers the learning rate along a cosine, the choices that
-- gave the most valid crystals in share/models/MODEL.md's comparison.
--   crystens examples/train_diffusion.lua [--steps 300] [--size 32] [--preset small]
--       [--batch 16] [--samples 16] [--out run/diffusion] [--data sample|file.csv]
--       [--export model.safetensors] [--target eps|v|x0] [--decay constant|cosine]
--       [--base N]   (the U-Net's width; share/models/MODEL.md: --preset fast --base 96)
-- --export writes the sampling weights only (model:export), as shipped in
-- share/models/ (see MODEL.md there for the command that made them).
-- A few minutes on 2 cores with the defaults; --steps 20 is a smoke test.  Run
-- it again to continue from the checkpoint; Ctrl-C stops and keeps one.
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local common = dofile(here .. "/train_common.lua")
local ct = require "crystens"

local o = common.options{steps = 300, size = 32, preset = "small", batch = 16, samples = 16,
                         out = "run/diffusion", data = "sample", export = "", target = "v",
                         decay = "cosine", base = 0, species = "periodic", consistent = "yes",
                         snr = 5}
-- --base 0 keeps the preset's width
if o.consistent ~= "yes" and o.consistent ~= "no" then error("--consistent wants yes or no", 0) end
common.run(ct.models.diffusion{size = o.size, preset = o.preset, target = o.target,
                               base = o.base > 0 and o.base or nil, consistent = o.consistent == "yes",
                               min_snr = o.snr}, o, {steps = 50, eta = 0, seed = 1})
