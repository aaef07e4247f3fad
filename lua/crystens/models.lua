-- crystens.models: the generative models of the paper (Appendix B) on the
-- CrysTens tensor: a vanilla GAN, a WGAN-GP and a DDPM diffusion model.
--
--   local m = ct.models.diffusion{size = 32, preset = "small"}
--   m:fit_scaler(train)                    -- train: N×4×S×S in raw units
--   for i = 1, 100 do m:train_step(batch) end   -- -> {loss = ...}
--   local x = m:sample(16, {steps = 50, seed = 1})  -- raw units again
--   m:save("run/ckpt.safetensors"); local m2 = ct.models.load("run/ckpt.safetensors")
--
-- Every model takes and returns tensors in raw CrysTens units.  Inside, the
-- spec's per-quantity scaler (ct.crystens.scaler) maps them into [-1, 1],
-- the range of the generator's tanh and of the diffusion model's clipping;
-- its constants travel in the checkpoint.
--
-- Convolutions: conv = "2d" (default) treats the 4 layers as channels of an
-- S×S image; conv = "3d" treats the tensor as a one-channel 4×S×S volume, as
-- the paper's TensorFlow models do (about 3× slower per sample).
--
-- A checkpoint holds every network (prefixed "generator.", "discriminator.",
-- "unet."), the Adam moments ("optim.<net>.m/v"), the EMA weights
-- ("ema.unet") and metadata: kind, config (JSON), scaler (JSON), step, the
-- optimizers' step counts and the default generator's state, so training
-- resumes exactly where it stopped.
local nn = require "crystens.nn"
local core = require "crystens.nn_core"
local tensor = require "crystens.tensor"
local json = require "crystens.json"
local doc = require "crystens.doc"
local interrupt = require "crystens.interrupt"
local layout = require("crystens.crystens").layout
local options = require "crystens.options"
local checkpoint_config = require "crystens.checkpoint_config"
local guide = require "crystens.guide"

local M = {}
M.builders = {}

local function copy_table(t)
  local out = {}
  for k, v in pairs(t or {}) do out[k] = v end
  return out
end

local function log2_int(s, what)
  local k = math.floor(math.log(s, 2) + 0.5)
  if 2 ^ k ~= s or s < 16 then
    error(string.format("bad option 'size' to '%s' (a power of two ≥ 16 expected, got %s)",
                        what, tostring(s)), 3)
  end
  return k
end

-- The scaler constructor, looked up when needed (ct.crystens.scaler).
local function scaler_new(x)
  local f = require("crystens").crystens.scaler
  if not f then error("ct.crystens.scaler is not available", 3) end
  return f(x)
end

-- The atom count of each of a batch of tensors: slots whose Z copies average
-- above cut (0.5 in raw units; in scaled units the scaler's occupancy
-- threshold, halfway between empty and the lowest Z).
local EMPTY_CUT = -0.9
local function count_atoms(x, cut)
  local z = require("crystens").crystens.slot_features(x):slice(2, 1, 1)
  local n = x:size(1)
  local occ = (z - cut):sign():add_(1):mul_(0.5):sum_to{n, 1, 1, 1}:reshape{n}:totable()
  for i, v in ipairs(occ) do occ[i] = math.floor(v + 0.5) end
  return occ
end

-- ---- The common part of the three models ---------------------------------------

local Model = {}
Model.__index = Model
M.Model = Model

-- Fit the input scaling on raw training tensors (N×4×S×S).
-- A consistent model (diffusion, or a GAN whose generator's output is
-- projected) also learns how many atoms a crystal has (as CDVAE and
-- DiffCSP do, sampling draws the count from the training set's distribution
-- before it denoises; ct_consist.h says why): config.natoms[k] counts the
-- training crystals of k atoms.
function Model:fit_scaler(data)
  self.scaler = scaler_new(data)
  if self.config.consistent then
    local hist = {}
    for k = 1, layout.max_atoms(self.config.size) do hist[k] = 0 end
    for _, a in ipairs(count_atoms(data, 0.5)) do
      if a >= 1 then hist[a] = hist[a] + 1 end
    end
    self.config.natoms = hist
  end
  return self
end

-- n atom counts: opts.natoms (a count or a list), else draws from the
-- training distribution.
function Model:atom_counts(n, opts, rng)
  local T, want = layout.max_atoms(self.config.size), opts.natoms
  local out = {}
  if type(want) == "table" then
    if #want ~= n then error(("bad option 'natoms' to 'sample' (%d counts expected, got %d)"):format(n, #want), 3) end
    for i = 1, n do out[i] = want[i] end
  elseif want ~= nil then
    if math.type(want) ~= "integer" or want < 1 or want > T then
      error(("bad option 'natoms' to 'sample' (an integer from 1 to %d expected)"):format(T), 3)
    end
    for i = 1, n do out[i] = want end
  else
    local hist = self.config.natoms
    if type(hist) ~= "table" or #hist ~= T then
      error("sample: the model has no atom-count distribution (fit_scaler on the training data, or give opts.natoms)", 3)
    end
    local total = 0
    for _, c in ipairs(hist) do total = total + c end
    for i = 1, n do
      local r, k = rng:int(total), 1
      while r > hist[k] do r = r - hist[k]; k = k + 1 end
      out[i] = k
    end
  end
  return out
end


function Model:check_batch(batch, what, shape_only)
  local s = self.config.size
  if type(batch) ~= "userdata" or batch:dim() ~= 4 or batch:size(2) ~= 4 or batch:size(3) ~= s
     or batch:size(4) ~= s then
    error(string.format("bad argument #1 to '%s' (an N×4×%d×%d tensor expected)", what, s, s), 3)
  end
  if not shape_only then self:need_scaler(what) end
end

-- A model saved before fit_scaler (or ct.train) has no scaler: say so
-- before any work rather than fail on the nil when unscaling.
function Model:need_scaler(what)
  if not self.scaler then
    error(what .. ": the model has no scaler yet: call model:fit_scaler(data) or train with ct.train", 3)
  end
end

-- Raw units -> network units in [-1, 1], and back.
function Model:to_net(raw) return self.scaler:scale(raw) end
function Model:to_raw(x) return self.scaler:unscale(x) end

-- Move the networks (with their optimizers and EMAs) to "cuda" or "cpu".
-- Data stays where it is made (the CPU); train_step and sample move each
-- batch.  Parts with no GPU kernel go through the host: the consistency
-- projection and the atom network's slot gathering (ct_consist.c,
-- ct_crystens.c run on the CPU), one copy each way per call.
function Model:to(device)
  for _, e in ipairs(self.nets) do e[2]:to(device) end
  self.device = device
  return self
end

-- Where the networks are.
function Model:device_name() return self.device or "cpu" end

function Model:nparams()
  local n = 0
  for _, e in ipairs(self.nets) do n = n + e[2]:nparams() end
  return n
end

-- Set the learning rate of every optimizer; return the first one's.
function Model:lr(v)
  local out
  for _, e in ipairs(self.optims) do local r = e[2]:lr(v); out = out or r end
  return out
end

-- Names and tensors of everything a checkpoint holds.
function Model:state()
  local names, ts = {}, {}
  local function add(n, t) names[#names + 1], ts[#ts + 1] = n, t end
  for _, e in ipairs(self.nets) do
    local pn, pt = e[2]:state()
    for i, n in ipairs(pn) do add(e[1] .. "." .. n, pt[i]) end
  end
  for _, e in ipairs(self.optims) do
    local m, v = e[2]:moments()
    add("optim." .. e[1] .. ".m", m)
    add("optim." .. e[1] .. ".v", v)
  end
  for _, e in ipairs(self.emas or {}) do add("ema." .. e[1], e[2].w) end
  return names, ts
end

function Model:save(path, meta)
  if type(path) ~= "string" then error("bad argument #1 to 'save' (a path expected)", 2) end
  local m = {}
  for k, v in pairs(meta or {}) do m[k] = type(v) == "table" and json.encode(v) or tostring(v) end
  local steps = {}
  for _, e in ipairs(self.optims) do steps[e[1]] = e[2]:steps() end
  m.kind, m.config, m.step = self.kind, json.encode(self.config), tostring(self.step)
  m.optim_steps = json.encode(steps)
  if self.scaler then m.scaler = json.encode(self.scaler:state()) end
  m.rng = m.rng or tensor.default_rng():state()
  local names, ts = self:state()
  for i, t in ipairs(ts) do ts[i] = t:to("cpu") end   -- files are device-free
  core.save(path, names, ts, m)
  return self
end

-- Weights for sampling only: each network's weights (the EMA's where it
-- keeps one), no optimizer moments, a quarter of a checkpoint's size; what
-- ct.models.pretrained loads.  Training can go on from it, with fresh Adam
-- moments.
function Model:export(path)
  if type(path) ~= "string" then error("bad argument #1 to 'export' (a path expected)", 2) end
  for _, e in ipairs(self.emas or {}) do e[2]:swap() end
  local ok, err = pcall(function()
    local names, ts = {}, {}
    for _, e in ipairs(self.nets) do
      local pn, pt = e[2]:state()
      for i, n in ipairs(pn) do names[#names + 1], ts[#ts + 1] = e[1] .. "." .. n, pt[i]:to("cpu") end
    end
    local m = {kind = self.kind, config = json.encode(self.config), step = tostring(self.step),
               inference = "1"}
    if self.scaler then m.scaler = json.encode(self.scaler:state()) end
    core.save(path, names, ts, m)
  end)
  for _, e in ipairs(self.emas or {}) do e[2]:swap() end
  if not ok then error(err, 2) end
  return self
end

-- Copy a checkpoint's tensors and metadata into this (identically built) model.
function Model:load_state(names, ts, meta, path)
  local byname = {}
  for i, n in ipairs(names) do byname[n] = ts[i] end
  local mine, mt = self:state()
  local inference = meta.inference == "1"
  for i, n in ipairs(mine) do
    local src = byname[n]
    if not src and inference and (n:match("^optim%.") or n:match("^ema%.")) then
      goto continue
    end
    if not src then error(string.format("%s: checkpoint lacks tensor '%s'", path, n), 3) end
    if src:numel() ~= mt[i]:numel() then
      error(string.format("%s: tensor '%s' has %d elements, the model's %d", path, n,
                          src:numel(), mt[i]:numel()), 3)
    end
    mt[i]:copy(src)
    ::continue::
  end
  -- an exported model's weights are its average already
  if inference then
    for _, e in ipairs(self.emas or {}) do e[2].w:copy((e[2].model:flat())) end
  end
  local steps = meta.optim_steps and json.decode(meta.optim_steps) or {}
  for _, e in ipairs(self.optims) do e[2]:steps(math.tointeger(steps[e[1]]) or 0) end
  self.step = math.tointeger(tonumber(meta.step)) or 0
  if meta.scaler then self.scaler = scaler_new(json.decode(meta.scaler)) end
  -- fitted with the scaler, so restored with it
  local ok, saved = pcall(json.decode, meta.config or "{}")
  if ok and type(saved) == "table" and saved.natoms then self.config.natoms = saved.natoms end
  self.rng_state = meta.rng   -- ct.train restores it when it resumes
  return self
end

-- Warm start: copy the network weights of a saved model of the same kind
-- (a checkpoint or an export, of this S or, for the atom network, another)
-- into this one, by name.  A weight whose
-- only difference is fewer input channels (a layer that now reads more
-- features) fills the leading channels, the new ones start at zero, so the
-- network computes what it did.  The scaler and the atom-count distribution
-- come along; optimizer moments and the step start afresh.
function Model:init_from(path)
  local names, ts, meta = core.load(path)
  if meta.kind ~= self.kind then
    error(string.format("%s: a '%s' model, not '%s'", path, tostring(meta.kind), self.kind), 2)
  end
  local byname = {}
  for i, n in ipairs(names) do byname[n] = ts[i] end
  local mine, mt = self:state()
  for i, n in ipairs(mine) do
    local src, dst = byname[n], mt[i]
    if not n:match("^optim%.") and not n:match("^ema%.") then
      if not src then error(string.format("%s: no tensor '%s' to start from", path, n), 2) end
      local a, b = src:shape(), dst:shape()
      if src:numel() ~= dst:numel() then
        if #a ~= #b or #a < 2 or a[2] >= b[2] then
          error(string.format("%s: tensor '%s' has another shape", path, n), 2)
        end
        for d = 1, #a do
          if d ~= 2 and a[d] ~= b[d] then error(string.format("%s: tensor '%s' has another shape", path, n), 2) end
        end
        local pad = {table.unpack(b)}
        pad[2] = b[2] - a[2]
        src = tensor.cat({src, tensor.full(pad, 0)}, 2)
      end
      dst:copy(src)
    end
  end
  for _, e in ipairs(self.emas or {}) do e[2].w:copy((e[2].model:flat())) end
  -- the atom network's weights fit any S; the scaler and the atom counts
  -- only the S they were fitted at (ct.train fits them on the new data)
  local cfg = json.decode(meta.config or "{}")
  if cfg.size ~= self.config.size then return self end
  if meta.scaler then self.scaler = scaler_new(json.decode(meta.scaler)) end
  if cfg.natoms then self.config.natoms = cfg.natoms end
  return self
end

-- Load a checkpoint of this model's kind and configuration into it.
function Model:load(path)
  local names, ts, meta = core.load(path)
  if meta.kind ~= self.kind then
    error(string.format("%s: a '%s' checkpoint, not '%s'", path, tostring(meta.kind), self.kind), 2)
  end
  return self:load_state(names, ts, meta, path), meta
end

-- The diffusion model shipped with crystens (share/models/, see MODEL.md
-- there), or another one of that folder by name.
function M.pretrained(name)
  name = name or "diffusion-atoms32"
  if type(name) ~= "string" then error("bad argument #1 to 'pretrained' (a name expected)", 2) end
  local path = require("crystens.config").datadir .. "/models/" .. name .. ".safetensors"
  local f = io.open(path, "rb")
  if not f then error("no pretrained model '" .. name .. "' (looked for " .. path .. ")", 2) end
  f:close()
  return (M.load(path))
end

function M.load(path)
  if type(path) ~= "string" then error("bad argument #1 to 'load' (a path expected)", 2) end
  local names, ts, meta = core.load(path)
  local build = M.builders[meta.kind or ""]
  if not build then error(string.format("%s: not a crystens model (kind '%s')", path, tostring(meta.kind)), 2) end
  local cfg = json.decode(meta.config or "{}")
  -- diffusion models saved before the consistency projection existed had none
  if meta.kind == "crystens.diffusion" and cfg.consistent == nil then cfg.consistent = false end
  -- and atom networks saved before the occupancy mask existed read none
  if meta.kind == "crystens.diffusion" and cfg.arch == "atoms" and cfg.mask == nil then cfg.mask = false end
  local model = build(require("crystens.checkpoint_config").check(path, meta.kind, cfg, names, ts))
  return model:load_state(names, ts, meta, path), meta
end

-- Noise from opts.seed (a fresh generator), opts.rng, or the default one.
local function sample_rng(opts)
  if opts.seed then return tensor.rng(opts.seed) end
  return opts.rng or tensor.default_rng()
end

-- Run fn(first, count) over n samples in chunks of opts.batch; cat results.
local function in_chunks(n, opts, fn)
  if math.type(n) ~= "integer" or n < 1 then error("bad argument #1 to 'sample' (a count ≥ 1 expected)", 3) end
  local size = opts.batch or 64
  local parts = {}
  for first = 1, n, size do parts[#parts + 1] = fn(first, math.min(size, n - first + 1)) end
  while #parts > 1 do   -- tensor.cat joins at most 64 at a time
    local joined = {}
    for i = 1, #parts, 64 do joined[#joined + 1] = tensor.cat(table.move(parts, i, math.min(i + 63, #parts), 1, {}), 1) end
    parts = joined
  end
  return parts[1]
end

-- A model kind's options: the configuration fields its checkpoints may hold
-- (crystens.checkpoint_config, read when called, so a field registered there
-- is one here too), and the scaler a loaded model is built with.
local function config_options(kind)
  return options.merge(checkpoint_config.fields[kind], {scaler = "Scaler"})
end

local function gan_config(config, defaults, what)
  local cfg = copy_table(config)
  for k, v in pairs(defaults) do if cfg[k] == nil then cfg[k] = v end end
  if cfg.conv ~= "2d" and cfg.conv ~= "3d" then
    error(string.format("bad option 'conv' to '%s' ('2d' or '3d' expected)", what), 3)
  end
  if type(cfg.consistent) ~= "boolean" then
    error(string.format("bad option 'consistent' to '%s' (boolean expected)", what), 3)
  end
  log2_int(cfg.size, what)
  return cfg
end

-- Generate n tensors in network units from rng (nil: the default one).  A
-- consistent generator draws each tensor's atom count (natoms: a count or
-- a list as sample's option, nil: the training distribution), reads it
-- beside the latent vector, and its output is projected onto consistent
-- tensors (ct_consist.h) with that count, so what the discriminator sees
-- and what sampling returns is a tensor a crystal could have encoded; the
-- projection's state (second result) carries the generator's gradient back
-- through it (generated_backward).  clamp: sampling's clamp of the
-- projection (training leaves it off, ct_consist.h says why).
local function generate(self, n, rng, natoms, clamp)
  rng = rng or tensor.default_rng()
  local dev = self:device_name()
  local z = tensor.randn({n, self.config.latent}, rng):to(dev)   -- drawn on the host: the same draws on either device
  if not self.config.consistent then return self.generator:forward(z) end
  local T = layout.max_atoms(self.config.size)
  natoms = self:atom_counts(n, {natoms = natoms}, rng)
  local v = {}
  for i = 1, n do for j = 1, T do v[(i - 1) * T + j] = j == natoms[i] and 1 or 0 end end
  local out = self.generator:forward(tensor.cat({z, tensor.from(v):reshape{n, T}:to(dev)}, 2))
  -- the projection runs on the host (ct_consist.c), one copy each way
  local y, state = self.scaler:project(out:to("cpu"), {natoms = natoms, clamp = clamp})
  return y:to(dev), state
end

-- The generator's gradients from the gradient g of generate's result.
local function generated_backward(self, state, g)
  if state then g = self.scaler:project_backward(state, g:to("cpu")):to(self:device_name()) end
  self.generator:backward(g)
end

local GAN_SAMPLE = {seed = "integer", batch = "integer", natoms = "integer|table", rng = "Rng",
                    device = {"cpu", "cuda"}}

-- Sample n tensors from the generator (eval mode: running batch-norm statistics).
local function gan_sample(self, n, opts)
  options.arg("model:sample", 1, n, "integer")
  opts = options.check("model:sample", opts, GAN_SAMPLE, 2)
  self:need_scaler("sample")
  local rng = sample_rng(opts)
  local home = self:device_name()
  if opts.device then self:to(opts.device) end
  self.generator:eval()
  -- checked whole before any chunk runs
  if self.config.consistent and opts.natoms ~= nil then self:atom_counts(n, opts, rng) end
  local ok, out = pcall(in_chunks, n, opts, function(first, count)
    local natoms = opts.natoms
    if type(natoms) == "table" then natoms = table.move(natoms, first, first + count - 1, 1, {}) end
    return (generate(self, count, rng, natoms, true)):to("cpu")
  end)
  self.generator:train()
  if opts.device then self:to(home) end
  if not ok then error(out, 2) end
  return self:to_raw(out)
end

-- ---- Vanilla GAN ------------------------------------------------------------------

local GAN = setmetatable({}, {__index = Model})
GAN.__index = GAN

function M.gan(config)
  local cfg = gan_config(options.check("ct.models.gan", config, config_options("crystens.gan")),
                         {size = 64, latent = 128, base = 64, conv = "2d", lr = 1e-4,
                          betas = {0.5, 0.999}, consistent = false}, "gan")
  local self = setmetatable({kind = "crystens.gan", config = cfg, step = 0, batches_per_step = 1}, GAN)
  self.generator, self.discriminator = nn.gan_generator(cfg), nn.gan_discriminator(cfg, "batch")
  self.nets = {{"generator", self.generator}, {"discriminator", self.discriminator}}
  local o = {lr = cfg.lr, betas = cfg.betas}
  self.optims = {{"generator", nn.adam(self.generator, o)}, {"discriminator", nn.adam(self.discriminator, o)}}
  if cfg.scaler then self.scaler, cfg.scaler = cfg.scaler, nil end
  return self
end
M.builders["crystens.gan"] = M.gan

-- One discriminator step (real vs. generated, BCE) and one generator step
-- (non-saturating: generated labelled real).  Returns {d, g, real, fake}:
-- the losses and D's mean probability on real and generated samples.
function GAN:train_step(batch)
  self:check_batch(batch, "train_step")
  local G, D = self.generator, self.discriminator
  local real = self:to_net(batch):to(self:device_name())
  local n = real:size(1)
  local ones, zeros = real:new_full({n, 1}, 1), real:new_full({n, 1}, 0)
  D:zero_grad()
  local lr = D:forward(real)
  local l_real, g = nn.bce_logits(lr, ones)
  D:backward(g)
  local fake, state = generate(self, n)
  local lf = D:forward(fake)
  local l_fake
  l_fake, g = nn.bce_logits(lf, zeros)
  D:backward(g)
  self.optims[2][2]:step()
  G:zero_grad()
  local l_gen
  l_gen, g = nn.bce_logits(D:forward(fake), ones)
  generated_backward(self, state, D:backward(g, false))
  self.optims[1][2]:step()
  self.step = self.step + 1
  return {d = l_real + l_fake, g = l_gen, real = lr:sigmoid():mean(), fake = lf:sigmoid():mean()}
end

GAN.sample = gan_sample

-- ---- WGAN-GP -------------------------------------------------------------------------

local WGAN = setmetatable({}, {__index = Model})
WGAN.__index = WGAN

function M.wgan(config)
  local cfg = gan_config(options.check("ct.models.wgan", config, config_options("crystens.wgan")),
                         {size = 64, latent = 128, base = 64, conv = "2d", lr = 1e-4,
                          betas = {0.5, 0.9}, critic_steps = 5, lambda = 10,
                          consistent = false}, "wgan")
  local self = setmetatable({kind = "crystens.wgan", config = cfg, step = 0,
                             batches_per_step = cfg.critic_steps}, WGAN)
  self.generator, self.critic = nn.gan_generator(cfg), nn.gan_discriminator(cfg, "layer")
  self.nets = {{"generator", self.generator}, {"critic", self.critic}}
  local o = {lr = cfg.lr, betas = cfg.betas}
  self.optims = {{"generator", nn.adam(self.generator, o)}, {"critic", nn.adam(self.critic, o)}}
  if cfg.scaler then self.scaler, cfg.scaler = cfg.scaler, nil end
  return self
end
M.builders["crystens.wgan"] = M.wgan

-- critic_steps critic updates (Wasserstein loss + gradient penalty), each on
-- its own slice of the batch when it divides evenly (ct.train hands over
-- critic_steps batches at once), then one generator update.  Returns
-- {critic, gp, w (the Wasserstein estimate mean D(real) - mean D(fake)), g}.
function WGAN:train_step(batch)
  self:check_batch(batch, "train_step")
  local G, C, cfg = self.generator, self.critic, self.config
  local all = self:to_net(batch):to(self:device_name())
  local k = cfg.critic_steps
  local n = all:size(1)
  local m = (n % k == 0 and n >= k) and n // k or n
  local out = {critic = 0, gp = 0, w = 0}
  for i = 1, k do
    local real = m == n and all or all:narrow((i - 1) * m + 1, m)
    C:zero_grad()
    local l_real, g = nn.wasserstein(C:forward(real), -1)
    C:backward(g)
    local fake = generate(self, m)
    local l_fake
    l_fake, g = nn.wasserstein(C:forward(fake), 1)
    C:backward(g)
    local e = tensor.rand{m, 1, 1, 1}:to(all:device())
    local gp = nn.gradient_penalty(C, real * e + fake * (1 - e), {lambda = cfg.lambda})
    self.optims[2][2]:step()
    out.critic = out.critic + (l_real + l_fake + gp) / k
    out.gp, out.w = out.gp + gp / k, out.w - (l_real + l_fake) / k
  end
  G:zero_grad()
  local fake, state = generate(self, m)
  local l_gen, g = nn.wasserstein(C:forward(fake), -1)
  generated_backward(self, state, C:backward(g, false))
  self.optims[1][2]:step()
  out.g = l_gen
  self.step = self.step + 1
  return out
end

WGAN.sample = gan_sample

-- ---- Diffusion (DDPM / DDIM) -----------------------------------------------------------

local Diffusion = setmetatable({}, {__index = Model})
Diffusion.__index = Diffusion

M.presets = {
  default = {base = 64, mults = {1, 2, 2}, nres = 2, attn = {8}, groups = 8, patch = 1},
  -- DDIM-50 over 1000 crystals in minutes on 2 cores (see bench/models.lua):
  -- the U-Net runs on 2×2 patches (S/2×S/2), one block per level
  small = {base = 32, mults = {1, 2, 2}, nres = 1, attn = {}, groups = 8, patch = 2, lr = 1e-3},
  -- the same on 4×4 patches (the U-Net at S/4): DDIM-50 over 1000 crystals
  -- in about a minute on 2 cores, at a cost in quality (MODEL.md's tables:
  -- 64 values per patch through 32 channels; base = 96 gave the most valid
  -- crystals there, sampling 3.3× slower)
  fast = {base = 32, mults = {1, 2}, nres = 1, attn = {}, groups = 8, patch = 4, lr = 1e-3},
  -- no patches, a narrow U-Net at full resolution: a sixth of small's
  -- weights, 1.5× its sampling time, the most valid crystals per
  -- training step of the presets measured (share/models/MODEL.md)
  compact = {base = 16, mults = {1, 2}, nres = 1, attn = {}, groups = 8, patch = 1, lr = 1e-3},
  -- for tests
  tiny = {base = 8, mults = {1, 2}, nres = 1, attn = {}, groups = 4, patch = 1, lr = 1e-3},
  -- not a U-Net: a network over the S-12 atom slots (nn.atom_net), each
  -- slot one token; consistent by construction (it emits each per-atom
  -- value once), global attention between the atoms
  atoms = {arch = "atoms", base = 128, depth = 4, groups = 8, lr = 1e-3, mask = true},
  -- the paper's kind of model: the default U-Net, no consistency projection
  paper = {base = 64, mults = {1, 2, 2}, nres = 2, attn = {8}, groups = 8, patch = 1,
           consistent = false},
}

-- β_t for t = 0..T-1: "cosine" (Nichol & Dhariwal) or "linear" (Ho et al.).
local function schedule(kind, T)
  local betas = {}
  if kind == "cosine" then
    local s = 0.008
    local function f(t) return math.cos((t / T + s) / (1 + s) * math.pi / 2) ^ 2 end
    for t = 0, T - 1 do betas[t + 1] = math.min(1 - f(t + 1) / f(t), 0.999) end
  elseif kind == "linear" then
    local lo, hi = 1e-4 * 1000 / T, 0.02 * 1000 / T
    for t = 0, T - 1 do betas[t + 1] = lo + (hi - lo) * t / math.max(T - 1, 1) end
  else
    error("bad option 'schedule' to 'diffusion' ('cosine' or 'linear' expected)", 3)
  end
  return betas
end

function M.diffusion(config)
  local cfg = copy_table(options.check("ct.models.diffusion", config, config_options("crystens.diffusion")))
  local preset = M.presets[cfg.preset or "default"]
  if not preset then
    error("bad option 'preset' to 'diffusion' (default, small, compact, fast, tiny, atoms or paper expected)", 2)
  end
  for k, v in pairs(preset) do if cfg[k] == nil then cfg[k] = v end end
  local defaults = {size = 32, timesteps = 1000, schedule = "cosine", target = "eps", lr = 2e-4,
                    ema = 0.999, clip = 1.0, consistent = true, min_snr = 5}
  for k, v in pairs(defaults) do if cfg[k] == nil then cfg[k] = v end end
  if cfg.target ~= "eps" and cfg.target ~= "v" and cfg.target ~= "x0" then
    error("bad option 'target' to 'diffusion' ('eps', 'v' or 'x0' expected)", 2)
  end
  if type(cfg.consistent) ~= "boolean" then
    error("bad option 'consistent' to 'diffusion' (boolean expected)", 2)
  end
  if type(cfg.min_snr) ~= "number" or not (cfg.min_snr > 0) then
    error("bad option 'min_snr' to 'diffusion' (a positive number expected)", 2)
  end
  -- each U-Net level halves the (patched) picture, which must divide evenly
  local unit = cfg.arch ~= "atoms" and (cfg.patch == 1 or cfg.patch == 2 or cfg.patch == 4)
               and cfg.patch * 2 ^ (#cfg.mults - 1) // 1 or 1
  if cfg.size % unit ~= 0 then
    options.error("ct.models.diffusion", "size", ("a multiple of %d (patch × 2^(levels - 1)) expected, got %d")
                  :format(unit, cfg.size), 2)
  end
  local self = setmetatable({kind = "crystens.diffusion", step = 0, batches_per_step = 1}, Diffusion)
  if cfg.scaler then self.scaler, cfg.scaler = cfg.scaler, nil end
  self.config = cfg
  self.betas = schedule(cfg.schedule, cfg.timesteps)
  self.alphas_cumprod = {}
  local p = 1
  for i, b in ipairs(self.betas) do p = p * (1 - b); self.alphas_cumprod[i] = p end
  if cfg.arch == "atoms" then
    if not cfg.consistent then
      error("bad option 'consistent' to 'diffusion' (the atoms network needs the consistency projection)", 2)
    end
    self.unet = nn.atom_net(cfg, function(x) return count_atoms(x, EMPTY_CUT) end)
  elseif cfg.patch == 1 then
    self.unet = nn.unet{in_ch = 4, size = cfg.size, base = cfg.base, mults = cfg.mults,
                        nres = cfg.nres, attn = cfg.attn, groups = cfg.groups}
  elseif cfg.patch == 2 or cfg.patch == 4 then
    self.unet = nn.patch_unet(cfg)
  else
    error("bad option 'patch' to 'diffusion' (1, 2 or 4 expected)", 2)
  end
  self.nets = {{"unet", self.unet}}
  self.optims = {{"unet", nn.adam(self.unet, {lr = cfg.lr, clip = cfg.clip})}}
  self.ema = nn.ema(self.unet, cfg.ema)
  self.emas = {{"unet", self.ema}}
  return self
end
M.builders["crystens.diffusion"] = M.diffusion

-- ᾱ_t for a 0-based timestep t (1 before the first step).
function Diffusion:abar(t) return t < 0 and 1 or self.alphas_cumprod[t + 1] end

-- An N×1×1×1 tensor of f(t_i) for the timesteps in list ts.
local function per_sample(ts, f)
  local v = {}
  for i, t in ipairs(ts) do v[i] = f(t) end
  return tensor.from(v):reshape{#ts, 1, 1, 1}
end

-- x_t = √ᾱ_t x0 + √(1-ᾱ_t) ε for per-sample 0-based timesteps ts.
function Diffusion:q_sample(x0, ts, eps)
  local a = per_sample(ts, function(t) return math.sqrt(self:abar(t)) end):to(x0:device())
  local b = per_sample(ts, function(t) return math.sqrt(1 - self:abar(t)) end):to(x0:device())
  return x0 * a + eps * b, a, b
end

-- One step: random timesteps and noise, MSE on the target (ε, v or x0),
-- Adam with clipping, EMA update.  Returns {loss}.
function Diffusion:train_step(batch)
  self:check_batch(batch, "train_step")
  local x0 = self:to_net(batch):to(self:device_name())
  local n, T, rng = x0:size(1), self.config.timesteps, tensor.default_rng()
  local ts = {}
  for i = 1, n do ts[i] = rng:int(T) - 1 end
  local eps = x0:new_randn(x0:shape())
  local xt, a, b = self:q_sample(x0, ts, eps)
  local kind, target = self.config.target, eps
  if kind == "v" then target = (eps * a):sub_(x0 * b) elseif kind == "x0" then target = x0 end
  self.unet:zero_grad()
  local natoms = self.config.consistent and count_atoms(x0:to("cpu"), EMPTY_CUT) or nil
  local out = self.unet:forward(xt, tensor.from(ts):to(x0:device()), natoms)
  local loss, g
  if self.config.consistent then
    loss, g = self:consistent_loss(out, xt, x0, ts, a, b, natoms)
  else
    loss, g = nn.mse(out, target)
  end
  self.unet:backward(g)
  self.optims[1][2]:step()
  self.step = self.step + 1
  -- warm-up of the average, so short runs sample from trained weights
  self.ema.decay = math.min(self.config.ema, (1 + self.step) / (10 + self.step))
  self.ema:update()
  return {loss = loss}
end

-- The loss of a consistent model: the network's output turned into its x0
-- estimate, projected onto consistent tensors (ct_consist.h), and compared
-- with x0 there.  Per sample the squared error is weighted as the target's
-- own loss weighs x0 errors (v: 1 + SNR, ε: SNR, x0: 1), truncated at
-- 1 + min_snr as Min-SNR weighting does (Hang et al. 2023), so the nearly
-- clean timesteps do not drown the rest.  Returns the loss and its gradient
-- with respect to the network's output.
function Diffusion:consistent_loss(out, xt, x0, ts, a, b, natoms)
  local kind, cap = self.config.target, 1 + self.config.min_snr
  local x0h
  if kind == "v" then x0h = (xt * a):sub_(out * b)
  elseif kind == "eps" then x0h = (xt - out * b):div_(a)
  else x0h = out end
  local dev = x0h:device()
  local y, state = self.scaler:project(x0h:to("cpu"), {natoms = natoms})
  y = y:to(dev)
  local w = per_sample(ts, function(t)
    local ab = self:abar(t)
    local snr = ab / (1 - ab)
    local wt = kind == "v" and 1 + snr or kind == "eps" and snr or 1
    return math.min(wt, cap)
  end):to(dev)
  local d = y - x0
  local numel = d:numel()
  local wd = d * w
  local loss = (wd * d):sum() / numel
  local gx0 = self.scaler:project_backward(state, wd:mul_(2 / numel):to("cpu")):to(dev)
  if kind == "v" then return loss, gx0:mul_(b):neg() end
  if kind == "eps" then return loss, (gx0 * b):div_(a):neg() end
  return loss, gx0
end

-- The network's clipped x0 and ε estimates at timestep t for x; a
-- consistent model projects x0 with the atom counts natoms (a list),
-- clipping as clip says ("means" or "copies"; nil: by the target).
function Diffusion:predict(x, t, natoms, clip)
  local n = x:size(1)
  local out = self.unet:forward(x, x:new_full({n}, t), natoms)
  local ab = self:abar(t)
  local sa, sb = math.sqrt(ab), math.sqrt(1 - ab)
  local x0
  if self.config.target == "v" then x0 = (x * sa):sub_(out * sb)
  elseif self.config.target == "x0" then x0 = out
  else x0 = (x - out * sb):div_(sa) end
  if self.config.consistent then
    -- clip = "copies" clips each copy of the x0 estimate before the
    -- projection, as a plain model's sampler does: with ε or v as target
    -- the copies differ by x_t's noise, and clipping them shrinks it
    -- (share/models/MODEL.md: more valid compositions, fewer failures).
    -- An x0-predicting network emits the copies itself and the loss only
    -- ever saw their mean, so single copies may lie outside [-1, 1]: its
    -- default is "means", where only the projection clamps, the means.
    clip = clip or (self.config.target == "x0" and "means" or "copies")
    if clip == "copies" then x0 = x0:clamp(-1, 1) end
    x0 = self.scaler:project(x0:to("cpu"), {natoms = natoms, clamp = true}):to(x:device())
  else
    x0 = x0:clamp(-1, 1)
  end
  return x0, (x - x0 * sa):div_(sb)
end

-- The timesteps DDIM visits: `steps` of them evenly spread, descending.
local function ddim_times(T, steps)
  local ts = {}
  for i = steps, 1, -1 do ts[#ts + 1] = math.floor((i - 1) * T / steps + 0.5) end
  ts[1] = T - 1
  return ts
end

-- sym: the symmetry guidance's settings (crystens.guide), with report the
-- table its outcomes go to and first the index of this chunk's first tensor.
function Diffusion:sample_chunk(n, opts, rng, bar, natoms, sym, first)
  local T, S = self.config.timesteps, self.config.size
  -- Noise is drawn on the host and copied: the same seed gives the same
  -- samples on the CPU and the GPU (up to rounding).
  local dev = self:device_name()
  local x = tensor.randn({n, 4, S, S}, rng):to(dev)
  local ddpm = (opts.method or (opts.steps and opts.steps < T and "ddim" or "ddpm")) == "ddpm"
  local ts = ddpm and ddim_times(T, T) or ddim_times(T, opts.steps or 50)
  local eta = opts.eta or (ddpm and 1 or 0)
  local tols = sym and guide.tolerances(sym, ts, T) or {}
  for i, t in ipairs(ts) do
    local tp = ts[i + 1] or -1
    local x0, eps = self:predict(x, t, natoms, opts.clip)
    -- the step goes towards the symmetric prediction with the network's own
    -- noise estimate (crystens.guide says why)
    if tols[i] then x0 = guide.step(self.scaler, x0, natoms, tols[i], sym, first) end
    local ab, abp = self:abar(t), self:abar(tp)
    if ddpm then
      -- the posterior q(x_{t-1} | x_t, x0) of Ho et al. (consecutive steps)
      local beta = 1 - ab / abp
      x = (x0 * (math.sqrt(abp) * beta / (1 - ab))):add_(x * (math.sqrt(1 - beta) * (1 - abp) / (1 - ab)))
      if tp >= 0 then x:add_(tensor.randn(x:shape(), rng):to(dev):mul_(math.sqrt(beta * (1 - abp) / (1 - ab)))) end
    else
      local sigma = eta * math.sqrt((1 - abp) / (1 - ab) * (1 - ab / abp))
      x = (x0 * math.sqrt(abp)):add_(eps * math.sqrt(math.max(0, 1 - abp - sigma * sigma)))
      if sigma > 0 then x:add_(tensor.randn(x:shape(), rng):to(dev):mul_(sigma)) end
    end
    if bar then bar.done = bar.done + 1; bar.bar:update(bar.done) end
    if interrupt.pending() then error("interrupted!", 0) end
  end
  return x:to("cpu")
end

local DIFFUSION_SAMPLE = {steps = "integer", eta = "number", seed = "integer", batch = "integer",
                         ema = "boolean", method = {"ddpm", "ddim"}, natoms = "integer|table",
                         clip = {"means", "copies"}, rng = "Rng", device = {"cpu", "cuda"},
                         symmetry = "table"}

-- Sample n tensors: DDIM with opts.steps (eta = 0 unless given), or DDPM
-- ancestral sampling over all timesteps (steps absent or method="ddpm").
-- With opts.symmetry (crystens.guide) the last part of sampling is guided
-- towards symmetric crystals, and a second result lists per tensor the
-- group its last guided step found.
function Diffusion:sample(n, opts)
  options.arg("model:sample", 1, n, "integer")
  opts = options.check("model:sample", opts, DIFFUSION_SAMPLE, 2)
  local sym = opts.symmetry and guide.settings("model:sample", opts.symmetry, 2)
  if sym and not self.config.consistent then
    error("bad option 'symmetry' to 'model:sample' (symmetry guidance needs a consistent model)", 2)
  end
  self:need_scaler("sample")
  local rng = sample_rng(opts)
  local use_ema = opts.ema ~= false
  local T = self.config.timesteps
  local per = (opts.method == "ddpm" or not opts.steps or opts.steps >= T) and T or opts.steps
  local natoms = self.config.consistent and math.type(n) == "integer" and n >= 1 and
                 self:atom_counts(n, opts, rng) or nil
  if opts.clip ~= nil and opts.clip ~= "means" and opts.clip ~= "copies" then
    error("bad option 'clip' to 'sample' ('means' or 'copies' expected)", 2)
  end
  -- opts.device: sample there, and move the networks back after.
  local home = self:device_name()
  if opts.device then self:to(opts.device) end
  -- the bar counts denoising steps (of every chunk), not samples × steps
  local chunks = -(-n // (opts.batch or 64))
  local bar = {bar = require("crystens.progress").new(("sampling %s, step"):format(n), chunks * per),
               done = 0}
  -- Ctrl-C is deferred to the end of a step, so the weights are always swapped back.
  if use_ema then self.ema:swap() end
  local ok, out = pcall(interrupt.catch, in_chunks, n, opts, function(first, count)
    return self:sample_chunk(count, opts, rng, bar,
                             natoms and table.move(natoms, first, first + count - 1, 1, {}), sym, first)
  end)
  if use_ema then self.ema:swap() end
  if opts.device then self:to(home) end
  bar.bar:finish()
  if not ok then error(out, 2) end
  if sym then return self:to_raw(out), sym.report end
  return self:to_raw(out)
end

-- ---- The two-stage cascade (the paper's imagen setting) -------------------------

-- The paper's diffusion model is an imagen cascade: a U-Net generating the
-- 64×64 tensor downsampled to 32×32, and a super-resolution network
-- generating the 64×64 tensor conditioned on the low-resolution one
-- upsampled, whose conditioning is noised in training at a random level
-- (imagen's noise augmentation, so the second stage learns to trust an
-- imperfect first stage) and at a fixed level in sampling.  Here the first
-- stage is a plain U-Net (M.presets[cfg.low_preset]; a downsampled tensor
-- is no CrysTens tensor, so no consistency projection applies to it), and
-- the second the consistent atom network with the conditioning's slots as
-- 21 more input features (its 20 slot features and the augmentation
-- level).  Downsampling is imagen-pytorch's default, nearest (every other
-- row and column), or "mean" (2×2 averages); upsampling repeats each value
-- 2×2.  Both stages train on every batch; a checkpoint holds both.
local Cascade = setmetatable({}, {__index = Model})
Cascade.__index = Cascade

-- x: N×4×S×S (network units) -> N×4×S/2×S/2, and back.
local function downsample(x, how)
  local n, s = x:size(1), x:size(3)
  local h = s // 2
  local v = x:reshape{n * 4, h, 2, h, 2}
  if how == "mean" then return v:sum_to{n * 4, h, 1, h, 1}:reshape{n, 4, h, h}:mul_(0.25) end
  return v:slice(3, 1, 1):slice(5, 1, 1):reshape{n, 4, h, h}
end

local function upsample(y)
  local n, h = y:size(1), y:size(3)
  return (tensor.full({n * 4, h, 2, h, 2}, 0) + y:reshape{n * 4, h, 1, h, 1}):reshape{n, 4, 2 * h, 2 * h}
end

-- The first stage works on tensors that are in network units already.
local IDENTITY = {scale = function(_, x) return x end, unscale = function(_, x) return x end}

function M.cascade(config)
  local cfg = copy_table(options.check("ct.models.cascade", config, config_options("crystens.cascade")))
  local defaults = {size = 64, low_preset = "small", downsample = "nearest", aug = 0.2,
                    aug_sample = 0.1, target = "v", timesteps = 1000, min_snr = 5,
                    base = 128, depth = 4, ema = 0.999, lr = 1e-3}
  for k, v in pairs(defaults) do if cfg[k] == nil then cfg[k] = v end end
  cfg.consistent = true
  log2_int(cfg.size, "cascade")
  if cfg.size < 32 then error("bad option 'size' to 'cascade' (32 or more expected)", 2) end
  if cfg.downsample ~= "nearest" and cfg.downsample ~= "mean" then
    error("bad option 'downsample' to 'cascade' ('nearest' or 'mean' expected)", 2)
  end
  for _, k in ipairs{"aug", "aug_sample"} do
    if type(cfg[k]) ~= "number" or cfg[k] < 0 or cfg[k] >= 1 then
      error(("bad option '%s' to 'cascade' (a fraction of the timesteps from 0 to below 1 expected)"):format(k), 2)
    end
  end
  if not M.presets[cfg.low_preset] or M.presets[cfg.low_preset].arch then
    error("bad option 'low_preset' to 'cascade' (a U-Net preset of diffusion expected)", 2)
  end
  local self = setmetatable({kind = "crystens.cascade", config = cfg, step = 0, batches_per_step = 1}, Cascade)
  if cfg.scaler then self.scaler, cfg.scaler = cfg.scaler, nil end
  self.low = M.diffusion{size = cfg.size // 2, preset = cfg.low_preset, consistent = false,
                         target = cfg.target, timesteps = cfg.timesteps, ema = cfg.ema, lr = cfg.lr}
  self.low.scaler = IDENTITY
  self.sr = M.diffusion{size = cfg.size, preset = "atoms", cond = true, target = cfg.target,
                        timesteps = cfg.timesteps, min_snr = cfg.min_snr, base = cfg.base,
                        depth = cfg.depth, ema = cfg.ema, lr = cfg.lr}
  self.nets = {{"low", self.low.unet}, {"sr", self.sr.unet}}
  self.optims = {{"low", self.low.optims[1][2]}, {"sr", self.sr.optims[1][2]}}
  self.emas = {{"low", self.low.ema}, {"sr", self.sr.ema}}
  self:sync()
  return self
end
M.builders["crystens.cascade"] = M.cascade

-- The second stage samples with the cascade's scaler and atom counts.
function Cascade:sync()
  self.sr.scaler, self.sr.config.natoms = self.scaler, self.config.natoms
  self.low.step, self.sr.step = self.step, self.step
end

function Cascade:fit_scaler(data)
  Model.fit_scaler(self, data)
  self:sync()
  return self
end

function Cascade:load_state(...)
  Model.load_state(self, ...)
  self:sync()
  return self
end

function Cascade:init_from(path)
  Model.init_from(self, path)
  self:sync()
  return self
end

-- Warm-start the super-resolution network from a saved atom network
-- (Model:init_from: the conditioning's input weights start at zero, so it
-- computes what the saved network did).
function Cascade:init_sr_from(path)
  self.sr:init_from(path)
  return self
end

-- The conditioning of the second stage: the low-resolution tensor noised
-- to level (a 0-based timestep of the schedule) and upsampled.
function Cascade:condition(low, levels, rng)
  local eps = tensor.randn(low:shape(), rng)
  local noised = self.low:q_sample(low, levels, eps)
  local T = self.config.timesteps
  local frac = {}
  for i, l in ipairs(levels) do frac[i] = l / T end
  self.sr.unet.cond = {x = upsample(noised), level = frac}
end

-- One step of each stage on the same batch: the first on its downsampled
-- tensors, the second conditioned on them, augmented at random levels up
-- to aug × timesteps.  Returns {low, sr}: the two losses.
function Cascade:train_step(batch)
  self:check_batch(batch, "train_step")
  local x0 = self:to_net(batch)
  local low = downsample(x0, self.config.downsample)
  self:sync()
  local l1 = self.low:train_step(low)
  local rng, levels = tensor.default_rng(), {}
  local top = math.max(1, math.floor(self.config.aug * self.config.timesteps))
  for i = 1, x0:size(1) do levels[i] = rng:int(top) - 1 end
  self:condition(low, levels)
  local l2 = self.sr:train_step(batch)
  self.sr.unet.cond = nil
  self.step = self.step + 1
  self:sync()
  return {low = l1.loss, sr = l2.loss}
end

-- Sample n tensors: the first stage (DDIM with opts.steps, clipped to
-- [-1, 1]), then the second conditioned on it upsampled and noised to
-- opts.aug (default config.aug_sample) of the timesteps, with atom counts
-- drawn as the single-stage model draws them.  Returns raw tensors.
local CASCADE_SAMPLE = options.merge(DIFFUSION_SAMPLE, {aug = "number"})
CASCADE_SAMPLE.device = nil   -- the cascade samples on the CPU only

function Cascade:sample(n, opts)
  options.arg("model:sample", 1, n, "integer")
  opts = options.check("model:sample", opts, CASCADE_SAMPLE, 2)
  self:need_scaler("sample")
  if n < 1 then error("bad argument #1 to 'model:sample' (a count ≥ 1 expected)", 2) end
  local rng = sample_rng(opts)
  local aug = opts.aug or self.config.aug_sample
  if type(aug) ~= "number" or aug < 0 or aug >= 1 then
    error("bad option 'aug' to 'sample' (a fraction of the timesteps from 0 to below 1 expected)", 2)
  end
  if opts.symmetry then guide.settings("model:sample", opts.symmetry, 2) end
  local natoms = self:atom_counts(n, opts, rng)
  local size, parts, report = opts.batch or 64, {}, {}
  for first = 1, n, size do
    local count = math.min(size, n - first + 1)
    local o = {steps = opts.steps or 50, eta = opts.eta, rng = rng, batch = count, ema = opts.ema,
               clip = opts.clip, natoms = table.move(natoms, first, first + count - 1, 1, {})}
    local low = self.low:sample(count, {steps = o.steps, eta = o.eta, rng = rng, batch = count, ema = o.ema})
    local levels = {}
    for i = 1, count do levels[i] = math.floor(aug * self.config.timesteps) end
    self:condition(low, levels, rng)
    o.symmetry = opts.symmetry
    local ok, x, got = pcall(self.sr.sample, self.sr, count, o)
    self.sr.unet.cond = nil
    if not ok then error(x, 2) end
    parts[#parts + 1] = x
    if got then table.move(got, 1, count, first, report) end
  end
  local x = #parts == 1 and parts[1] or tensor.cat(parts, 1)
  if opts.symmetry then return x, report end
  return x
end

-- One line for the REPL: a model table holds its schedules and layers, which
-- the table printer would spread over hundreds of lines.
local KIND_NAMES = {["crystens.gan"] = "GAN", ["crystens.wgan"] = "WGAN-GP",
                    ["crystens.diffusion"] = "diffusion", ["crystens.cascade"] = "cascade diffusion"}
function Model:__tostring()
  local c = self.config or {}
  local parts = {("%s model"):format(KIND_NAMES[self.kind] or tostring(self.kind)),
                 ("size %s"):format(tostring(c.size))}
  if c.preset then parts[#parts + 1] = "preset " .. c.preset end
  if c.conv then parts[#parts + 1] = "conv " .. c.conv end
  local n = self:nparams()
  parts[#parts + 1] = n >= 1e6 and ("%.2f M parameters"):format(n / 1e6)
                      or ("%d parameters"):format(n)
  parts[#parts + 1] = ("%d step%s trained"):format(self.step, self.step == 1 and "" or "s")
  return table.concat(parts, ", ")
end
GAN.__tostring, WGAN.__tostring, Diffusion.__tostring = Model.__tostring, Model.__tostring,
                                                         Model.__tostring
Cascade.__tostring, Cascade.__name = Model.__tostring, "Cascade"
GAN.__name, WGAN.__name, Diffusion.__name = "GAN", "WGAN", "Diffusion"

doc[Model.nparams] = "model:nparams() -> n. The number of trainable parameters of its networks."
doc[Model.lr] = "model:lr([v]) -> lr. The learning rate of its optimizers; with v, set it first."
doc[Model.load] = "model:load(path) -> model, meta. Load a checkpoint of the same kind into " ..
  "this model (networks, optimizer moments, EMA, scaler, step)."
doc[GAN.train_step] = "model:train_step(batch) -> {d, g, real, fake}. One discriminator and " ..
  "one generator step on a raw N×4×S×S batch: the BCE losses and the discriminator's mean " ..
  "probabilities for real and generated tensors."
doc[WGAN.train_step] = "model:train_step(batch) -> {critic, gp, w, g}. critic_steps critic " ..
  "updates and one generator update on a raw N×4×S×S batch (a batch of critic_steps×N rows)."
doc[Diffusion.train_step] = "model:train_step(batch) -> {loss}. One Adam step on the denoising " ..
  "loss (MSE of the predicted target) of a raw N×4×S×S batch at random timesteps."
doc[gan_sample] = "model:sample(n, [{seed=, batch=64, device=}]) -> tensor. n raw N×4×S×S CrysTens " ..
  "tensors from the generator on random latent vectors (batch norm in eval mode); " ..
  "ct.crystens.decode turns them into crystals."
doc[Model.to] = "model:to(device) -> model. Move the networks, optimizer moments and EMA " ..
  "to 'cuda' or 'cpu'; train_step and sample then run there (checkpoints stay device-free)."
doc[Diffusion.sample] = "model:sample(n, [{steps=50, eta=0, seed=, batch=64, ema=true, " ..
  "device=}]) -> tensor. n raw N×4×S×S CrysTens tensors: DDIM with steps, or DDPM ancestral " ..
  "sampling over every timestep without steps (or method='ddpm'); the EMA weights unless " ..
  "ema=false; device='cuda' samples on the GPU (the model moves there and back). " ..
  "ct.crystens.decode turns them into crystals."

doc[M] = "crystens.models: ct.models.gan, ct.models.wgan, ct.models.diffusion and " ..
  "ct.models.load; each model has train_step(batch) -> losses, sample(n, opts) -> " ..
  "N×4×S×S raw tensor, save(path), fit_scaler(data). Train with ct.train."
doc[M.gan] = "models.gan{size=64, latent=128, base=64, conv='2d'|'3d', lr=1e-4, " ..
  "betas={0.5,0.999}, consistent=false} -> model. Vanilla GAN with BCE: dense + transposed-convolution " ..
  "generator (batch norm, ReLU, tanh), convolutional discriminator (batch norm, " ..
  "LeakyReLU 0.2). conv='3d' treats the tensor as a 1-channel 4×S×S volume (the paper); " ..
  "'2d' (default) the 4 layers as channels. consistent=true draws each tensor's atom count " ..
  "from the training data (fit_scaler), gives it to the generator beside the latent vector " ..
  "and projects the generator's output onto consistent tensors (sc:project), in training " ..
  "and sampling (sample(n, {natoms=}) picks the counts). train_step -> {d, g, real, fake}."
doc[M.wgan] = "models.wgan{size=64, latent=128, base=64, conv='2d'|'3d', lr=1e-4, " ..
  "betas={0.5,0.9}, critic_steps=5, lambda=10, consistent=false} -> model. WGAN-GP: " ..
  "Wasserstein loss, gradient penalty, layer norm in the critic, critic_steps critic updates " ..
  "per generator update; consistent as for models.gan. train_step -> {critic, gp, w, g}."
doc[M.cascade] = "models.cascade{size=64, low_preset='small', downsample='nearest'|'mean', " ..
  "aug=0.2, aug_sample=0.1, target='v', base=128, depth=4, lr=1e-3} -> model. The paper's " ..
  "two-stage (imagen) diffusion model: a U-Net (diffusion preset low_preset) over the tensor " ..
  "downsampled to S/2, and a consistent super-resolution atom network at S conditioned on " ..
  "the low-resolution tensor upsampled and noised to a random level below aug of the " ..
  "timesteps in training (aug_sample in sampling). train_step -> {low, sr}; sample(n, " ..
  "{steps=50, seed=, natoms=, aug=, symmetry=}) runs both stages (symmetry guides the " ..
  "second as diffusion's sample does); init_sr_from(path) warm-starts the " ..
  "second stage from a saved atom-network diffusion model."
doc[M.diffusion] = "models.diffusion{size=32, base=64, mults={1,2,2}, nres=2, attn={8}, " ..
  "groups=8, patch=1, timesteps=1000, schedule='cosine'|'linear', target='eps'|'v'|'x0', " ..
  "lr=2e-4, ema=0.999, clip=1, consistent=true, min_snr=5, " ..
  "preset='default'|'small'|'compact'|'fast'|'tiny'|'atoms'|'paper'} -> model. " ..
  "DDPM with a U-Net predicting the noise, v = √ᾱ·ε − √(1−ᾱ)·x0, or x0 itself " ..
  "(on patch×patch patches when patch > 1; preset 'small' = base 32, one block per level, " ..
  "no attention, patch 2, lr 1e-3; 'fast' the same on 4×4 patches; 'compact' base 16, " ..
  "levels {1,2}, no patches; 'atoms' no U-Net but a network over the atom slots with " ..
  "self-attention, base 128, depth 4; 'paper' the default U-Net without the projection). " ..
  "consistent=true takes the loss after the " ..
  "consistency projection (sc:project; Min-SNR weights capped at 1+min_snr) and samples " ..
  "through it with atom counts drawn from the training set; false is the paper's plain model. " ..
  "sampling uses the EMA weights: sample(n, {steps=50, eta=0, seed=, batch=64, natoms=, " ..
  "clip='means'|'copies'}) is DDIM, " ..
  "without steps (or method='ddpm') DDPM ancestral sampling over all timesteps. " ..
  "symmetry={from=0.6, tol={3, 0.2}, min_distance=0.5} guides a consistent model's last " ..
  "from·T steps towards symmetric crystals (crystens.guide): each predicted crystal is made " ..
  "exactly symmetric in place (s:symmetrized) at a tolerance going from tol[1] to tol[2] Å " ..
  "and written back before the step; sample then also returns per tensor {number, symbol, " ..
  "nops, tol, move} of its last guided step."
doc[M.load] = "models.load(path) -> model, meta. Rebuild a model saved with model:save " ..
  "(networks, optimizer moments, EMA, scaler, step) from its checkpoint."
doc[Model.save] = "model:save(path, [meta]) -> model. Write the networks, Adam moments, EMA " ..
  "weights, scaler constants, step and RNG state to a safetensors file (atomically)."
doc[Model.fit_scaler] = "model:fit_scaler(data) -> model. Fit the input scaling " ..
  "(ct.crystens.scaler) on raw N×4×S×S training tensors."
doc[Model.export] = "model:export(path) -> model. Write what sampling needs: the networks' " ..
  "weights (the EMA average where there is one), scaler and config, without optimizer " ..
  "moments (a quarter of a checkpoint). models.load reads it."
doc[M.pretrained] = "models.pretrained([name='diffusion-atoms32']) -> model. A diffusion " ..
  "model shipped with crystens (share/models/; MODEL.md there says how each was trained and " ..
  "what it reaches), ready to sample: ct.models.pretrained():sample(16, {steps=50}). " ..
  "'diffusion-atoms32' is the consistent atom network (the default); 'diffusion-atoms64' the " ..
  "same at the paper's S = 64 (up to 52 atoms); 'gan-s64' and 'wgan-s64' the paper's GAN and " ..
  "WGAN-GP with consistent generators; 'diffusion-mpts52' the paper's plain U-Net, kept for " ..
  "the paper's comparison."

return M
