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
-- a script exits 130) or exits with status 143 (SIGTERM).  Divergence (a
-- loss that is NaN, infinite or jumps a thousandfold, weights that blow
-- up) is looked for after every step, so it stops training with an error
-- naming the step before anything is saved: the checkpoint on disk is the
-- last good one.  Every option is checked before the first step.
--
-- Resuming compares the checkpoint's configuration with the model's and
-- refuses a difference, naming the field.  The log (CSV) is flushed row by
-- row and every write checked; on resume it is cut back to the
-- checkpoint's step, so after any kill it agrees with the checkpoint.
local tensor = require "crystens.tensor"
local core = require "crystens.nn_core"
local json = require "crystens.json"
local progress = require "crystens.progress"
local interrupt = require "crystens.interrupt"
local plot = require "crystens.plot"
local doc = require "crystens.doc"
local layout = require("crystens.crystens").layout
local options = require "crystens.options"

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
  if data == nil then error("bad option 'data' to 'ct.train' (a tensor or dataset expected)", 3) end
  local list, skipped, max_atoms = {}, 0, layout.max_atoms(size)
  for i = 1, #data do
    if data[i].natoms <= max_atoms then list[#list + 1] = data[i] else skipped = skipped + 1 end
  end
  if skipped > 0 then
    io.stderr:write(string.format("train: %d structures have more than %d atoms and are left out\n",
                                  skipped, max_atoms))
  end
  if #list == 0 then error("bad option 'data' to 'ct.train' (no structure fits the model's size)", 3) end
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

-- Make an existing log agree with a checkpoint of step last: keep its
-- header and the whole rows of steps ≤ last (a kill may have cut the last
-- row short, or left rows of steps the checkpoint never saw).  Returns the
-- header, or nil when the log holds none (missing, empty, or not ours).
local function trim_log(path, last)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  local header = text:match("^(step,[^\n]*)\n")
  if not header then return nil end
  local kept = {header}
  for line in text:sub(#header + 2):gmatch("([^\n]*)\n") do
    local step = tonumber(line:match("^([^,]*)"))
    if step and step <= last then kept[#kept + 1] = line end
  end
  plot.write(path, table.concat(kept, "\n") .. "\n")
  return header
end

local Log = {}
Log.__index = Log

-- The log of a run from step resumed_at: the rows of an earlier run are
-- kept up to that step, a fresh run starts an empty log.
local function open_log(path, resumed_at)
  if not path then return nil end
  local dir = path:match("^(.*)/[^/]*$")
  if dir and dir ~= "" then require("crystens.file").mkdirs(dir) end
  local header = resumed_at > 0 and trim_log(path, resumed_at) or nil
  -- "w" truncates in place: a link or a device stays what it is
  local f, err = io.open(path, header and "a" or "w")
  if not f then error("train: cannot open log: " .. err, 3) end
  return setmetatable({f = f, path = path, header = header}, Log)
end

-- Write a line and flush it, so the log on disk is never behind the
-- checkpoint however the process ends; a failed write is an error.
function Log:put(line)
  local ok, err = self.f:write(line, "\n")
  if ok then ok, err = self.f:flush() end
  if not ok then error(string.format("train: cannot write the log %s: %s", self.path, err), 0) end
end

function Log:write(step, losses, rate, seconds)
  if not self.keys then
    self.keys = sorted_keys(losses)
    local header = "step," .. table.concat(self.keys, ",") .. ",samples_per_s,seconds"
    if not self.header then
      self:put(header)
    elseif self.header ~= header then
      error(string.format("train: the log %s has the columns %s, this model writes %s: log to " ..
                          "another file", self.path, self.header, header), 0)
    end
  end
  local row = {string.format("%d", step)}
  for _, k in ipairs(self.keys) do row[#row + 1] = string.format("%.6g", losses[k] or 0 / 0) end
  row[#row + 1] = string.format("%.4g", rate)
  row[#row + 1] = string.format("%.3f", seconds)
  self:put(table.concat(row, ","))
end

function Log:close()
  if io.type(self.f) == "closed file" then return end
  local ok, err = self.f:close()
  if not ok then error(string.format("train: cannot write the log %s: %s", self.path, err), 0) end
end

local function finite(v) return v == v and math.abs(v) ~= math.huge end

-- Divergence, looked for after every step and so before any save: a loss
-- that is NaN or infinite, or that jumps past 1000 times its running mean
-- magnitude (plus 1); weights that are not finite, or whose RMS grows past
-- 100 times what it was when the run started (Adam at lr = 1e6 takes a
-- GAN's generator from RMS 0.16 to 1e6 in one step with finite losses).
local Guard = {}
Guard.__index = Guard

local function rms(net)
  local w = net:flat()
  return w:norm() / math.sqrt(math.max(w:numel(), 1))
end

local function new_guard(model, ckpt)
  local g = setmetatable({model = model, ckpt = ckpt, start = {}, mean = {}, seen = 0}, Guard)
  for _, e in ipairs(model.nets) do g.start[e[1]] = rms(e[2]) end
  return g
end

function Guard:fail(step, what)
  local kept = self.ckpt and exists(self.ckpt)
  error(string.format("training diverged at step %d: %s; %s", step, what,
                      kept and ("the last good checkpoint is " .. self.ckpt)
                      or "no checkpoint was kept"), 0)
end

function Guard:check(losses, step)
  self.seen = self.seen + 1
  for _, k in ipairs(sorted_keys(losses)) do
    local v = losses[k]
    if not finite(v) then self:fail(step, string.format("loss '%s' is %s", k, tostring(v))) end
    local mean = self.mean[k]
    if mean and self.seen > 10 and math.abs(v) > 1000 * (mean + 1) then
      self:fail(step, string.format("loss '%s' jumped to %.4g (running mean magnitude %.4g)", k, v,
                                    mean))
    end
    self.mean[k] = mean and mean + 0.05 * (math.abs(v) - mean) or math.abs(v)
  end
  for _, e in ipairs(self.model.nets) do
    local r, r0 = rms(e[2]), self.start[e[1]]
    if not finite(r) or r > 100 * math.max(r0, 0.01) then
      self:fail(step, string.format("the weights of '%s' reached RMS %.4g (%.4g at the start)",
                                    e[1], r, r0))
    end
  end
end

-- Read a checkpoint to resume from and check that it was made by a model
-- like this one: a rerun with another configuration must not continue
-- (or fail half-way into) the old run.
local function resume(model, path, steps)
  local names, ts, meta = core.load(path)
  if meta.kind ~= model.kind then
    error(string.format("train: %s holds a '%s' model, not '%s': train into another " ..
                        "checkpoint, or pass resume = false to start over", path,
                        tostring(meta.kind), model.kind), 0)
  end
  local ok, saved = pcall(json.decode, meta.config or "{}")
  if not ok or type(saved) ~= "table" then
    error(string.format("train: %s: the checkpoint's configuration is not readable", path), 0)
  end
  local keys, seen = {}, {}
  for _, t in ipairs{saved, model.config} do
    for k in pairs(t) do
      -- the scaler and the atom-count distribution are fitted from the data,
      -- not chosen: the checkpoint's are restored with it
      if not seen[k] and k ~= "scaler" and k ~= "natoms" then seen[k] = true; keys[#keys + 1] = k end
    end
  end
  -- a preset names many fields at once: say it first
  table.sort(keys, function(a, b) return (a == "preset") ~= (b == "preset") and a == "preset" or
                                         (a ~= "preset" and b ~= "preset" and a < b) end)
  local function show(v) return v == nil and "(unset)" or json.encode(v) end
  for _, k in ipairs(keys) do
    local a, b = show(saved[k]), show(model.config[k])
    if a ~= b then
      error(string.format("train: %s was trained with %s = %s, this model has %s = %s: train " ..
                          "into another checkpoint, or pass resume = false to start over",
                          path, k, a, k, b), 0)
    end
  end
  model:load_state(names, ts, meta, path)
  if model.step >= steps then
    io.stderr:write(string.format("train: already trained to step %d (steps = %d): nothing to do\n",
                                  model.step, steps))
  else
    io.stderr:write(string.format("train: resuming from step %d of %d (%s)\n", model.step, steps,
                                  path))
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
    error("bad option 'model' to 'ct.train' (a ct.models model expected)", 3)
  end
  -- every option is checked before anything is allocated or trained
  local steps, batch = opts.steps or 1000, opts.batch or 32
  local seed, every, ckpt = opts.seed or 0, opts.every or 500, opts.checkpoint
  local function bad(name, want)
    error(string.format("bad option '%s' to 'ct.train' (%s expected, got %s)", name, want,
                        tostring(opts[name])), 0)
  end
  local function int(name, v, lo, hi)
    if math.type(v) ~= "integer" or v < lo or v > hi then
      bad(name, string.format("an integer from %d to %d", lo, hi))
    end
  end
  int("steps", steps, 0, 1e9)
  int("batch", batch, 1, M.max_batch)
  int("every", every, 0, 1e9)
  int("seed", seed, math.mininteger, math.maxinteger)
  if opts.lr ~= nil and (type(opts.lr) ~= "number" or not finite(opts.lr) or opts.lr <= 0
                         or opts.lr > 10) then
    bad("lr", "a learning rate above 0 and at most 10")
  end
  if ckpt ~= nil and (type(ckpt) ~= "string" or ckpt == "") then bad("checkpoint", "a path") end
  if opts.log ~= nil and (type(opts.log) ~= "string" or opts.log == "") then bad("log", "a path") end
  local data = as_tensor(opts.data, model.config.size)
  model:check_batch(data, "train", true)
  if data:size(1) < 1 then error("bad option 'data' to 'ct.train' (no rows)", 3) end
  local bad_values = data:stats().nonfinite
  if bad_values > 0 then
    error(string.format("bad option 'data' to 'ct.train' (%d of its values are NaN or infinite)", bad_values), 3)
  end
  -- the GPU is asked for before anything is written: no GPU, no run
  if opts.device then model:to(opts.device) end
  local ckpt_dir = ckpt and ckpt:match("^(.*)/[^/]*$")
  if ckpt_dir and ckpt_dir ~= "" then require("crystens.file").mkdirs(ckpt_dir) end
  -- A fresh model resumes from an existing checkpoint; one that has trained
  -- already (in this session) continues from memory.
  if ckpt and opts.resume ~= false and model.step == 0 and exists(ckpt) then
    resume(model, ckpt, steps)
  elseif model.step == 0 then
    tensor.seed(seed)
  end
  if model.rng_state then
    tensor.default_rng():set_state(model.rng_state)
    model.rng_state = nil
  end
  local lr = opts.lr or model.config.lr
  if opts.decay ~= nil and opts.decay ~= "cosine" and opts.decay ~= "constant" then
    error("bad option 'decay' to 'ct.train' ('cosine' or 'constant' expected)", 3)
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
  local guard = new_guard(model, ckpt)
  local per = batch * (model.batches_per_step or 1)
  local bar = progress.new("training", math.max(steps - start, 0))
  local result = {start = start}
  local ok, err = pcall(interrupt.catch, function()
    local last_t = bar:elapsed()
    while model.step < steps do
      local step = model.step
      decay(step)
      local losses = model:train_step(gather(data, batch_rows(state, step, per)))
      guard:check(losses, step + 1)
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
  local closed, cerr = true, nil
  if log then closed, cerr = pcall(log.close, log) end
  local seconds = bar:finish()
  if not ok then error(err, 0) end
  if not closed then error(cerr, 0) end
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

-- The largest batch ct.train takes: a batch is held in memory whole, with
-- every activation of every layer (batch = 1e8 grew to 15.7 GB).
M.max_batch = 4096

local TRAIN = {model = "table", data = "Tensor|Dataset|table", steps = "integer", batch = "integer",
               lr = "number", seed = "integer", every = "integer", checkpoint = "string",
               log = "string", resume = "boolean", decay = {"constant", "cosine"},
               device = {"cpu", "cuda"}}

setmetatable(M, {__call = function(_, opts)
  if opts == nil then error("bad argument #1 to 'ct.train' (options table expected, got no value)", 2) end
  return run(options.check("ct.train", opts, TRAIN))
end})

doc[M] = "train{model=, data=tensor|dataset, steps=1000, batch=32, lr=, seed=0, " ..
  "checkpoint=path, every=500, log=path.csv, resume=true, decay='constant'|'cosine', " ..
  "device='cpu'|'cuda'} -> {steps, losses, seconds, " ..
  "samples_per_s}. Train a ct.models model: shuffled batches, a progress bar, periodic " ..
  "checkpoints, exact resume from an existing checkpoint, Ctrl-C/SIGTERM save and stop, " ..
  "an error naming the step on divergence (NaN/Inf or jumping loss, exploding weights), " ..
  "resuming refused when the checkpoint's configuration differs; batch ≤ 4096, lr ≤ 10; " ..
  "decay='cosine' lowers the learning rate " ..
  "from lr to 0 over the run; device='cuda' moves the model to the GPU first (checkpoints " ..
  "stay device-free). train.plot(log, svg) draws the losses."
doc[M.plot] = "train.plot(log_csv, [svg_path]) -> svg. The loss curves of a training log."

return M
