-- tests/lua/device.lua - devices from Lua where there is no GPU (CI, this
-- machine): every way of asking for the GPU fails with an error that says
-- what is missing, before anything is written, and the CPU path is
-- unchanged; the device-neutral helpers work on the CPU.  On a machine
-- with a GPU the "no GPU" cases skip (tests/cuda/ covers that side).
local T = require "tap"
local ct = require "crystens"
local nn, tensor, models = ct.nn, ct.tensor, ct.models

local devs, why = nn.devices()
local has_gpu = devs[2] ~= nil

T.test("devices(): the CPU first; without a GPU, the reason", function()
  T.eq(devs[1].device, "cpu", "first device")
  if not has_gpu then
    T.truthy(type(why) == "string" and (why:find("built without CUDA", 1, true) or
             why:find("libcuda.so.1", 1, true) or why:find("no CUDA device", 1, true) or
             why:find("plugin", 1, true)), "the reason names what is missing: " .. tostring(why))
  end
end)

T.test("tensors know their device; like:new_* make tensors beside like", function()
  local t = tensor.randn{2, 3}
  T.eq(t:device(), "cpu", "device")
  T.eq(t:to("cpu"), t, "to() the same device is the tensor itself")
  local z = t:new_zeros{4, 5}
  T.eq(z:device() .. table.concat(z:shape(), "x"), "cpu4x5", "new_zeros")
  T.eq(z:stats().max, 0, "zeros")
  T.eq(t:new_full({3}, 2.5):sum(), 7.5, "new_full")
  -- on the CPU, new_randn draws what tensor.randn draws
  tensor.seed(7)
  local a = tensor.randn{100}
  tensor.seed(7)
  local b = t:new_randn{100}
  T.eq((a - b):abs():stats().max, 0, "new_randn = tensor.randn on the CPU")
  local u = t:new_rand({1000}, tensor.rng(3)):stats()
  T.truthy(u.min >= 0 and u.max < 1, "new_rand in [0, 1)")
  T.raises(function() t:to("tpu") end, "unknown device 'tpu'")
  T.eq(tostring(t):find("cuda", 1, true), nil, "a CPU tensor prints no device")
end)

if has_gpu then
  T.skip("no GPU: the errors", "this machine has a GPU: " .. devs[2].name)
else
  T.test("no GPU: asking for it fails with the reason, and the session goes on", function()
    local t = tensor.randn{2, 3}
    local e = T.raises(function() t:to("cuda") end, "no GPU")
    T.truthy(e:find(why, 1, true), "the same reason as devices(): " .. e)
    T.raises(function() nn.precision("tf32") end, "no GPU")
    T.eq(nn.precision(), "fp32", "the precision stays fp32")
    T.raises(function() nn.gpu_memory() end, "no GPU")
    local m = nn.sequential{nn.linear(3, 2)}
    T.raises(function() m:to("cuda") end, "no GPU")
    T.eq(m:device(), "cpu", "the model stays on the CPU")
    T.eq(m:forward(t):numel(), 4, "and runs there")
  end)

  T.test("no GPU: ct.train{device='cuda'} fails before writing anything", function()
    local dir = T.tmpdir()
    local model = models.diffusion{size = 16, preset = "tiny", timesteps = 10, consistent = false}
    local ckpt = dir .. "/sub/ck.safetensors"
    T.raises(function()
      ct.train{model = model, data = tensor.rand{4, 4, 16, 16}, steps = 2, batch = 2,
               device = "cuda", checkpoint = ckpt, log = dir .. "/log.csv"}
    end, "no GPU")
    T.eq(io.open(dir .. "/sub"), nil, "no checkpoint directory")
    T.eq(io.open(dir .. "/log.csv"), nil, "no log")
    T.eq(model.step, 0, "no step taken")
    T.rmtree(dir)
  end)

  T.test("no GPU: sample(n, {device='cuda'}) fails and leaves the model on the CPU", function()
    local model = models.diffusion{size = 16, preset = "tiny", timesteps = 10, consistent = false}
    model:fit_scaler(tensor.rand{4, 4, 16, 16})
    T.raises(function() model:sample(2, {steps = 2, device = "cuda"}) end, "no GPU")
    T.eq(model:device_name(), "cpu", "model's device")
    T.eq(model:sample(2, {steps = 2, seed = 1}):size(1), 2, "sampling on the CPU still works")
  end)
end

T.test("ct.train: a bad device is refused by name", function()
  local model = models.diffusion{size = 16, preset = "tiny", timesteps = 10, consistent = false}
  T.raises(function()
    ct.train{model = model, data = tensor.rand{4, 4, 16, 16}, steps = 1, batch = 2, device = "gpu0"}
  end, "bad option 'device'")
end)

T.test("model:to('cpu') on a CPU model changes nothing: training goes on identically", function()
  local function run(move)
    tensor.seed(3)
    local m = models.diffusion{size = 16, preset = "tiny", timesteps = 10, consistent = false}
    local data = tensor.rand({4, 4, 16, 16}, tensor.rng(5))
    m:fit_scaler(data)
    if move then m:to("cpu") end
    for _ = 1, 2 do m:train_step(data) end
    return (m.unet:flat()):clone()
  end
  T.eq((run(false) - run(true)):abs():stats().max, 0, "weights after two steps")
end)

T.done()
