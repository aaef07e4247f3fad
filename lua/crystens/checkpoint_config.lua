-- crystens.checkpoint_config: a checkpoint's configuration is checked before
-- a model is built from it, since building allocates what the configuration
-- says: a file of 680 KB whose JSON said nres = 1e5 or timesteps = 1e9
-- made ct.models.load climb to 15 GB.  Every field must be a documented one
-- within sane bounds, and the networks it describes must be no larger than
-- the weights the file holds.  Errors name the file and the field.
--
--   local cc = require "crystens.checkpoint_config"
--   config = cc.check(path, meta.kind, config, names, tensors)   -- or raises
--
-- The fields a kind accepts are the tables in cc.fields, one checker per
-- field; a new configuration field is registered by adding a line there:
--
--   cc.fields["crystens.diffusion"].consistent = cc.boolean
--   cc.fields["crystens.diffusion"].species = cc.one_of("atom", "periodic")
--
-- A field that changes the size of a network also belongs in least_weights
-- below, which bounds the weights a configuration implies.
local M = {}

-- Checkers: each returns nil when v is acceptable, else what was expected.
function M.integer(lo, hi)
  return function(v)
    if math.type(v) == "float" and v == math.floor(v) and math.abs(v) < 2 ^ 53 then
      v = math.tointeger(v)
    end
    if math.type(v) ~= "integer" or v < lo or v > hi then
      return string.format("an integer from %d to %d", lo, hi)
    end
  end
end

function M.number(lo, hi)
  return function(v)
    if type(v) ~= "number" or v ~= v or v < lo or v > hi then
      return string.format("a number from %g to %g", lo, hi)
    end
  end
end

function M.one_of(...)
  local allowed = {...}
  return function(v)
    for _, a in ipairs(allowed) do if v == a then return nil end end
    local shown = {}
    for i, a in ipairs(allowed) do shown[i] = string.format("%q", a) end
    return "one of " .. table.concat(shown, ", ")
  end
end

function M.boolean(v)
  if type(v) ~= "boolean" then return "true or false" end
end

-- A list of at most n entries, each passing check (an empty JSON list
-- decodes as an empty table).
function M.list(n, check, lo)
  return function(v)
    local what = (lo or 0) == n and string.format("a list of %d entries", n)
                 or string.format("a list of %d to %d entries", lo or 0, n)
    if type(v) ~= "table" or #v > n or #v < (lo or 0) then return what end
    for k in pairs(v) do
      if math.type(k) ~= "integer" or k < 1 or k > #v then return what end
    end
    for i = 1, #v do
      local why = check(v[i])
      if why then return string.format("a list whose entries are %s (entry %d)", why, i) end
    end
  end
end

local size = function(v)
  local why = M.integer(16, 256)(v)
  if why or v & (v - 1) ~= 0 then return "a power of two from 16 to 256" end
end

local gan = {
  size = size,
  latent = M.integer(1, 4096),
  base = M.integer(1, 512),
  conv = M.one_of("2d", "3d"),
  lr = M.number(0, 1e9),
  betas = M.list(2, M.number(0, 1), 2),
  consistent = M.boolean,
  natoms = M.list(244, M.integer(0, 1e12)),
}

local wgan = {critic_steps = M.integer(1, 100), lambda = M.number(0, 1e9)}
for k, v in pairs(gan) do wgan[k] = v end

-- The fields of each model kind.
M.fields = {
  ["crystens.gan"] = gan,
  ["crystens.wgan"] = wgan,
  ["crystens.diffusion"] = {
    size = size,
    preset = M.one_of("default", "small", "compact", "fast", "tiny", "atoms", "paper"),
    arch = M.one_of("unet", "atoms"),
    depth = M.integer(1, 64),
    base = M.integer(1, 1024),
    mults = M.list(8, M.integer(1, 16), 1),
    nres = M.integer(1, 16),
    attn = M.list(8, M.integer(1, 256)),
    groups = M.integer(1, 1024),
    patch = M.one_of(1, 2, 4),
    timesteps = M.integer(1, 100000),
    schedule = M.one_of("cosine", "linear"),
    target = M.one_of("eps", "v", "x0"),
    lr = M.number(0, 1e9),
    ema = M.number(0, 1),
    clip = M.number(0, 1e9),
    consistent = M.boolean,
    min_snr = M.number(0, 1e6),
    mask = M.boolean,
    cond = M.boolean,
    natoms = M.list(244, M.integer(0, 1e12)),
  },
  ["crystens.cascade"] = {
    size = size,
    low_preset = M.one_of("default", "small", "compact", "fast", "tiny", "paper"),
    downsample = M.one_of("nearest", "mean"),
    aug = M.number(0, 0.999),
    aug_sample = M.number(0, 0.999),
    target = M.one_of("eps", "v", "x0"),
    timesteps = M.integer(1, 100000),
    min_snr = M.number(0, 1e6),
    base = M.integer(1, 1024),
    depth = M.integer(1, 64),
    ema = M.number(0, 1),
    lr = M.number(0, 1e9),
    consistent = M.boolean,
    natoms = M.list(244, M.integer(0, 1e12)),
  },
}

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = tostring(k) end
  table.sort(ks)
  return ks
end

local function show(v)
  if type(v) == "table" then return require("crystens.json").encode(v) end
  return type(v) == "string" and string.format("%q", v) or tostring(v)
end

-- Weights the file holds for network net: its Adam moment has one entry
-- per weight; an exported file (no moments) has the network's tensors.
local function held(net, names, tensors)
  local n = 0
  for i, name in ipairs(names) do
    if name == "optim." .. net .. ".m" then return tensors[i]:numel() end
    if name:sub(1, #net + 1) == net .. "." then n = n + tensors[i]:numel() end
  end
  return n
end

local function width(cfg, i) return math.min(cfg.base * 2 ^ (i - 1), 512) // 1 end

-- Fewest weights each network of a configuration can have (counting only
-- the largest layers, with the smallest kernels any variant uses).
local function least_weights(kind, cfg)
  if kind == "crystens.cascade" then
    -- the second stage: the atom network's blocks
    local base = cfg.base or 128
    return {sr = (cfg.depth or 4) * 18 * base * base}, "base and depth"
  elseif kind == "crystens.diffusion" and cfg.arch == "atoms" then
    -- depth blocks, each a residual block of two 3×3 convolutions
    local base = cfg.base or 128
    return {unet = (cfg.depth or 4) * 18 * base * base}, "base and depth"
  elseif kind == "crystens.diffusion" then
    local base, nres, p = cfg.base or 64, cfg.nres or 2, cfg.patch or 1
    -- conv_in, then each level's blocks: at least one 3×3 convolution of
    -- its width in and out per block
    local n = 4 * p * p * base * 9
    for _, mult in ipairs(cfg.mults or {1, 2, 2}) do n = n + nres * 9 * (base * mult) ^ 2 end
    return {unet = n}, "base, mults, nres and patch"
  end
  local levels = math.floor(math.log(cfg.size or 64, 2) + 0.5) - 2
  local g = (cfg.latent or 128) * width(cfg, levels) * 16
  local d = 0
  for i = 2, levels do
    g = g + width(cfg, i) * width(cfg, i - 1) * 16
    d = d + width(cfg, i) * width(cfg, i - 1) * 16
  end
  local critic = kind == "crystens.wgan" and "critic" or "discriminator"
  return {generator = g, [critic] = d}, "size, latent and base"
end

-- Raise an error naming path and the field unless config (a decoded JSON
-- object) is a valid configuration of kind whose networks fit the tensors;
-- return config.
function M.check(path, kind, config, names, tensors)
  local fields = M.fields[kind]
  if not fields then return config end   -- the caller refuses an unknown kind
  if type(config) ~= "table" or (#config > 0 and not config.size) then
    error(string.format("%s: the checkpoint's configuration is not a JSON object", path), 3)
  end
  for _, k in ipairs(sorted_keys(config)) do
    local check = fields[k]
    if not check then
      -- the name comes from the file: no terminal control sequence reaches the terminal
      error(string.format("%s: unknown configuration field '%s' for a %s checkpoint (known: %s)",
                          path, k:gsub("[%c\127]", "?"), kind, table.concat(sorted_keys(fields), ", ")), 3)
    end
    local why = check(config[k])
    if why then
      error(string.format("%s: configuration field '%s' is %s, expected %s", path, k,
                          show(config[k]), why), 3)
    end
  end
  if kind == "crystens.diffusion" and config.groups and config.base
     and config.base % config.groups ~= 0 then
    error(string.format("%s: configuration field 'groups' (%d) does not divide 'base' (%d)", path,
                        config.groups, config.base), 3)
  end
  local least, which = least_weights(kind, config)
  for _, net in ipairs(sorted_keys(least)) do
    local have = held(net, names, tensors)
    if least[net] > have then
      error(string.format("%s: the configuration (%s) describes a '%s' of at least %.0f weights, " ..
                          "the file holds %d", path, which, net, least[net], have), 3)
    end
  end
  return config
end

return M
