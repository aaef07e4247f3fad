-- crystens.train: the training loop for ct.models, callable as ct.train{...}.
--
--   local m = ct.models.diffusion{size = 32, preset = "small"}
--   ct.train{model = m, data = tensors, steps = 2000, batch = 32, seed = 1,
--            checkpoint = "run/ckpt.safetensors", every = 500, log = "run/log.csv",
--            decay = "cosine"}    -- lr falls from lr to 0 over the steps
--   ct.train.plot("run/log.csv", "run/loss.svg")
--
-- Batches are drawn without replacement, one random permutation of the data
-- per epoch, each permutation a function of (seed, epoch) alone; every other
-- draw (noise, timesteps) comes from the default generator, whose state the
-- checkpoint stores.  So a run resumed from a checkpoint (the default for a
-- fresh model when the checkpoint file exists) continues exactly as the
-- uninterrupted run.
--
-- Signals (through ct.interrupt.catch): Ctrl-C or SIGTERM lets the current
-- step finish, saves the checkpoint, and then returns to the prompt (Ctrl-C;
-- a script exits 130) or exits with status 143 (SIGTERM).  A loss that is
-- NaN or infinite stops training with an error naming the step; the
-- checkpoint on disk is then the last good one.
local tensor = require "crystens.tensor"
local progress = require "crystens.progress"
local interrupt = require "crystens.interrupt"
local plot = require "crystens.plot"
local doc = require "crystens.doc"

local M = {}

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- The data as an N×4×S×S tensor: a tensor as is, a dataset or list of
-- structures encoded at the model's size (those too large for it left out).
local function as_tensor(data, size)
  local mt = getmetatable(data)
  if type(mt) == "table" and mt.__name == "crystens.Tensor" then return data end
  if data == nil then error("bad option 'data' to 'train' (a tensor or dataset expected)", 3) end
  local list, skipped = {}, 0
  for i = 1, #data do
    if data[i].natoms <= size - 12 then list[#list + 1] = data[i] else skipped = skipped + 1 end
  end
  if skipped > 0 then
    io.stderr:write(string.format("train: %d structures have more than %d atoms and are left out\n",
                                  skipped, size - 12))
  end
  if #list == 0 then error("bad option 'data' to 'train' (no structure fits the model's size)", 3) end
  return require("crystens").crystens.encode(list, {size = size})
end

-- Row indices of batch number b (0-based) of the given size.
local function batch_rows(state, b, size)
  local n, rows = state.n, {}
  for k = 0, size - 1 do
    local pos = b * size + k
    local epoch = pos // n
    local perm = state.perms[epoch]
    if not perm then
      local r = tensor.rng(state.seed * 1000003 + epoch)
      perm = {}
      for i = 1, n do perm[i] = i end
      for i = n, 2, -1 do
        local j = r:int(i)
        perm[i], perm[j] = perm[j], perm[i]
      end
      state.perms = {[epoch] = perm, [epoch - 1] = state.perms[epoch - 1]}
    end
    rows[k + 1] = perm[pos % n + 1]
  end
  return rows
end

-- The rows of data as one tensor (tensor.cat takes 64 at a time).
local function gather(data, rows)
  local groups = {}
  for first = 1, #rows, 64 do
    local parts = {}
    for i = first, math.min(first + 63, #rows) do parts[#parts + 1] = data:narrow(rows[i], 1) end
    groups[#groups + 1] = tensor.cat(parts, 1)
  end
  return #groups == 1 and groups[1] or tensor.cat(groups, 1)
end

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  table.sort(ks)
  return ks
end

-- Keep the header and the rows of steps ≤ last of an existing log.
local function trim_log(path, last)
  local f = io.open(path, "r")
  if not f then return end
  local kept = {}
  for line in f:lines() do
    local step = tonumber(line:match("^([^,]*)"))
    if #kept == 0 or (step and step <= last) then kept[#kept + 1] = line end
  end
  f:close()
  plot.write(path, table.concat(kept, "\n") .. "\n")
end

local Log = {}
Log.__index = Log

local function open_log(path, resumed_at)
  if not path then return nil end
  if resumed_at > 0 then trim_log(path, resumed_at) else os.remove(path) end
  local dir = path:match("^(.*)/[^/]*$")
  if dir and dir ~= "" then require("crystens.file").mkdirs(dir) end
  local fresh = not exists(path)
  local f, err = io.open(path, "a")
  if not f then error("train: cannot open log: " .. err, 3) end
  return setmetatable({f = f, fresh = fresh}, Log)
end

function Log:write(step, losses, rate, seconds)
  if not self.keys then
    self.keys = sorted_keys(losses)
    if self.fresh then self.f:write("step," .. table.concat(self.keys, ",") .. ",samples_per_s,seconds\n") end
  end
  local row = {string.format("%d", step)}
  for _, k in ipairs(self.keys) do row[#row + 1] = string.format("%.6g", losses[k] or 0 / 0) end
  row[#row + 1] = string.format("%.4g", rate)
  row[#row + 1] = string.format("%.3f", seconds)
  self.f:write(table.concat(row, ","), "\n")
end

local function finite(v) return v == v and math.abs(v) ~= math.huge end

local function check_losses(losses, step, ckpt)
  for _, k in ipairs(sorted_keys(losses)) do
    if not finite(losses[k]) then
      local kept = ckpt and exists(ckpt)
      error(string.format("training diverged at step %d: loss '%s' is %s; %s", step, k,
                          tostring(losses[k]), kept and ("the last good checkpoint is " .. ckpt)
                          or "no checkpoint was kept"), 0)
    end
  end
end

local function summary(losses)
  local out = {}
  for _, k in ipairs(sorted_keys(losses)) do out[#out + 1] = string.format("%s %.4g", k, losses[k]) end
  return table.concat(out, " ")
end

local function run(opts)
  local model = opts.model
  if type(model) ~= "table" or not model.train_step then
    error("bad option 'model' to 'train' (a ct.models model expected)", 3)
  end
  local data = as_tensor(opts.data, model.config.size)
  model:check_batch(data, "train", true)
  local steps, batch = opts.steps or 1000, opts.batch or 32
  local seed, every, ckpt = opts.seed or 0, opts.every or 500, opts.checkpoint
  if math.type(steps) ~= "integer" or steps < 0 then error("bad option 'steps' to 'train'", 3) end
  if math.type(batch) ~= "integer" or batch < 1 then error("bad option 'batch' to 'train'", 3) end
  local ckpt_dir = ckpt and ckpt:match("^(.*)/[^/]*$")
  if ckpt_dir and ckpt_dir ~= "" then require("crystens.file").mkdirs(ckpt_dir) end
  -- A fresh model resumes from an existing checkpoint; one that has trained
  -- already (in this session) continues from memory.
  if ckpt and opts.resume ~= false and model.step == 0 and exists(ckpt) then
    model:load(ckpt)
  elseif model.step == 0 then
    tensor.seed(seed)
  end
  if model.rng_state then
    tensor.default_rng():set_state(model.rng_state)
    model.rng_state = nil
  end
  local lr = opts.lr or model.config.lr
  if opts.decay ~= nil and opts.decay ~= "cosine" and opts.decay ~= "constant" then
    error("bad option 'decay' to 'train' ('cosine' or 'constant' expected)", 3)
  end
  -- cosine decay to 0 at `steps`, a function of the step alone (exact resume)
  local decay = opts.decay == "cosine" and function(step)
    model:lr(lr * 0.5 * (1 + math.cos(math.pi * math.min(step, steps) / math.max(steps, 1))))
  end or function() end
  if opts.lr then model:lr(opts.lr) end
  if not model.scaler then model:fit_scaler(data) end
  local meta = {seed = seed}
  local function save()
    if ckpt then model:save(ckpt, meta) end
  end
  local start = model.step
  local state = {n = data:size(1), seed = seed, perms = {}}
  local log = open_log(opts.log, start)
  local per = batch * (model.batches_per_step or 1)
  local bar = progress.new("training", math.max(steps - start, 0))
  local result = {start = start}
  local ok, err = pcall(interrupt.catch, function()
    local last_t = bar:elapsed()
    while model.step < steps do
      local step = model.step
      decay(step)
      local losses = model:train_step(gather(data, batch_rows(state, step, per)))
      check_losses(losses, step + 1, ckpt)
      local now = bar:elapsed()
      local rate = per * (model.step - start) / math.max(now, 1e-9)
      if log then log:write(model.step, losses, per / math.max(now - last_t, 1e-9), now) end
      last_t = now
      bar:update(model.step - start, string.format("%s  %.1f samples/s", summary(losses), rate))
      result.losses = losses
      if every > 0 and model.step % every == 0 then save() end
      local sig = interrupt.pending()
      if sig then
        save()
        if log then log.f:close() end
        -- the error is the one line the user sees (interrupt.catch passes it on)
        error(string.format("train: %s at step %d%s", sig, model.step,
                            ckpt and ("; checkpoint saved to " .. ckpt) or ""), 0)
      end
    end
  end)
  if log then pcall(log.f.close, log.f) end
  local seconds = bar:finish()
  if not ok then error(err, 0) end
  save()
  result.steps, result.seconds = model.step, seconds
  result.samples_per_s = per * (model.step - start) / math.max(seconds, 1e-9)
  result.checkpoint = ckpt
  return result
end

-- Write the loss curves of a training log as an SVG plot; returns the SVG.
function M.plot(log_path, svg_path)
  local cols = plot.read_csv(log_path)
  local series = {}
  for _, name in ipairs(cols.names) do
    if name ~= "step" and name ~= "samples_per_s" and name ~= "seconds" then
      series[#series + 1] = {name = name, y = cols[name]}
    end
  end
  return plot.lines{x = cols.step, series = series, title = "training losses", xlabel = "step",
                    ylabel = "loss", path = svg_path}
end

setmetatable(M, {__call = function(_, opts)
  if type(opts) ~= "table" then error("bad argument #1 to 'train' (a table of options expected)", 2) end
  return run(opts)
end})

doc[M] = "train{model=, data=tensor|dataset, steps=1000, batch=32, lr=, seed=0, " ..
  "checkpoint=path, every=500, log=path.csv, resume=true, decay='constant'|'cosine'} -> " ..
  "{steps, losses, seconds, " ..
  "samples_per_s}. Train a ct.models model: shuffled batches, a progress bar, periodic " ..
  "checkpoints, exact resume from an existing checkpoint, Ctrl-C/SIGTERM save and stop, " ..
  "an error naming the step on a NaN/Inf loss; decay='cosine' lowers the learning rate " ..
  "from lr to 0 over the run. train.plot(log, svg) draws the losses."
doc[M.plot] = "train.plot(log_csv, [svg_path]) -> svg. The loss curves of a training log."

return M
