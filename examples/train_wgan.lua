-- train_wgan.lua: WGAN-GP (Wasserstein loss, gradient penalty λ=10, 5 critic
-- steps per generator step, layer norm in the critic, Adam 1e-4 β=(0.5, 0.9))
-- trained on CrysTens tensors, then sampled.
--   crystens examples/train_wgan.lua [--steps 60] [--size 32] [--conv 2d|3d]
--       [--batch 16] [--samples 16] [--out run/wgan] [--data sample|file.csv[,...]]
--       [--consistent no|yes] [--species z|periodic] [--base 64] [--decay constant|cosine]
--       [--export model.safetensors] [--init model.safetensors]
--       [--device cpu|cuda] [--precision fp32|tf32|bf16] [--snapshots N]
-- --batch is the rows of one critic step (a step takes 5 of them).  --conv,
-- --consistent, --device, --precision and --snapshots as in train_gan.lua.  A few
-- minutes on 2 cores with the defaults; --steps 20 is a smoke test.  Run it
-- again to continue from the checkpoint (on either device); Ctrl-C or
-- SIGTERM stops and keeps one.
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local common = dofile(here .. "/train_common.lua")
local ct = require "crystens"

local o = common.options{steps = 60, size = 32, conv = "2d", batch = 16, samples = 16, out = "run/wgan",
                         data = "sample", consistent = "no", species = "z", base = 64,
                         decay = "constant", export = "", init = ""}
if o.consistent ~= "yes" and o.consistent ~= "no" then error("--consistent wants yes or no", 0) end
local m = ct.models.wgan{size = o.size, conv = o.conv, base = o.base, consistent = o.consistent == "yes"}
common.init(m, o)
common.run(m, o, {seed = 1})
