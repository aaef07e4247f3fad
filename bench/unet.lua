-- bench/unet.lua - one training step (forward + backward + Adam) of the
-- reference diffusion U-Net, timed in crystens and in PyTorch on the same
-- machine, with cblas_sgemm's own speed as the yardstick.
--
--   crystens bench/unet.lua [steps=3] [batch=16]       (make bench runs it)
--
-- Both sides use the same number of threads: CT_NUM_THREADS if set, else
-- the machine's cores (PyTorch gets torch.set_num_threads of it).  The
-- PyTorch side runs under $PYTHON if set, else /usr/bin/python3.
--
-- The network: input 4×32×32, base 64, mults (1,2,2), 2 residual blocks per
-- level, GroupNorm(8), SiLU, self-attention at 8×8, MSE on the noise.  The
-- PyTorch twin is bench/unet_torch.py; it is skipped when torch is absent.
local ct = require "crystens"
local nn, tensor = ct.nn, ct.tensor

local steps, batch = tonumber(arg[1]) or 3, tonumber(arg[2]) or 16
local here = arg[0]:match("^(.*)/[^/]*$") or "."

tensor.seed(0)
local model = nn.unet{in_ch = 4, size = 32, base = 64, mults = {1, 2, 2}, nres = 2, attn = {8}, groups = 8}
local opt = nn.adam(model, {lr = 2e-4})
local x, noise = tensor.randn{batch, 4, 32, 32}, tensor.randn{batch, 4, 32, 32}
local t = tensor.rand{batch}:mul_(1000)

local function step()
  model:zero_grad()
  local loss, g = nn.mse(model:forward(x, t), noise)
  model:backward(g)
  opt:step()
  return loss
end

-- Wall time without forking a process (a fork makes every page of this
-- process copy-on-write, and the next step would pay for it).
local clock = ct.progress.new("bench")
local function now() return clock:elapsed() end

local threads = tonumber(os.getenv("CT_NUM_THREADS") or "")
if not threads then
  local f = io.popen("nproc")
  threads = tonumber(f:read("l")) or 1
  f:close()
end

print(string.format("crystens U-Net: %d parameters, batch %d, %d threads", model:nparams(), batch, threads))
step()                                    -- warm-up: allocations, workspace
-- Wall time is what counts; CPU time (all threads) is printed too, as it
-- says more when other jobs share the machine.
local times, cpu = {}, math.huge
nn.profile(true)
for i = 1, steps do
  local t0, c0 = now(), os.clock()
  local loss = step()
  times[i] = now() - t0
  local c = os.clock() - c0
  cpu = math.min(cpu, c)
  print(string.format("  step %d: %.3f s, CPU %.3f s  (loss %.4f)", i, times[i], c, loss))
end
local prof = nn.profile()
nn.profile(false)
table.sort(times)
local best, median = times[1], times[(#times + 1) // 2]
print(string.format("crystens: best %.3f s/step, median %.3f s/step, %.1f samples/s",
                    best, median, batch / median))
print(string.format("crystens CPU: best %.3f s/step", cpu))

local peak = nn.sgemm_gflops(2048, 3)
local total = 0
for _, p in ipairs(prof) do total = total + p.seconds end
table.sort(prof, function(a, b) return a.seconds > b.seconds end)
print(string.format("\nwhere the time goes (%d steps, %.3f s in layers):", steps, total))
-- GFLOP/s by the direct algorithm's flop count (comparable with PyTorch's
-- and with sgemm), and by the GEMM work actually done (Winograd does 4x
-- fewer multiplies in 3x3 convolutions).
for _, p in ipairs(prof) do
  local gf = ""
  if p.flops > 0 then
    local direct, work = p.flops / p.seconds * 1e-9, p.work / p.seconds * 1e-9
    gf = string.format("  %6.1f GFLOP/s direct (%3.0f%% of sgemm peak), %5.1f done (%2.0f%%)",
                       direct, 100 * direct / peak, work, 100 * work / peak)
  end
  print(string.format("  %-16s %7.3f s  %5.1f%%  %6d calls%s", p.kind, p.seconds,
                      100 * p.seconds / total, p.calls, gf))
end
print(string.format("sgemm peak (2048^3, best of 3): %.1f GFLOP/s", peak))

local py = os.getenv("PYTHON") or "/usr/bin/python3"
local f = io.popen(string.format("%s %s/unet_torch.py %d %d %d 2>&1", py, here, steps, batch, threads))
local out = f:read("a")
f:close()
io.write("\n" .. out)
local torch_median = tonumber(out:match("torch: best [%d.]+ s/step, median ([%d.]+) s/step"))
if torch_median then
  print(string.format("\nratio at %d threads: crystens %.1f samples/s vs PyTorch %.1f samples/s = %.2fx (goal >= 1.5x)",
                      threads, batch / median, batch / torch_median, torch_median / median))
  local torch_cpu = tonumber(out:match("torch CPU: best ([%d.]+) s/step"))
  if torch_cpu then
    print(string.format("CPU time per step (best): crystens %.3f s, PyTorch %.3f s = %.2fx",
                        cpu, torch_cpu, torch_cpu / cpu))
  end
else
  print("\nPyTorch comparison skipped (apt-get install python3-torch)")
end
