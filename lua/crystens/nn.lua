-- crystens.nn: neural networks built from the C layers of crystens.nn_core.
--
-- The maths is in C; this file is composition policy.  A module is either
-- a C Layer or a Lua table with forward/backward and a list of named
-- children; containers (sequential, residual blocks, the U-Net) are Lua.
--
--   local nn = ct.nn
--   local model = nn.sequential{nn.linear(4, 32), nn.silu(), nn.linear(32, 1)}
--   local opt = nn.adam(model, {lr = 1e-3, betas = {0.5, 0.9}})
--   for step = 1, 100 do
--     model:zero_grad()
--     local loss, grad = nn.mse(model:forward(x), y)
--     model:backward(grad)              -- returns dLoss/dx, accumulates params' g
--     opt:step()
--   end
--   model:save("m.safetensors", {step = 100})
--
-- Parameters live in one flat buffer per model (made the first time the
-- model's parameters, gradients or optimizer are asked for): compose first,
-- then train.  forward keeps references to its inputs for backward; do not
-- modify a tensor in place between the forward that used it and backward.

local core = require "crystens.nn_core"
local tensor = require "crystens.tensor"
local json = require "crystens.json"
local doc = require "crystens.doc"
local options = require "crystens.options"
local layout = require("crystens.crystens").layout

local M = {}

for _, name in ipairs{"linear", "conv2d", "conv3d", "convtranspose2d", "convtranspose3d",
                      "batchnorm", "groupnorm", "groupnorm_silu", "layernorm", "relu", "leaky_relu", "silu",
                      "sigmoid", "tanh", "upsample", "attention", "time_embedding",
                      "mse", "bce_logits", "wasserstein", "clip_grad_norm", "profile",
                      "sgemm_gflops", "winograd", "devices", "precision", "gpu_memory",
                      "gpu_sync"} do
  M[name] = core[name]
end

local function is_layer(m) return type(m) == "userdata" end

-- ---- Modules -----------------------------------------------------------------

local Module = {}
Module.__index = Module
M.Module = Module

-- Make a Lua module of class cls with named children {{name, module}, ...}.
function M.new_module(cls, children)
  return setmetatable({_children = children or {}, training = true}, cls)
end

-- Call fn(name, layer) for every C layer under m, depth first, in order.
local function walk(m, prefix, fn)
  if is_layer(m) then return fn(prefix, m) end
  for _, c in ipairs(m._children) do
    walk(c[2], prefix == "" and c[1] or prefix .. "." .. c[1], fn)
  end
end

function Module:layers()
  local out = {}
  walk(self, "", function(name, l) out[#out + 1] = {name = name, layer = l} end)
  return out
end

-- The flat weight and gradient buffers, made (or remade, if this model's
-- layers were since flattened into another model) on demand.
function Module:flat()
  local ls = self:layers()
  local first
  for _, e in ipairs(ls) do
    local ps = e.layer:parameters()
    if ps[1] then first = ps[1].w break end
  end
  if self._w and (not first or first:same_storage(self._w)) then return self._w, self._g end
  local list = {}
  for i, e in ipairs(ls) do list[i] = e.layer end
  self._w, self._g = core.flatten(list)
  return self._w, self._g
end

function Module:parameters()
  self:flat()
  local out = {}
  for _, e in ipairs(self:layers()) do
    for _, p in ipairs(e.layer:parameters()) do
      local entry = {name = e.name .. "." .. p.name, w = p.w, g = p.g}
      out[#out + 1] = entry
      out[entry.name] = entry
    end
  end
  return out
end

function Module:buffers()
  local out = {}
  for _, e in ipairs(self:layers()) do
    for _, b in ipairs(e.layer:buffers()) do
      local entry = {name = e.name .. "." .. b.name, w = b.w}
      out[#out + 1] = entry
      out[entry.name] = entry
    end
  end
  return out
end

-- Move the model (its flat buffers, buffers and everything that follows
-- it: optimizers and EMAs registered with follow) to device.
function Module:to(device)
  local w, g = self:flat()
  local list = {}
  for i, e in ipairs(self:layers()) do list[i] = e.layer end
  core.to_device(list, w, g, device)
  for f in pairs(self._followers or {}) do f:to(device) end
  return self
end

-- Where the model's parameters are: "cpu" or "cuda".
function Module:device()
  return (self:flat()):device()
end

-- Register x (with a :to(device) method) to move with the model.
function Module:follow(x)
  self._followers = self._followers or setmetatable({}, {__mode = "k"})
  self._followers[x] = true
end

function Module:nparams()
  return (self:flat()):numel()
end

function Module:zero_grad()
  local _, g = self:flat()
  g:fill(0)
  return self
end

function Module:train(on)
  if on == nil then on = true end
  self.training = on
  for _, e in ipairs(self:layers()) do e.layer:train(on) end
  return self
end

function Module:eval() return self:train(false) end

-- Names and tensors of everything a checkpoint holds: parameters, then buffers.
function Module:state()
  local names, ts = {}, {}
  for _, list in ipairs{self:parameters(), self:buffers()} do
    for _, e in ipairs(list) do
      names[#names + 1], ts[#ts + 1] = e.name, e.w
    end
  end
  return names, ts
end

-- Copy tensors into the parameters and buffers of the same names.
function Module:load_state(names, ts)
  local byname = {}
  for i, n in ipairs(names) do byname[n] = ts[i] end
  local mine, missing = {}, {}
  local pn, pt = self:state()
  for i, n in ipairs(pn) do
    local src = byname[n]
    if not src then
      missing[#missing + 1] = n
    else
      local a, b = table.concat(pt[i]:shape(), "x"), table.concat(src:shape(), "x")
      if a ~= b then error(string.format("checkpoint tensor '%s' is %s, the model's is %s", n, b, a), 2) end
      pt[i]:copy(src)
    end
    mine[n] = true
  end
  if #missing > 0 then
    error("checkpoint lacks " .. #missing .. " tensors of the model, e.g. '" .. missing[1] .. "'", 2)
  end
  for _, n in ipairs(names) do
    if not mine[n] then error("checkpoint tensor '" .. n .. "' is not in the model", 2) end
  end
  return self
end

-- Save parameters and buffers with metadata; kind and config (as JSON) come
-- from the model, rng defaults to the default generator's state.
function Module:save(path, meta)
  local m = {}
  for k, v in pairs(meta or {}) do
    m[k] = type(v) == "table" and json.encode(v) or tostring(v)
  end
  m.kind = m.kind or self.kind or "module"
  if self.config and not m.config then m.config = json.encode(self.config) end
  m.rng = m.rng or tensor.default_rng():state()
  local names, ts = self:state()
  for i, t in ipairs(ts) do ts[i] = t:to("cpu") end   -- files are device-free
  core.save(path, names, ts, m)
  return self
end

-- Load weights saved by save into this (identically built) model.
function Module:load(path)
  local names, ts, meta = core.load(path)
  self:load_state(names, ts)
  return self, meta
end

-- Builders by checkpoint kind, for nn.load; other modules register theirs.
M.builders = {}

function M.load(path)
  local names, ts, meta = core.load(path)
  local build = M.builders[meta.kind or ""]
  if not build then
    error(string.format("%s: no builder for model kind '%s'", path, tostring(meta.kind)), 2)
  end
  local model = build(meta.config and json.decode(meta.config) or {})
  model:load_state(names, ts)
  return model, meta
end

-- ---- Containers ------------------------------------------------------------------

local Sequential = setmetatable({}, {__index = Module})
Sequential.__index = Sequential

function M.sequential(list)
  local children = {}
  for i, m in ipairs(list) do children[i] = {tostring(i), m} end
  return M.new_module(Sequential, children)
end

function Sequential:forward(x)
  for _, c in ipairs(self._children) do x = c[2]:forward(x) end
  return x
end

function Sequential:backward(g, param_grads)
  for i = #self._children, 1, -1 do g = self._children[i][2]:backward(g, param_grads) end
  return g
end

-- Reshape everything but the batch dimension (dense -> conv and back).
local Reshape = setmetatable({}, {__index = Module})
Reshape.__index = Reshape

function M.reshape(shape)
  local m = M.new_module(Reshape)
  m.shape = shape
  return m
end

function Reshape:forward(x)
  self._in = x:shape()
  local s = {x:size(1)}
  for i, v in ipairs(self.shape) do s[i + 1] = v end
  return x:reshape(s)
end

function Reshape:backward(g)
  return g:reshape(self._in)
end

-- y = body(x) + skip(x), skip the identity when absent.
local Residual = setmetatable({}, {__index = Module})
Residual.__index = Residual

function M.residual(body, skip)
  return M.new_module(Residual, skip and {{"body", body}, {"skip", skip}} or {{"body", body}})
end

function Residual:forward(x)
  local body, skip = self._children[1][2], self._children[2] and self._children[2][2]
  return body:forward(x) + (skip and skip:forward(x) or x)
end

function Residual:backward(g, param_grads)
  local body, skip = self._children[1][2], self._children[2] and self._children[2][2]
  return body:backward(g, param_grads):add_(skip and skip:backward(g, param_grads) or g)
end

-- ---- Optimisation --------------------------------------------------------------

local Adam = {}
Adam.__index = Adam

-- Adam over the model's flat buffer; weight_decay is decoupled (AdamW)
-- unless decoupled = false; clip = max gradient norm before each step.
local ADAM = {lr = "number", betas = "table", eps = "number", weight_decay = "number",
              decoupled = "boolean", clip = "number"}

function M.adam(model, opts)
  opts = options.check("ct.nn.adam", opts, ADAM, 2)
  local betas = opts.betas or {0.9, 0.999}
  local w = model:flat()
  local self = setmetatable({model = model, clip = opts.clip}, Adam)
  self.state = core.adam_state(w:numel(), {
    lr = opts.lr or 1e-3, beta1 = betas[1], beta2 = betas[2], eps = opts.eps or 1e-8,
    weight_decay = opts.weight_decay or 0, decoupled = opts.decoupled ~= false})
  self.state:to(w:device())
  model:follow(self)
  return self
end

function Adam:to(device) self.state:to(device) end

-- One step; returns the gradient norm when clipping.
function Adam:step()
  local w, g = self.model:flat()
  local norm
  if self.clip then norm = core.clip_grad_norm(g, self.clip) end
  self.state:step(w, g)
  return norm
end

function Adam:zero_grad() self.model:zero_grad() end
function Adam:lr(v) return self.state:lr(v) end
function Adam:steps(n) return self.state:steps(n) end
function Adam:moments() return self.state:moments() end

-- Exponential moving average of a model's weights (for sampling).
local EMA = {}
EMA.__index = EMA

function M.ema(model, decay)
  local w = model:flat()
  local self = setmetatable({model = model, decay = decay or 0.999, w = w:clone()}, EMA)
  model:follow(self)
  return self
end

function EMA:to(device) self.w = self.w:to(device) end

function EMA:update()
  core.ema_update(self.w, (self.model:flat()), self.decay)
end

-- Exchange the model's weights with the average (call again to swap back).
function EMA:swap()
  local w = self.model:flat()
  local tmp = w:clone()
  w:copy(self.w)
  self.w = tmp
end

-- ---- WGAN-GP gradient penalty ------------------------------------------------------

-- P = λ·mean_i (‖∇x D(x_i)‖ - 1)²; adds ∇θ P to the critic's gradients and
-- returns P and the per-sample norms (N×1).  ∇θ‖∇x D‖ is a Hessian-vector
-- product, taken as a central difference of ∇θ D along v = ∇x D/‖∇x D‖:
--   ∇θ (∇x D·v) ≈ (∇θ D(x + h v) - ∇θ D(x - h v)) / 2h.
-- Samples must not interact in the critic (layernorm, not batchnorm).
local GP = {lambda = "number", h = "number"}

function M.gradient_penalty(critic, x, opts)
  opts = options.check("ct.nn.gradient_penalty", opts, GP, 3)
  local lambda, h = opts.lambda or 10, opts.h or 1e-2
  local n = x:size(1)
  local y = critic:forward(x)
  assert(y:numel() == n, "gradient_penalty: the critic must give one score per sample")
  local gx = critic:backward(y:new_full(y:shape(), 1), false)
  local g2 = gx:reshape{n, x:numel() // n}
  local norms = g2:square():sum_to{n, 1}:sqrt()
  local dev = norms - 1
  local penalty = lambda * dev:square():mean()
  local v = (g2 / norms:maximum(1e-12)):reshape(x:shape())
  local coef = (dev * (2 * lambda / n / (2 * h))):reshape(y:shape())
  critic:forward(x + v * h)
  critic:backward(coef)
  critic:forward(x - v * h)
  critic:backward(coef:neg())
  return penalty, norms
end

-- ---- The diffusion U-Net -------------------------------------------------------------

-- A residual block with a time-embedding bias:
--   h = conv1(silu(gn1(x))) + proj(silu(emb)); h = conv2(silu(gn2(h)))
--   y = skip(x) + h  (skip a 1×1 conv when channels change)
-- silu(gn(.)) is one fused layer (groupnorm_silu, which also adds the
-- embedding before gn2): the same parameters and values as the composition.
local ResBlock = setmetatable({}, {__index = Module})
ResBlock.__index = ResBlock

function M.resblock(cin, cout, temb, groups)
  local c = {
    {"norm1", M.groupnorm_silu(groups, cin)},
    {"conv1", M.conv2d(cin, cout, 3, {padding = 1})},
    {"temb_act", M.silu()}, {"temb_proj", M.linear(temb, cout)},
    {"norm2", M.groupnorm_silu(groups, cout)},
    {"conv2", M.conv2d(cout, cout, 3, {padding = 1})},
  }
  if cin ~= cout then c[#c + 1] = {"skip", M.conv2d(cin, cout, 1)} end
  local m = M.new_module(ResBlock, c)
  for _, e in ipairs(c) do m[e[1]] = e[2] end
  m.cout = cout
  return m
end

function ResBlock:forward(x, emb)
  local h = self.conv1:forward(self.norm1:forward(x))
  local e = self.temb_proj:forward(self.temb_act:forward(emb))
  h = self.conv2:forward(self.norm2:forward(h, e))
  return h:add_(self.skip and self.skip:forward(x) or x)
end

-- Returns the gradients of x and of emb.  The skip's gradient joins norm1's
-- inside its backward (one pass over x's gradient less).
function ResBlock:backward(g, param_grads)
  local gh, ge = self.norm2:backward(self.conv2:backward(g, param_grads), param_grads)
  local gemb = self.temb_act:backward(self.temb_proj:backward(ge, param_grads), param_grads)
  local gc = self.conv1:backward(gh, param_grads)
  local gx = self.norm1:backward(gc, param_grads, self.skip and self.skip:backward(g, param_grads) or g)
  return gx, gemb
end

-- y = x + attention(gn(x))
local AttnBlock = setmetatable({}, {__index = Module})
AttnBlock.__index = AttnBlock

function M.attnblock(ch, groups)
  local m = M.new_module(AttnBlock, {{"norm", M.groupnorm(groups, ch)}, {"attn", M.attention(ch)}})
  m.norm, m.attn = m._children[1][2], m._children[2][2]
  return m
end

function AttnBlock:forward(x)
  return self.attn:forward(self.norm:forward(x)):add_(x)
end

function AttnBlock:backward(g, param_grads)
  return self.norm:backward(self.attn:backward(g, param_grads), param_grads):add_(g)
end

local UNet = setmetatable({}, {__index = Module})
UNet.__index = UNet

local function contains(list, v)
  for _, x in ipairs(list) do if x == v then return true end end
  return false
end

-- The DDPM noise-prediction U-Net.  config: in_ch (4), size (32), base (64),
-- mults ({1, 2, 2}), nres (2), attn (resolutions with self-attention, {8}),
-- groups (8).  forward(x, t): x N×in_ch×size×size, t a tensor of N timesteps.
local UNET = {in_ch = "integer", size = "integer", base = "integer", mults = "table",
              nres = "integer", attn = "table", groups = "integer"}

function M.unet(config)
  local cfg = {}
  for k, v in pairs(options.check("ct.nn.unet", config, UNET)) do cfg[k] = v end
  cfg.in_ch, cfg.size, cfg.base = cfg.in_ch or 4, cfg.size or 32, cfg.base or 64
  cfg.mults, cfg.nres, cfg.attn = cfg.mults or {1, 2, 2}, cfg.nres or 2, cfg.attn or {8}
  cfg.groups = cfg.groups or 8
  local unit = 2 ^ (#cfg.mults - 1) // 1   -- each level halves the picture
  if cfg.size < unit or cfg.size % unit ~= 0 then
    options.error("ct.nn.unet", "size", ("a multiple of %d (2^(levels - 1)) expected, got %d")
                  :format(unit, cfg.size), 2)
  end
  local base, g, temb = cfg.base, cfg.groups, 4 * cfg.base
  local children = {}
  local function add(name, m) children[#children + 1] = {name, m} return m end
  local self = M.new_module(UNet, children)
  self.kind, self.config = "unet", cfg
  self.temb = add("temb", M.sequential{M.time_embedding(base), M.linear(base, temb), M.silu(),
                                        M.linear(temb, temb)})
  self.conv_in = add("conv_in", M.conv2d(cfg.in_ch, base, 3, {padding = 1}))
  self.down, self.up = {}, {}
  local skips, ch, res = {base}, base, cfg.size
  for i, mult in ipairs(cfg.mults) do
    for r = 1, cfg.nres do
      local blk = {res = add(string.format("down.%d.res.%d", i, r), M.resblock(ch, base * mult, temb, g))}
      ch = base * mult
      if contains(cfg.attn, res) then blk.attn = add(string.format("down.%d.attn.%d", i, r), M.attnblock(ch, g)) end
      self.down[#self.down + 1] = blk
      skips[#skips + 1] = ch
    end
    if i < #cfg.mults then
      self.down[#self.down + 1] = {downsample = add(string.format("down.%d.downsample", i),
                                                    M.conv2d(ch, ch, 3, {stride = 2, padding = 1}))}
      skips[#skips + 1] = ch
      res = res // 2
    end
  end
  self.mid1 = add("mid.res.1", M.resblock(ch, ch, temb, g))
  self.mid_attn = add("mid.attn", M.attnblock(ch, g))
  self.mid2 = add("mid.res.2", M.resblock(ch, ch, temb, g))
  for i = #cfg.mults, 1, -1 do
    local mult = cfg.mults[i]
    for r = 1, cfg.nres + 1 do
      local skip = table.remove(skips)
      local blk = {res = add(string.format("up.%d.res.%d", i, r), M.resblock(ch + skip, base * mult, temb, g)),
                   hch = ch}
      ch = base * mult
      if contains(cfg.attn, res) then blk.attn = add(string.format("up.%d.attn.%d", i, r), M.attnblock(ch, g)) end
      self.up[#self.up + 1] = blk
    end
    if i > 1 then
      self.up[#self.up + 1] = {upsample = add(string.format("up.%d.upsample", i),
                                              M.sequential{M.upsample(2), M.conv2d(ch, ch, 3, {padding = 1})})}
      res = res * 2
    end
  end
  self.norm_out = add("norm_out", M.groupnorm_silu(g, ch))
  self.conv_out = add("conv_out", M.conv2d(ch, cfg.in_ch, 3, {padding = 1}))
  return self
end
M.builders.unet = M.unet

-- One step of a block list entry: a resblock (+ attention) or a resampler.
local function block_forward(b, h, emb)
  if b.res then
    h = b.res:forward(h, emb)
    if b.attn then h = b.attn:forward(h) end
    return h
  end
  return (b.downsample or b.upsample):forward(h)
end

local function block_backward(b, g, gemb)
  if not b.res then return (b.downsample or b.upsample):backward(g) end
  if b.attn then g = b.attn:backward(g) end
  local gx, ge = b.res:backward(g)
  gemb:add_(ge)
  return gx
end

function UNet:forward(x, t)
  local emb = self.temb:forward(t)
  self._emb = emb
  local h = self.conv_in:forward(x)
  local hs = {h}
  for _, b in ipairs(self.down) do
    h = block_forward(b, h, emb)
    hs[#hs + 1] = h
  end
  h = self.mid2:forward(self.mid_attn:forward(self.mid1:forward(h, emb)), emb)
  for _, b in ipairs(self.up) do
    if b.res then h = tensor.cat({h, table.remove(hs)}, 2) end
    h = block_forward(b, h, emb)
  end
  return self.conv_out:forward(self.norm_out:forward(h))
end

-- Backward from the gradient of the predicted noise; returns dLoss/dx.
function UNet:backward(g)
  local gemb = self._emb:new_zeros(self._emb:shape())
  g = self.norm_out:backward(self.conv_out:backward(g))
  -- Up blocks in reverse meet the skips in the order they were pushed.
  local gskips = {}
  for i = #self.up, 1, -1 do
    local b = self.up[i]
    g = block_backward(b, g, gemb)
    if b.res then
      local c = g:size(2)
      gskips[#gskips + 1] = g:slice(2, b.hch + 1, c - b.hch)
      g = g:slice(2, 1, b.hch)
    end
  end
  local gx, ge = self.mid2:backward(g)
  gemb:add_(ge)
  gx = self.mid_attn:backward(gx)
  g, ge = self.mid1:backward(gx)
  gemb:add_(ge)
  for i = #self.down, 1, -1 do
    g = block_backward(self.down[i], g:add_(gskips[i + 1]), gemb)
  end
  g = self.conv_in:backward(g:add_(gskips[1]))
  self.temb:backward(gemb)
  return g
end

doc[M] = "crystens.nn: layers with explicit forward/backward (C), composed in Lua: " ..
  "nn.sequential, nn.residual, nn.reshape, nn.resblock, nn.attnblock, nn.unet; losses " ..
  "(mse, bce_logits, wasserstein), nn.adam (AdamW, clipping), nn.ema, " ..
  "nn.gradient_penalty (WGAN-GP); model:save(path, meta) and nn.load(path) use safetensors."
doc[M.new_module] = "nn.new_module(class, children) -> Module. A Lua module of class (a table " ..
  "with forward/backward, whose __index chains to nn.Module) over named children {{name, m}, ...}."
doc[M.sequential] = "nn.sequential{m1, m2, ...} -> Module. Apply the modules in turn."
doc[M.residual] = "nn.residual(body, [skip]) -> Module. body(x) + skip(x) (skip defaults to identity)."
doc[M.reshape] = "nn.reshape(shape) -> Module. Reshape each sample to shape (batch dimension kept)."
doc[M.resblock] = "nn.resblock(cin, cout, temb, groups) -> Module. The U-Net's residual block " ..
  "with a time-embedding bias; forward(x, emb) and backward(g) -> gx, gemb."
doc[M.attnblock] = "nn.attnblock(ch, groups) -> Module. x + attention(groupnorm(x))."
doc[M.unet] = "nn.unet{in_ch=4, size=32, base=64, mults={1,2,2}, nres=2, attn={8}, groups=8} " ..
  "-> Module. DDPM noise-prediction U-Net; forward(x, t) with t a tensor of N timesteps."
doc[M.adam] = "nn.adam(model, {lr=1e-3, betas={0.9, 0.999}, eps=1e-8, weight_decay=0, " ..
  "decoupled=true, clip=nil}) -> optimizer. opt:step() (returns the gradient norm when " ..
  "clipping), opt:lr([new]) for schedules, opt:steps(), opt:moments()."
doc[M.ema] = "nn.ema(model, [decay=0.999]) -> ema. ema:update() after each step; " ..
  "ema:swap() exchanges the model's weights with the average (and back)."
doc[M.gradient_penalty] = "nn.gradient_penalty(critic, x, {lambda=10, h=1e-2}) -> penalty, norms. " ..
  "WGAN-GP's λ·mean((‖∇x D‖-1)²); adds its parameter gradient (a finite-difference " ..
  "Hessian-vector product) into the critic's gradients."
doc[M.load] = "nn.load(path) -> model, meta. Rebuild a model saved with model:save from the " ..
  "builder registered for its kind (nn.builders[kind]) and load its weights."
doc[Module.save] = "model:save(path, [meta]) -> model. Write weights, buffers and metadata " ..
  "(kind, config as JSON, rng state, and meta's entries as strings) to a safetensors file."
doc[Module.to] = "model:to(device) -> model. Move the weights, gradients and buffers to " ..
  "\"cuda\" or \"cpu\" (one flat buffer there), with the model's optimizers and EMA; inputs " ..
  "must then be on that device (x:to(device))."
doc[Module.parameters] = "model:parameters() -> list. Entries {name, w, g}, also indexed by name."

-- ---- The GAN and WGAN-GP networks (crystens.models trains them) ---------------

-- Levels of a GAN network of size S (a power of two, checked by the model):
-- from S×S down to 4×4.
local function gan_levels(size) return math.floor(math.log(size, 2) + 0.5) - 2 end

-- Channel width of level i (1 = next to the S×S image).
local function width(cfg, i) return math.min(cfg.base * 2 ^ (i - 1), 512) // 1 end

-- Generator: dense to C×4×4 (×1 deep in 3-D), then transposed convolutions
-- doubling the size, batch norm and ReLU between, tanh at the end.  A
-- consistent generator also reads the atom count it must fill (one-hot,
-- beside the latent vector).
function M.gan_generator(cfg)
  local levels = gan_levels(cfg.size)
  local three = cfg.conv == "3d"
  local c0 = width(cfg, levels)
  local inputs = cfg.latent + (cfg.consistent and layout.max_atoms(cfg.size) or 0)
  local list = {M.linear(inputs, c0 * 16), M.reshape(three and {c0, 1, 4, 4} or {c0, 4, 4}),
                M.batchnorm(c0), M.relu()}
  for i = levels, 1, -1 do
    local cout = i == 1 and (three and 1 or 4) or width(cfg, i - 1)
    if three then
      -- depth 1 -> 2 -> 4 in the first two steps, then kept
      local deep = levels - i < 2
      list[#list + 1] = M.convtranspose3d(width(cfg, i), cout, {deep and 4 or 3, 4, 4},
        {stride = {deep and 2 or 1, 2, 2}, padding = {1, 1, 1}})
    else
      list[#list + 1] = M.convtranspose2d(width(cfg, i), cout, 4, {stride = 2, padding = 1})
    end
    if i > 1 then list[#list + 1] = M.batchnorm(cout); list[#list + 1] = M.relu() end
  end
  list[#list + 1] = M.tanh()
  if three then list[#list + 1] = M.reshape{4, cfg.size, cfg.size} end
  return M.sequential(list)
end

-- Discriminator / critic: strided convolutions halving the size down to
-- 4×4, norm ("batch" or "layer") and LeakyReLU(0.2), dense to one score.
function M.gan_discriminator(cfg, norm)
  local levels = gan_levels(cfg.size)
  local three = cfg.conv == "3d"
  local list = {}
  if three then list[1] = M.reshape{1, 4, cfg.size, cfg.size} end
  local cin, s = three and 1 or 4, cfg.size
  for i = 1, levels do
    local c = width(cfg, i)
    if three then
      list[#list + 1] = M.conv3d(cin, c, {3, 4, 4}, {stride = {1, 2, 2}, padding = {1, 1, 1}})
    else
      list[#list + 1] = M.conv2d(cin, c, 4, {stride = 2, padding = 1})
    end
    s = s // 2
    if i > 1 then
      if norm == "layer" then
        list[#list + 1] = M.layernorm(three and {c, 4, s, s} or {c, s, s})
      else
        list[#list + 1] = M.batchnorm(c)
      end
    end
    list[#list + 1] = M.leaky_relu(0.2)
    cin = c
  end
  local flat = cin * 16 * (three and 4 or 1)
  list[#list + 1] = M.reshape{flat}
  list[#list + 1] = M.linear(flat, 1)
  return M.sequential(list)
end

-- The atom network: the tensor read as a sequence of S-12 slots
-- (ct.crystens.slot_features: per slot the means of its header copies and
-- of its row and column of the interatomic block), a 1×1 convolution to
-- `base` channels, `depth` blocks of a residual block with the time
-- embedding (its 3×3 convolutions see the neighbouring slots, which the
-- atom order makes alike) and self-attention over all slots, and a 1×1
-- convolution to the 12 header values of each slot, written into all their
-- copies (ct.crystens.slot_scatter).  The interatomic block it leaves at 0:
-- the consistency projection derives it from the coordinates.  Why: every
-- per-atom value is emitted once, so the copies cannot disagree, and every
-- weight works on atoms and their relations, none on the pixels that only
-- repeat them.
local AtomNet = setmetatable({}, {__index = Module})
AtomNet.__index = AtomNet

local function slots() return require("crystens").crystens end

function M.atom_net(cfg, count_atoms)
  local c, g = cfg.base, cfg.groups
  local temb = 4 * c
  local children = {}
  local function add(name, m) children[#children + 1] = {name, m} return m end
  local m = M.new_module(AtomNet, children)
  m.temb = add("temb", M.sequential{M.time_embedding(c), M.linear(c, temb), M.silu(),
                                      M.linear(temb, temb)})
  m.mask, m.cond_input, m.count_atoms = cfg.mask, cfg.cond, count_atoms
  m.conv_in = add("conv_in", M.conv2d((cfg.mask and 21 or 20) + (cfg.cond and 21 or 0), c, 1))
  m.blocks = {}
  for i = 1, cfg.depth do
    m.blocks[i] = {res = add(("block.%d.res"):format(i), M.resblock(c, c, temb, g)),
                   attn = add(("block.%d.attn"):format(i), M.attnblock(c, g))}
  end
  m.norm_out = add("norm_out", M.groupnorm(g, c))
  m.act_out = add("act_out", M.silu())
  m.conv_out = add("conv_out", M.conv2d(c, layout.header, 1))
  return m
end

-- natoms (a list, one count per tensor) is the occupancy the projection
-- will impose; with config.mask the network reads it as one more feature,
-- so it knows which slots are atoms from the first, noisiest step on.
function AtomNet:forward(x, t, natoms)
  local emb = self.temb:forward(t)
  self._emb = emb
  local dev = x:device()
  local f = slots().slot_features(x:to("cpu")):to(dev)
  if self.mask then
    local n, T = f:size(1), f:size(3)
    natoms = natoms or self.count_atoms(x:to("cpu"))
    local v = {}
    for i = 1, n do for j = 1, T do v[(i - 1) * T + j] = j <= natoms[i] and 1 or 0 end end
    f = tensor.cat({f, tensor.from(v):reshape{n, 1, T, 1}:to(dev)}, 2)
  end
  if self.cond_input then
    -- a cascade's super-resolution stage (Cascade below) reads the
    -- upsampled low-resolution tensor's slots and its augmentation level
    local c = self.cond
    if not c or c.x:size(1) ~= x:size(1) then error("the super-resolution network has no conditioning for this batch", 3) end
    local n, T = f:size(1), f:size(3)
    local v = {}
    for i = 1, n do for j = 1, T do v[(i - 1) * T + j] = c.level[i] end end
    f = tensor.cat({f, slots().slot_features(c.x), tensor.from(v):reshape{n, 1, T, 1}}, 2)
  end
  local h = self.conv_in:forward(f)
  for _, b in ipairs(self.blocks) do h = b.attn:forward(b.res:forward(h, emb)) end
  local out = self.conv_out:forward(self.act_out:forward(self.norm_out:forward(h)))
  return slots().slot_scatter(out:to("cpu")):to(dev)
end

-- The parameters' gradients from the gradient of the output; the input is
-- data, so no gradient flows back to it.
function AtomNet:backward(g)
  local gemb = self._emb:new_zeros(self._emb:shape())
  g = slots().slot_scatter_backward(g:to("cpu")):to(g:device())
  g = self.norm_out:backward(self.act_out:backward(self.conv_out:backward(g)))
  for i = #self.blocks, 1, -1 do
    local b = self.blocks[i]
    local gx, ge = b.res:backward(b.attn:backward(g))
    gemb:add_(ge)
    g = gx
  end
  self.conv_in:backward(g)
  self.temb:backward(gemb)
end

-- The U-Net on p×p patches: a p×p stride-p convolution into 4p² channels
-- (learned, able to be lossless), the U-Net at S/p, and its transpose back.
local PatchUNet = setmetatable({}, {__index = Module})
PatchUNet.__index = PatchUNet

function M.patch_unet(cfg)
  local p, c = cfg.patch, 4 * cfg.patch * cfg.patch
  local children = {
    {"patch_in", M.conv2d(4, c, p, {stride = p})},
    {"unet", M.unet{in_ch = c, size = cfg.size // p, base = cfg.base, mults = cfg.mults,
                     nres = cfg.nres, attn = cfg.attn, groups = cfg.groups}},
    {"patch_out", M.convtranspose2d(c, 4, p, {stride = p})},
  }
  local m = M.new_module(PatchUNet, children)
  m.pin, m.net, m.pout = children[1][2], children[2][2], children[3][2]
  return m
end

function PatchUNet:forward(x, t)
  return self.pout:forward(self.net:forward(self.pin:forward(x), t))
end

function PatchUNet:backward(g)
  return self.pin:backward(self.net:backward(self.pout:backward(g)))
end

doc[M.gan_generator] = "gan_generator(cfg) -> Module. The paper's generator (Appendix B): dense " ..
  "to C×4×4, transposed convolutions (2-D, or 3-D with cfg.conv = '3d') doubling the size, " ..
  "batch norm and ReLU, tanh. cfg: size, latent, base, conv, consistent (the atom count " ..
  "one-hot beside the latent vector). ct.models.gan and ct.models.wgan build it."
doc[M.gan_discriminator] = "gan_discriminator(cfg, norm) -> Module. The paper's discriminator " ..
  "or critic: strided convolutions down to 4×4, norm ('batch' or 'layer') and LeakyReLU(0.2), " ..
  "dense to one score."
doc[M.atom_net] = "atom_net(cfg, count_atoms) -> Module. The atom network of the 'atoms' " ..
  "diffusion preset: the CrysTens read as its atom slots, residual blocks with the time " ..
  "embedding and self-attention over the slots, each slot's 12 values written into their " ..
  "copies. count_atoms(x) gives a batch's atom counts when forward is not told them."
doc[M.patch_unet] = "patch_unet(cfg) -> Module. nn.unet on p×p patches (cfg.patch): a " ..
  "stride-p convolution in, the U-Net at S/p, its transpose out."

return M
