-- train_cascade.lua: the paper's two-stage diffusion model (imagen's
-- cascade, models.lua's Cascade): a U-Net over the S×S tensor downsampled
-- to S/2×S/2 and a super-resolution atom network at S conditioned on the
-- low-resolution tensor upsampled, noise-augmented; both trained on every
-- batch, then sampled (DDIM-50 each stage) and decoded.
--   crystens examples/train_cascade.lua [--steps 300] [--size 64] [--batch 16]
--       [--samples 16] [--out run/cascade] [--data sample|file.csv[,file.csv...]]
--       [--low small] [--downsample nearest|mean] [--aug 0.2] [--decay cosine|constant]
--       [--initsr atoms.safetensors] [--init cascade.safetensors] [--export model.safetensors]
-- --low is the first stage's U-Net preset, --aug the largest augmentation
-- level (a fraction of the timesteps), --initsr warm-starts the second
-- stage from a saved atom-network diffusion model (any S), --init both
-- stages from a saved cascade.  Run it again to
-- continue from the checkpoint; Ctrl-C stops and keeps one.
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local common = dofile(here .. "/train_common.lua")
local ct = require "crystens"

local o = common.options{steps = 300, size = 64, batch = 16, samples = 16, out = "run/cascade",
                         data = "sample", low = "small", downsample = "nearest", aug = "0.2",
                         decay = "cosine", initsr = "", init = "", export = "", species = "periodic"}
local m = ct.models.cascade{size = o.size, low_preset = o.low, downsample = o.downsample,
                            aug = tonumber(o.aug) or error("--aug wants a number", 0)}
if common.init(m, o) and o.initsr ~= "" then m:init_sr_from(o.initsr) end
common.run(m, o, {steps = 50, eta = 0, seed = 1})
