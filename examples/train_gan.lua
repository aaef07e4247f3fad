-- train_gan.lua: the vanilla GAN (BCE, batch norm, dense + transposed-conv
-- generator, conv discriminator) trained on the shipped sample, then sampled.
--   crystens examples/train_gan.lua [--steps 300] [--size 32] [--conv 2d|3d]
--       [--batch 32] [--samples 16] [--out run/gan]
-- A few minutes on 2 cores with the defaults; --steps 20 is a smoke test.  Run
-- it again to continue from the checkpoint; Ctrl-C stops and keeps one.
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local common = dofile(here .. "/train_common.lua")
local ct = require "crystens"

local o = common.options{steps = 300, size = 32, conv = "2d", batch = 32, samples = 16, out = "run/gan"}
common.run(ct.models.gan{size = o.size, conv = o.conv}, o, {seed = 1})
