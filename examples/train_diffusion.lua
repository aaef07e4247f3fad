-- train_diffusion.lua: a DDPM diffusion model on CrysTens, trained with
-- ct.train (checkpoint, CSV log, loss plot under --out) and sampled with
-- DDIM-50 at the end.  The defaults are the choices that won
-- share/models/MODEL.md's comparison: the atom network (--preset atoms),
-- the consistency projection (--consistent yes), the periodic species
-- encoding (--species periodic), v-prediction with Min-SNR-5 weighting
-- (--target v --snr 5) and a cosine-decayed learning rate; --preset small
-- --consistent no --species z is the paper's plain U-Net.
--   crystens examples/train_diffusion.lua [--steps 300] [--size 32] [--preset atoms]
--       [--batch 16] [--samples 16] [--out run/diffusion]
--       [--data sample|file.csv[,file.csv...]] [--export model.safetensors]
--       [--target eps|v|x0] [--decay constant|cosine] [--base N] [--depth N]
--       [--species periodic|z] [--consistent yes|no] [--snr 5] [--init model.safetensors]
--       [--mask yes|no]   (atoms: whether the network reads which slots hold atoms)
--       [--device cpu|cuda] [--precision fp32|tf32|bf16] [--snapshots N]
-- --base and --depth change the network's width and (atoms) depth; --init
-- starts from a saved model's weights (Model:init_from).  --export writes the
-- sampling weights only (model:export), as shipped in share/models/ (see
-- MODEL.md there for the commands that made them).
-- --device cuda trains and samples on the GPU (ct.train{device=}; the
-- checkpoint is the same file either way), --precision its GEMMs' precision;
-- --snapshots N (with --decay constant) exports the sampling weights every N
-- steps to OUT/step-K.safetensors.
-- A few minutes on 2 cores with the defaults; --steps 20 is a smoke test.  Run
-- it again to continue from the checkpoint (on either device); Ctrl-C or
-- SIGTERM stops and keeps one.
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local common = dofile(here .. "/train_common.lua")
local ct = require "crystens"

local o = common.options{steps = 300, size = 32, preset = "atoms", batch = 16, samples = 16,
                         out = "run/diffusion", data = "sample", export = "", target = "v",
                         decay = "cosine", base = 0, depth = 0, species = "periodic",
                         consistent = "yes", snr = 5, init = "", mask = "yes"}
-- --base 0 keeps the preset's width
for _, k in ipairs{"consistent", "mask"} do
  if o[k] ~= "yes" and o[k] ~= "no" then error("--" .. k .. " wants yes or no", 0) end
end
local mask   -- only the atom network has the option
if o.preset == "atoms" then mask = o.mask == "yes" end
local m = ct.models.diffusion{size = o.size, preset = o.preset, target = o.target,
                              base = o.base > 0 and o.base or nil, depth = o.depth > 0 and o.depth or nil,
                              consistent = o.consistent == "yes", min_snr = o.snr,
                              mask = mask}
common.init(m, o)
common.run(m, o, {steps = 50, eta = 0, seed = 1})
