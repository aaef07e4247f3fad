-- bench/models.lua - training speed of each model at S=32 and S=64, and the
-- time to sample 1000 crystals with DDIM-50 at S=32 (default, small, compact
-- and fast U-Net).
--
--   crystens bench/models.lua [steps=3] [batch=16] [sample_n=32]   (make bench runs it)
--
-- Samples/s counts training tensors consumed (WGAN-GP takes 5 batches per
-- generator step).  Sampling time is measured on sample_n crystals and scaled
-- to 1000 (sampling cost is linear in n at a fixed batch of 64 or less).
-- Wall-clock numbers depend on the machine's load; the CPU-time columns
-- (all threads together) are steadier on a busy machine: with
-- OPENBLAS_NUM_THREADS=1 they give one core's throughput.
local ct = require "crystens"
local tensor = ct.tensor

local steps, batch = tonumber(arg[1]) or 3, tonumber(arg[2]) or 16
local sample_n = math.tointeger(tonumber(arg[3]) or 32)

local function now()
  local f = io.popen("date +%s.%N")
  local s = tonumber(f:read("l"))
  f:close()
  return s
end

local ds = ct.dataset.load(ct.datadir .. "/sample/mpts_52_val_sample.csv")
local function data(size)
  local list = {}
  local max_atoms = ct.crystens.layout.max_atoms(size)
  for i = 1, #ds do if ds[i].natoms <= max_atoms then list[#list + 1] = ds[i] end end
  return ct.crystens.encode(list, {size = size})
end

local kinds = {
  {"GAN (2-D)", function(s) return ct.models.gan{size = s} end},
  {"GAN (3-D)", function(s) return ct.models.gan{size = s, conv = "3d"} end},
  {"WGAN-GP", function(s) return ct.models.wgan{size = s} end},
  {"diffusion", function(s) return ct.models.diffusion{size = s} end},
  {"diffusion small", function(s) return ct.models.diffusion{size = s, preset = "small"} end},
  {"diffusion compact", function(s) return ct.models.diffusion{size = s, preset = "compact"} end},
}

print(string.format("training, batch %d, median of %d steps after a warm-up step:", batch, steps))
for _, s in ipairs{32, 64} do
  local x = data(s)
  for _, k in ipairs(kinds) do
    tensor.seed(0)
    local m = k[2](s):fit_scaler(x)
    local per = batch * (m.batches_per_step or 1)
    local b = x:narrow(1, per)
    m:train_step(b)
    local times, cpu = {}, {}
    for i = 1, steps do
      local t0, c0 = now(), os.clock()
      m:train_step(b)
      times[i], cpu[i] = now() - t0, os.clock() - c0
    end
    table.sort(times)
    table.sort(cpu)
    local med, cmed = times[(#times + 1) // 2], cpu[(#cpu + 1) // 2]
    print(string.format("  S=%-3d %-16s %9d params  %7.2f s/step  %8.1f samples/s  (CPU %.2f s/step: %.1f samples per CPU-s)",
                        s, k[1], m:nparams(), med, per / med, cmed, per / cmed))
  end
end

print(string.format("\nDDIM-50 sampling at S=32, timed on %d crystals, scaled to 1000:", sample_n))
local x = data(32)
for _, preset in ipairs{"default", "small", "compact", "fast"} do
  tensor.seed(0)
  local m = ct.models.diffusion{size = 32, preset = preset}:fit_scaler(x)
  local t0, c0 = now(), os.clock()
  local y = m:sample(sample_n, {steps = 50, seed = 1})
  local dt, dc = now() - t0, os.clock() - c0
  assert(y:stats().nonfinite == 0)
  print(string.format("  %-8s %9d params  %7.1f s for %d  ->  %6.1f min per 1000 crystals  (CPU %.1f min per 1000)",
                      preset, m:nparams(), dt, sample_n, dt * 1000 / sample_n / 60, dc * 1000 / sample_n / 60))
end
