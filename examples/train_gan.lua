-- train_gan.lua: the vanilla GAN (BCE, batch norm, dense + transposed-conv
-- generator, conv discriminator) trained on CrysTens tensors, then sampled.
--   crystens examples/train_gan.lua [--steps 300] [--size 32] [--conv 2d|3d]
--       [--batch 32] [--samples 16] [--out run/gan] [--data sample|file.csv[,...]]
--       [--consistent no|yes] [--species z|periodic] [--base 64] [--decay constant|cosine]
--       [--export model.safetensors] [--init model.safetensors]
--       [--device cpu|cuda] [--precision fp32|tf32|bf16] [--snapshots N]
-- --conv 3d is the paper's (Appendix B: the tensor as a one-channel 4×S×S
-- volume).  --consistent yes draws each crystal's atom count from the
-- training data and projects the generator's output onto consistent tensors
-- (models.lua), so every generated tensor is one a crystal could have
-- encoded.  --device cuda trains and samples on the GPU, --precision sets
-- its GEMMs' precision (train_diffusion.lua).  --snapshots N exports the
-- sampling weights every N steps to OUT/step-K.safetensors (a GAN's last
-- step need not be its best: examples/pick_snapshot.lua chooses).  A few minutes on 2 cores
-- with the defaults; --steps 20 is a smoke test.  Run it again to continue
-- from the checkpoint (on either device); Ctrl-C or SIGTERM stops and
-- keeps one.
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local common = dofile(here .. "/train_common.lua")
local ct = require "crystens"

local o = common.options{steps = 300, size = 32, conv = "2d", batch = 32, samples = 16, out = "run/gan",
                         data = "sample", consistent = "no", species = "z", base = 64,
                         decay = "constant", export = "", init = ""}
if o.consistent ~= "yes" and o.consistent ~= "no" then error("--consistent wants yes or no", 0) end
local m = ct.models.gan{size = o.size, conv = o.conv, base = o.base, consistent = o.consistent == "yes"}
common.init(m, o)
common.run(m, o, {seed = 1})
