-- tests/cuda/train_step.lua - whole models on the GPU against the CPU: a
-- training step of the reference U-Net of bench/unet.lua (output, every
-- gradient, the weights after Adam) in fp32, TF32 and bf16; checkpoints
-- that do not depend on the device; ct.train and sampling with a device;
-- and the errors (no GPU for a CPU-only function, out of GPU memory,
-- Ctrl-C during GPU training).  Needs a GPU: without one it skips, saying why.
local T = require "tap"
local ct = require "crystens"
local nn, tensor, models = ct.nn, ct.tensor, ct.models

local devs, why = nn.devices()
if not devs[2] then
  T.skip("GPU tests", why or "no GPU")
  T.done()
  return
end

local seed = tonumber(os.getenv("CT_TEST_SEED")) or os.time()
print(string.format("# seed %d (CT_TEST_SEED=%d replays it)", seed, seed))

-- ‖a - b‖ / ‖b‖ on the CPU.
local function rel(a, b)
  a, b = a:to("cpu"), b:to("cpu")
  return (a - b):norm() / math.max(b:norm(), 1e-30)
end

T.test("devices: the GPU has a name and memory", function()
  local g = devs[2]
  print(string.format("# %s, %.1f GiB, capability %s", g.name, g.memory / 2^30, g.capability))
  T.eq(g.device, "cuda", "device")
  T.truthy(#g.name > 0 and g.memory > 2^30 and g.free <= g.memory, "name and memory")
end)

local CFG = {in_ch = 4, size = 32, base = 64, mults = {1, 2, 2}, nres = 2, attn = {8}, groups = 8}

-- One training step (forward, MSE, backward, Adam) of the reference U-Net on
-- device; returns the model, its output, loss, gradient and input gradient.
local function step_on(device, precision)
  tensor.seed(seed)
  local model = nn.unet(CFG)
  local opt = nn.adam(model, {lr = 1e-3, clip = 1.0})
  local rng = tensor.rng(seed + 1)
  local x, noise = tensor.randn({4, 4, 32, 32}, rng), tensor.randn({4, 4, 32, 32}, rng)
  local t = tensor.rand({4}, rng):mul_(1000)
  if device == "cuda" then
    model:to("cuda")
    nn.precision(precision or "fp32")
    x, noise, t = x:to("cuda"), noise:to("cuda"), t:to("cuda")
  end
  model:zero_grad()
  local out = model:forward(x, t)
  local loss, g = nn.mse(out, noise)
  local gx = model:backward(g)
  local _, grads = model:flat()
  grads = grads:clone()
  local norm = opt:step()
  nn.precision("fp32")
  return {model = model, out = out, loss = loss, grads = grads, gx = gx, norm = norm, opt = opt}
end

local cpu = step_on("cpu")

T.test("reference U-Net step, fp32: output, loss, every gradient and the weights after Adam", function()
  local gpu = step_on("cuda")
  T.eq(gpu.out:device(), "cuda", "the output's device")
  local e_out, e_g, e_gx = rel(gpu.out, cpu.out), rel(gpu.grads, cpu.grads), rel(gpu.gx, cpu.gx)
  print(string.format("# relative L2 errors: output %.2e, gradients %.2e, input gradient %.2e",
                      e_out, e_g, e_gx))
  T.truthy(e_out < 1e-4, "output matches")
  T.near(gpu.loss, cpu.loss, 1e-4 * cpu.loss, "loss")
  T.truthy(e_g < 1e-3, "gradients match")
  T.truthy(e_gx < 1e-3, "input gradient matches")
  T.near(gpu.norm, cpu.norm, 1e-3 * cpu.norm, "gradient norm (clipping)")
  -- per parameter, so a wrong small layer is not hidden by the big ones
  local pc, pg = cpu.model:parameters(), gpu.model:parameters()
  local worst, where = 0, ""
  for i, p in ipairs(pc) do
    local e = rel(pg[i].w, p.w)
    if e > worst then worst, where = e, p.name end
  end
  print(string.format("# weights after Adam: worst relative error %.2e (%s), all %.2e", worst,
                      where, rel((gpu.model:flat()), (cpu.model:flat()))))
  -- Adam's first step moves each weight by about ±lr whatever its gradient's
  -- size, so a gradient near 0 that rounds differently moves a small
  -- parameter (a zero-initialised bias) visibly: per parameter 1e-2, all 1e-4.
  T.truthy(worst < 1e-2, "weights after Adam match, worst " .. where)
  T.truthy(rel((gpu.model:flat()), (cpu.model:flat())) < 1e-4, "all weights after Adam match")
  local m, v = gpu.opt:moments()
  T.eq(m:device() .. v:device(), "cudacuda", "Adam's moments live on the GPU")
end)

for _, prec in ipairs{"tf32", "bf16"} do
  T.test("reference U-Net step, " .. prec .. ": close to fp32", function()
    local gpu = step_on("cuda", prec)
    local e_out, e_g = rel(gpu.out, cpu.out), rel(gpu.grads, cpu.grads)
    print(string.format("# %s: relative L2 errors: output %.2e, gradients %.2e", prec, e_out, e_g))
    local tol = prec == "tf32" and 2e-2 or 6e-2
    T.truthy(e_out < tol and e_g < tol, prec .. " within " .. tol)
  end)
end

T.test("a model on the GPU saves the same safetensors file as on the CPU", function()
  local dir = T.tmpdir()
  tensor.seed(seed)
  local a = nn.unet{in_ch = 4, size = 16, base = 16, mults = {1, 2}, nres = 1, attn = {}, groups = 4}
  local b = nn.unet{in_ch = 4, size = 16, base = 16, mults = {1, 2}, nres = 1, attn = {}, groups = 4}
  b:load_state(a:state())
  b:to("cuda")
  T.eq(b:device(), "cuda", "moved")
  local meta = {rng = "fixed"}
  a:save(dir .. "/cpu.safetensors", meta)
  b:save(dir .. "/gpu.safetensors", meta)
  local function read(p) local f = assert(io.open(p, "rb")); local s = f:read("a"); f:close(); return s end
  T.truthy(read(dir .. "/cpu.safetensors") == read(dir .. "/gpu.safetensors"), "identical bytes")
  -- and the other way: a file loads into a GPU model
  local c = nn.unet{in_ch = 4, size = 16, base = 16, mults = {1, 2}, nres = 1, attn = {}, groups = 4}
  c:to("cuda"):load(dir .. "/cpu.safetensors")
  T.eq(rel((c:flat()), (a:flat())), 0, "loaded onto the GPU")
  T.rmtree(dir)
end)

-- Crystals of the shipped sample, encoded at size s (up to n of them).
local function toy_data(n, s)
  local ds = ct.dataset.load((os.getenv("top_srcdir") or ".") .. "/share/sample/mpts_52_val_sample.csv")
  local list = {}
  for i = 1, #ds do
    if ds[i].natoms <= s - 12 and #list < n then list[#list + 1] = ds[i] end
  end
  return ct.crystens.encode(list, {size = s})
end

T.test("ct.train{device='cuda'}: trains, checkpoints, and the checkpoint samples on the CPU", function()
  local dir = T.tmpdir()
  local m = models.diffusion{size = 32, preset = "tiny", timesteps = 100, consistent = false}
  local r = ct.train{model = m, data = toy_data(16, 32), steps = 6, batch = 8, device = "cuda",
                     checkpoint = dir .. "/ck.safetensors", every = 3}
  T.eq(r.steps, 6, "steps")
  T.truthy(r.losses.loss == r.losses.loss, "finite loss")
  T.eq(m:device_name(), "cuda", "the model stays on the GPU")
  local back = models.load(dir .. "/ck.safetensors")
  T.eq((back.unet:flat()):device(), "cpu", "a checkpoint loads on the CPU")
  T.eq(rel((back.unet:flat()), (m.unet:flat())), 0, "with the GPU's weights")
  -- sampling: the same seed gives the same tensors on either device
  local a = back:sample(8, {steps = 10, seed = 3})
  local b = back:sample(8, {steps = 10, seed = 3, device = "cuda"})
  T.eq(b:device(), "cpu", "samples come back to the host")
  T.eq((back.unet:flat()):device(), "cpu", "the model moved back after sampling")
  local e = rel(b, a)
  print(string.format("# DDIM-10 samples, GPU vs CPU: relative L2 error %.2e", e))
  T.truthy(e < 1e-2, "GPU samples match the CPU's")
  T.rmtree(dir)
end)

T.test("the default preset (atoms, consistency projection through the host) trains on the GPU", function()
  local m = models.diffusion{size = 32, preset = "atoms", base = 32, depth = 1, timesteps = 100}
  local data = toy_data(8, 32)
  m:fit_scaler(data)
  local cpu_m = models.diffusion{size = 32, preset = "atoms", base = 32, depth = 1, timesteps = 100}
  cpu_m:fit_scaler(data)
  cpu_m.unet:load_state(m.unet:state())
  m:to("cuda")
  tensor.seed(seed)
  local batch = data:narrow(1, 8)
  local lg = m:train_step(batch).loss
  tensor.seed(seed)
  -- the CPU twin draws the same timesteps; its noise differs (Philox on the GPU)
  local lc = cpu_m:train_step(batch).loss
  print(string.format("# atoms loss: GPU %.4f, CPU %.4f", lg, lc))
  T.truthy(lg == lg and lg > 0, "finite loss")
end)

-- GAN (2-D and 3-D convolutions, batch norm) and WGAN-GP (layer norm, the
-- gradient penalty): one training step on each device from the same start
-- and the same draws (latent noise and interpolation factors are drawn on
-- the host), so the losses agree.
for _, case in ipairs{{"gan", "2d"}, {"gan", "3d"}, {"wgan", "2d"}} do
  T.test(case[1] .. " " .. case[2] .. ": a training step on the GPU matches the CPU", function()
    local data = toy_data(8, 32)
    local function make()
      tensor.seed(seed)
      -- critic_steps is WGAN-GP's alone: a GAN refuses it (strict options)
      return models[case[1]]{size = 32, latent = 16, base = case[2] == "3d" and 4 or 8,
                             conv = case[2], critic_steps = case[1] == "wgan" and 2 or nil}
             :fit_scaler(data)
    end
    local cpu_m, gpu_m = make(), make():to("cuda")
    tensor.seed(seed + 5)
    local lc = cpu_m:train_step(data)
    tensor.seed(seed + 5)
    local lg = gpu_m:train_step(data)
    local keys = {}
    for k, v in pairs(lc) do
      keys[#keys + 1] = string.format("%s %.5f/%.5f", k, lg[k], v)
      T.near(lg[k], v, 1e-3 * (1 + math.abs(v)), k)
    end
    table.sort(keys)
    print("# GPU/CPU: " .. table.concat(keys, ", "))
    local x = gpu_m:sample(3, {seed = 1})
    T.eq(x:device() .. table.concat(x:shape(), "x"), "cpu3x4x32x32", "samples on the host")
  end)
end

T.test("GPU temporaries are collected: 100 dropped tensors of 64 MiB do not pile up", function()
  collectgarbage()
  local like = tensor.new{1}:to("cuda")
  local before = nn.gpu_memory().in_use
  for _ = 1, 100 do local t = like:new_zeros{16 * 2^20} end
  local grew = nn.gpu_memory().in_use - before
  print(string.format("# after 6.4 GB of dropped tensors, %.0f MiB still held", grew / 2^20))
  T.truthy(grew < 2^30, "at most a collection threshold's worth held")
end)

T.test("errors: CPU input to a GPU model, GPU tensor to a CPU-only function", function()
  local m = nn.sequential{nn.linear(3, 2)}:to("cuda")
  T.raises(function() m:forward(tensor.new{1, 3}) end, "is on cuda")
  local g = tensor.new{2, 4, 16, 16}:to("cuda")
  T.raises(function() ct.crystens.decode(g) end, "GPU")
  T.raises(function() return g + tensor.new{2, 4, 16, 16} end, "different devices")
  -- the session goes on
  T.eq((g + 1):sum(), 2 * 4 * 16 * 16, "an op after the errors")
end)

local function shell(cmd)
  local f = io.popen(cmd .. " 2>&1")
  local out = f:read("a")
  local ok, _, code = f:close()
  return out, ok and 0 or code
end

T.test("out of GPU memory: a clear Lua error, and the session goes on", function()
  local out = shell(string.format([[CRYSTENS_GPU_MEMORY_LIMIT=64 %q -e '
    local t = ct.tensor
    local ok, err = pcall(function() return t.new{64, 1024, 1024}:to("cuda") end)
    print(ok, err)
    print("after", (t.new{4}:to("cuda") + 2):sum())']], os.getenv("CRYSTENS")))
  T.truthy(out:find("out of GPU memory", 1, true), "the error names it: " .. out)
  T.truthy(out:find("after\t8.0", 1, true), "a later op works: " .. out)
end)

T.test("Ctrl-C during GPU training stops at the next step and saves the checkpoint", function()
  local dir = T.tmpdir()
  -- One SIGINT, to the program alone (timeout without --foreground signals
  -- the whole process group too: two signals, and the second means "stop
  -- now"), once the log shows training under way (on a loaded machine the
  -- setup alone can take longer than any fixed wait).  Its messages go
  -- through 2>&1 of its own: shell's applies to the last command only.
  local out, code = shell(string.format([[
    %q -e '
      local m = ct.models.diffusion{size = 32, preset = "tiny", timesteps = 100, consistent = false}
      ct.train{model = m, data = ct.tensor.rand{64, 4, 32, 32}, steps = 1000000, batch = 8,
               device = "cuda", checkpoint = %q, every = 0, log = %q}' 2>&1 & pid=$!
    for i in $(seq 600); do
      [ -f %q ] && [ "$(wc -l < %q)" -ge 3 ] && break; sleep 0.1
    done
    kill -INT $pid; wait $pid]], os.getenv("CRYSTENS"), dir .. "/ck.safetensors",
    dir .. "/log.csv", dir .. "/log.csv", dir .. "/log.csv"))
  T.truthy(code ~= 0, "the run ends with an error status")
  T.truthy(out:find("checkpoint saved", 1, true), "it says the checkpoint was saved: " .. out)
  local m = models.load(dir .. "/ck.safetensors")
  T.truthy(m.step > 0, "the checkpoint holds the steps taken (" .. m.step .. ")")
  T.rmtree(dir)
end)

T.done()
