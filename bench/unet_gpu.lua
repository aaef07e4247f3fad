-- bench/unet_gpu.lua - the reference U-Net of bench/unet.lua trained on the
-- GPU (forward + backward + Adam), crystens against PyTorch eager on the
-- same card in the same run (bench/unet_torch.py --gpu), S = 32 and 64,
-- batch 16, 64, 256, fp32 / TF32 / bf16: median ms per step, samples/s and
-- peak GPU memory of each; crystens on 2 CPU cores at S = 32 batch 16 as
-- the yardstick of the GPU's speed-up; and DDIM-50 sampling of 1,000
-- crystals at S = 32 and 64 (seconds).  On a machine without a GPU it says
-- why and stops.
--
--   crystens bench/unet_gpu.lua [steps=10] [sizes=32,64] [batches=16,64,256]
--                               [precisions=fp32,tf32,bf16]
local ct = require "crystens"
local nn, tensor = ct.nn, ct.tensor

local devs, why = nn.devices()
if not devs[2] then
  print("GPU benchmark skipped: " .. tostring(why))
  return
end

local function list(s, num)
  local out = {}
  for v in s:gmatch("[^,]+") do out[#out + 1] = num and tonumber(v) or v end
  return out
end
local steps = tonumber(arg[1]) or 10
local sizes = list(arg[2] or "32,64", true)
local batches = list(arg[3] or "16,64,256", true)
local precs = list(arg[4] or "fp32,tf32,bf16")
local here = arg[0]:match("^(.*)/[^/]*$") or "."

local function now()
  local f = io.popen("date +%s.%N")
  local s = tonumber(f:read("l"))
  f:close()
  return s
end

print(string.format("GPU: %s, %.1f GiB; %d timed steps per configuration", devs[2].name,
                    devs[2].memory / 2^30, steps))

-- One configuration on the GPU: median seconds per step and peak bytes.
local function gpu_run(size, batch, prec)
  nn.precision(prec)
  tensor.seed(0)
  local model = nn.unet{in_ch = 4, size = size, base = 64, mults = {1, 2, 2}, nres = 2,
                        attn = {8}, groups = 8}:to("cuda")
  local opt = nn.adam(model, {lr = 2e-4})
  local x = tensor.new{1}:to("cuda")
  x = x:new_randn{batch, 4, size, size}
  local noise = x:new_randn{batch, 4, size, size}
  local t = x:new_rand{batch}:mul_(1000)
  local function step()
    model:zero_grad()
    local _, g = nn.mse(model:forward(x, t), noise)
    model:backward(g)
    opt:step()
  end
  step()
  step()
  nn.gpu_sync()
  nn.gpu_memory(true)   -- restart the peak
  local times = {}
  for i = 1, steps do
    local t0 = now()
    step()
    nn.gpu_sync()
    times[i] = now() - t0
  end
  table.sort(times)
  local peak = nn.gpu_memory().peak
  model, opt, x, noise, t = nil, nil, nil, nil, nil
  collectgarbage()
  collectgarbage()
  nn.precision("fp32")
  return times[(#times + 1) // 2], peak
end

-- crystens on the CPU (CT_NUM_THREADS of the environment), S = 32 batch 16.
local function cpu_run()
  tensor.seed(0)
  local model = nn.unet{in_ch = 4, size = 32, base = 64, mults = {1, 2, 2}, nres = 2,
                        attn = {8}, groups = 8}
  local opt = nn.adam(model, {lr = 2e-4})
  local x, noise = tensor.randn{16, 4, 32, 32}, tensor.randn{16, 4, 32, 32}
  local t = tensor.rand{16}:mul_(1000)
  local best = math.huge
  for i = 1, 3 do
    local t0 = now()
    model:zero_grad()
    local _, g = nn.mse(model:forward(x, t), noise)
    model:backward(g)
    opt:step()
    if i > 1 then best = math.min(best, now() - t0) end
  end
  return best
end

local cpu_threads = os.getenv("CT_NUM_THREADS") or "all"
local cpu_s = cpu_run()
print(string.format("crystens CPU (CT_NUM_THREADS=%s), S=32 batch 16: %.3f s/step, %.1f samples/s",
                    cpu_threads, cpu_s, 16 / cpu_s))

local ours = {}
for _, s in ipairs(sizes) do
  for _, b in ipairs(batches) do
    for _, p in ipairs(precs) do
      local ok, med, peak = pcall(gpu_run, s, b, p)
      local key = s .. " " .. b .. " " .. p
      ours[key] = ok and {med = med, peak = peak} or {err = tostring(med)}
      print(string.format("crystens-gpu %s %s", key, ok and string.format("%.2f ms", med * 1e3)
                          or ("failed: " .. tostring(med))))
      io.stdout:flush()
    end
  end
end

nn.gpu_memory("release")   -- give PyTorch the memory crystens cached
local cmd = string.format("python3 %s/unet_torch.py --gpu %d %s %s %s 2>&1", here, steps,
                          table.concat(sizes, ","), table.concat(batches, ","),
                          table.concat(precs, ","))
local f = io.popen(cmd)
local lines = {}
for line in f:lines() do   -- as they come: a run cut short keeps what was measured
  lines[#lines + 1] = line
  print(line)
  io.stdout:flush()
end
f:close()
local out = table.concat(lines, "\n")
local theirs = {}
for s, b, p, ms, sps, mib in out:gmatch("torch%-gpu (%d+) (%d+) (%a+%d*) ([%d.]+) ([%d.]+) ([%d.]+)") do
  theirs[s .. " " .. b .. " " .. p] = {ms = tonumber(ms), mib = tonumber(mib)}
end
if not out:match("PyTorch ") then print("PyTorch side did not run") end

print("\n  S batch prec | crystens ms/step samples/s  peak MiB | PyTorch ms/step samples/s  peak MiB | speed-up | vs CPU")
for _, s in ipairs(sizes) do
  for _, b in ipairs(batches) do
    for _, p in ipairs(precs) do
      local key = s .. " " .. b .. " " .. p
      local o, th = ours[key], theirs[key]
      local left = o.med and string.format("%8.2f %9.1f %9.0f", o.med * 1e3, b / o.med, o.peak / 2^20)
                   or string.format("%28s", "failed")
      local right = th and string.format("%8.2f %9.1f %9.0f", th.ms, b / (th.ms / 1e3), th.mib)
                    or string.format("%28s", "-")
      local ratio = (o.med and th) and string.format("%6.2fx", th.ms / 1e3 / o.med) or "     -"
      -- against the CPU at S = 32 only: that is where the CPU was measured
      local vs_cpu = (o.med and s == 32) and string.format("%6.0fx", (b / o.med) / (16 / cpu_s)) or "     -"
      print(string.format("%3d %5d %4s | %s | %s | %s | %s", s, b, p, left, right, ratio, vs_cpu))
    end
  end
end
for key, o in pairs(ours) do
  if o.err then print("crystens " .. key .. ": " .. o.err) end
end

-- Where the GPU's time goes, S = 32 batch 256 fp32: nn.profile times each
-- layer kind with a synchronisation after every call (so the sum exceeds
-- a step's time, which overlaps launches with kernels).
do
  tensor.seed(0)
  local model = nn.unet{in_ch = 4, size = 32, base = 64, mults = {1, 2, 2}, nres = 2,
                        attn = {8}, groups = 8}:to("cuda")
  local x = tensor.new{1}:to("cuda"):new_randn{256, 4, 32, 32}
  local t = x:new_rand{256}:mul_(1000)
  local function step()
    model:zero_grad()
    local _, g = nn.mse(model:forward(x, t), x)
    model:backward(g)
  end
  step()
  nn.profile(true)
  for _ = 1, 3 do step() end
  local prof = nn.profile()
  nn.profile(false)
  table.sort(prof, function(a, b) return a.seconds > b.seconds end)
  local total = 0
  for _, p in ipairs(prof) do total = total + p.seconds end
  print(string.format("\nprofile, S=32 batch 256 fp32, 3 steps: %.3f s in layers", total))
  for _, p in ipairs(prof) do
    print(string.format("  %-16s %7.3f s  %5.1f%%  %6d calls", p.kind, p.seconds,
                        100 * p.seconds / total, p.calls))
  end
  model, x, t = nil, nil, nil
  collectgarbage()
end

-- DDIM-50 over 1,000 crystals with the paper preset's U-Net (untrained:
-- the time does not depend on the weights), on the GPU.
local sample = (os.getenv("top_srcdir") or here .. "/..") .. "/share/sample/mpts_52_val_sample.csv"
local ds = ct.dataset.load(sample)
for _, s in ipairs(sizes) do
  local list_s = {}
  for i = 1, #ds do
    if ds[i].natoms <= s - 12 and #list_s < 64 then list_s[#list_s + 1] = ds[i] end
  end
  local m = ct.models.diffusion{preset = "paper", size = s}
  m:fit_scaler(ct.crystens.encode(list_s, {size = s}))
  local ok, err = pcall(function()
    m:to("cuda")
    local t0 = now()
    local x = m:sample(1000, {steps = 50, seed = 1, batch = s == 32 and 500 or 250})
    local dt = now() - t0
    print(string.format("DDIM-50, 1000 crystals, S=%d, paper U-Net, fp32: %.1f s (%d×%d×%d×%d)",
                        s, dt, x:size(1), x:size(2), x:size(3), x:size(4)))
  end)
  if not ok then print(string.format("DDIM-50 S=%d failed: %s", s, err)) end
  m = nil
  collectgarbage()
end
