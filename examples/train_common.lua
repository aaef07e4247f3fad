-- train_common.lua: what examples/train_{gan,wgan,diffusion}.lua share —
-- command-line options, the shipped sample encoded at S, training with a
-- checkpoint and log under --out, and sampling (reconstructed to CIF) at the end.
local ct = require "crystens"

local M = {}

-- The options every recipe takes beside its own: where it trains and
-- samples (--device cpu|cuda: ct.train{device=}, model:sample{device=}) and
-- the GPU's GEMM precision (--precision fp32|tf32|bf16: ct.nn.precision),
-- with the values each allows, checked as ct.train checks its options.
M.shared = {device = {"cpu", "cuda"}, precision = {"fp32", "tf32", "bf16"}}

-- Parse --key value pairs over defaults (numbers stay numbers); --device
-- and --precision (M.shared) come with every recipe, default cpu and fp32,
-- and --snapshots N (M.train; 0, the default: none).
function M.options(defaults)
  local o = {device = "cpu", precision = "fp32", snapshots = 0}
  for k, v in pairs(defaults) do o[k] = v end
  local i = 1
  while arg[i] do
    local key = arg[i]:match("^%-%-(%w+)$")
    if not key or o[key] == nil or arg[i + 1] == nil then
      local keys = {}
      for k in pairs(defaults) do keys[#keys + 1] = "--" .. k end
      table.sort(keys)
      error("usage: " .. arg[0] .. " [" .. table.concat(keys, " V] [") .. " V] (at '" .. arg[i] .. "')", 0)
    end
    local v = arg[i + 1]
    if type(o[key]) == "number" then v = math.tointeger(tonumber(v)) or error("--" .. key .. " wants an integer", 0) end
    o[key] = v
    i = i + 2
  end
  local script = (arg[0] or "recipe"):match("[^/]*$")
  require("crystens.options").check(script, {device = o.device, precision = o.precision}, M.shared)
  -- a precision is the GPU's: on the CPU every product is fp32 already
  if o.precision ~= "fp32" and o.device ~= "cuda" then
    error(("bad option 'precision' to '%s' (%s is the GPU's precision: it needs --device cuda)")
          :format(script, o.precision), 0)
  end
  if o.snapshots < 0 then error("--snapshots wants a number of steps (0: none)", 0) end
  ct.file.mkdirs(o.out)
  return o
end

-- The crystals of one or more data files (comma-separated; "sample": the
-- shipped sample) that fit in an S×S tensor, encoded (raw units) with the
-- given species encoding ("z", the paper's, by default).
function M.data(size, paths, species)
  if paths == nil or paths == "sample" then paths = ct.datadir .. "/sample/mpts_52_val_sample.csv" end
  local crystals, max_atoms = {}, ct.crystens.layout.max_atoms(size)
  for path in paths:gmatch("[^,]+") do
    local ds = ct.dataset.load(path, {max_atoms = max_atoms})
    local before = #crystals
    for i = 1, #ds do if ds[i].natoms <= max_atoms then crystals[#crystals + 1] = ds[i] end end
    print(("%d crystals of %s fit at S=%d"):format(#crystals - before, path, size))
  end
  local data = ct.crystens.encode(crystals, {size = size, species = species or "z"})
  print(("training on %d crystals: %s"):format(#crystals, tostring(data)))
  return data
end

-- ct.train(topts), or with snapshots > 0 in runs of that many steps, each
-- followed by the sampling weights exported to OUT/step-K.safetensors (K
-- the step): a GAN's last step need not be its best.  The runs continue
-- one another from memory, so the steps are those of one run (a constant
-- learning rate: a cosine decay would restart with every run).  Returns
-- ct.train's result over all the runs.
function M.train(topts, snapshots, out)
  if snapshots <= 0 then return ct.train(topts) end
  if topts.decay == "cosine" then error("--snapshots needs --decay constant (a cosine decay spans one run)", 0) end
  local goal, total = topts.steps, {seconds = 0}
  repeat
    topts.steps = math.min(goal, (topts.model.step // snapshots + 1) * snapshots)
    local r = ct.train(topts)
    total.start = total.start or r.start
    total.steps, total.losses, total.checkpoint = r.steps, r.losses or total.losses, r.checkpoint
    total.seconds = total.seconds + r.seconds
    if r.steps % snapshots == 0 and r.steps > r.start then
      topts.model:export(("%s/step-%d.safetensors"):format(out, r.steps))
    end
  until topts.model.step >= goal
  local per = topts.batch * (topts.model.batches_per_step or 1)
  total.samples_per_s = per * (total.steps - total.start) / math.max(total.seconds, 1e-9)
  if total.steps == total.start then total.losses = nil end
  return total
end

-- --init: start model from a saved model's weights (Model:init_from, fresh
-- Adam moments), unless a checkpoint in --out resumes the run.  Returns true
-- when the run starts afresh without --init (a caller may warm-start then).
function M.init(model, o)
  local f = io.open(o.out .. "/ckpt.safetensors")
  if f then f:close() return false end
  if o.init ~= "" then model:init_from(o.init) return false end
  return true
end

-- Train (resuming from --out/ckpt.safetensors when it exists), plot the
-- losses, sample o.samples tensors with sample_opts and save them.
-- o.device and o.precision (M.options) say where both run.
function M.run(model, o, sample_opts)
  print(("%s: %d parameters"):format(model.kind, model:nparams()))
  local device = o.device or "cpu"
  if device == "cuda" then
    -- asked before the data is read: no GPU, no run
    local devs, why = ct.nn.devices()
    if not devs[2] then error("--device cuda: no GPU (" .. tostring(why) .. ")", 0) end
    ct.nn.precision(o.precision or "fp32")
    print(("training on %s (%s, %.0f GiB), precision %s"):format(devs[2].device, devs[2].name,
          devs[2].memory / 2^30, ct.nn.precision()))
  end
  local topts = {model = model, data = M.data(model.config.size, o.data, o.species), steps = o.steps,
                 batch = o.batch, seed = 1, checkpoint = o.out .. "/ckpt.safetensors", every = 100,
                 log = o.out .. "/log.csv", decay = o.decay, device = device}
  local r = M.train(topts, o.snapshots or 0, o.out)
  -- a rerun with nothing left to train ran no step (ct.train said so)
  if r.losses then
    local losses = {}
    for k, v in pairs(r.losses) do losses[#losses + 1] = ("%s %.4g"):format(k, v) end
    table.sort(losses)
    print(("trained steps %d to %d in %.1f s at %.1f samples/s on %s; last losses: %s"):format(
          r.start + 1, r.steps, r.seconds, r.samples_per_s, device, table.concat(losses, ", ")))
  end
  ct.train.plot(o.out .. "/log.csv", o.out .. "/loss.svg")
  -- the CPU is where a model samples by default (and the cascade's only place)
  if device ~= "cpu" then sample_opts.device = device end
  local x = model:sample(o.samples, sample_opts)
  x:save(o.out .. "/samples.npy")
  x[1]:save_png(o.out .. "/sample_1.png")
  local st = x:stats()
  print(("sampled %s (raw units: min %.3g, mean %.3g, max %.3g)"):format(tostring(x), st.min, st.mean, st.max))
  -- reconstruction: generated tensors back to crystals, written as CIF
  local structures = ct.crystens.decode(x)
  local kept = {}
  for _, s in ipairs(structures) do if s then kept[#kept + 1] = s end end
  print(("%d of %d samples reconstruct to crystals%s"):format(#kept, #structures,
        kept[1] and (", e.g. " .. tostring(kept[1])) or ""))
  local cif = {}   -- cif.write refuses crystals with overlapping atoms
  for _, s in ipairs(kept) do if (s:closest_pair() or math.huge) >= 0.5 then cif[#cif + 1] = s end end
  if cif[1] then ct.cif.write(cif, o.out .. "/samples.cif") end
  print("wrote " .. o.out .. "/{ckpt.safetensors, log.csv, loss.svg, samples.npy, sample_1.png" ..
        (cif[1] and ", samples.cif}" or "}") .. (#cif < #kept and
        (" (%d crystals with overlapping atoms left out of the CIF)"):format(#kept - #cif) or ""))
  if o.export and o.export ~= "" then
    model:export(o.export)
    print("exported the sampling weights to " .. o.export)
  end
  return x
end

return M
