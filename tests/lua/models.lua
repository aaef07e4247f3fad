-- ct.models and ct.train: each model learns on 16 structures of the shipped
-- sample, one structure learnt and sampled back through the whole chain
-- (train, sample, decode), the diffusion maths against the one-step
-- forward process, DDIM
-- determinism, checkpoints (save -> load -> sample, exact resume), and the
-- training loop's errors.  Tiny networks, so the file runs in seconds.
local T = require "tap"
local ct = require "crystens"
local models, tensor = ct.models, ct.tensor

local srcdir = os.getenv("top_srcdir") or "."
local sample = srcdir .. "/share/sample/mpts_52_val_sample.csv"
local tmp = T.tmpdir()

local SEED = 1234
print("# seed " .. SEED)

-- The first n structures of the sample with at most maxat atoms, encoded.
local function structures(n, size)
  local ds = ct.dataset.load(sample)
  local list = {}
  for i = 1, #ds do
    if ds[i].natoms <= size - 12 and #list < n then list[#list + 1] = ds[i] end
  end
  return ct.crystens.encode(list, {size = size}), list
end

local data32 = structures(16, 32)

local function maxdiff(a, b) return (a - b):abs():stats().max end

local function mean_of(list, first, last)
  local s = 0
  for i = first, last do s = s + list[i] end
  return s / (last - first + 1)
end

local function tiny_gan(kind, extra)
  local cfg = {size = 32, base = 8, latent = 16, lr = 1e-3}
  for k, v in pairs(extra or {}) do cfg[k] = v end
  return models[kind](cfg):fit_scaler(data32)
end

T.test("GAN: the discriminator learns to separate real from generated", function()
  tensor.seed(SEED)
  local m = tiny_gan("gan")
  local first = m:train_step(data32)
  local last
  for _ = 1, 30 do last = m:train_step(data32) end
  T.truthy(last.real - last.fake > 0.3, string.format(
    "D(real) %.3f vs D(fake) %.3f after 30 steps (%.3f, %.3f at first)",
    last.real, last.fake, first.real, first.fake))
  T.truthy(last.d < first.d, "the discriminator's loss went down")
  local x = m:sample(5, {seed = 1})
  T.eq(table.concat(x:shape(), "x"), "5x4x32x32", "sample shape")
  T.eq(x:stats().nonfinite, 0, "finite samples")
end)

T.test("GAN with 3-D convolutions over the 4×S×S volume trains and samples", function()
  tensor.seed(SEED)
  local m = tiny_gan("gan", {conv = "3d", base = 4})
  local first = m:train_step(data32)
  local last
  for _ = 1, 15 do last = m:train_step(data32) end
  T.truthy(last.d < first.d, string.format("D loss %.3f -> %.3f", first.d, last.d))
  T.eq(table.concat(m:sample(3, {seed = 2}):shape(), "x"), "3x4x32x32", "sample shape")
  T.raises(function() models.gan{conv = "4d"} end, "bad option 'conv'")
  T.raises(function() models.gan{size = 48} end, "bad option 'size'")
end)

T.test("WGAN-GP: the critic's loss falls and the Wasserstein estimate grows", function()
  tensor.seed(SEED)
  local m = tiny_gan("wgan", {critic_steps = 2})
  local first = m:train_step(data32)
  local ws, cs = {}, {}
  for i = 1, 12 do
    local l = m:train_step(data32)
    ws[i], cs[i] = l.w, l.critic
  end
  T.truthy(mean_of(cs, 9, 12) < first.critic, string.format("critic loss %.3f -> %.3f",
           first.critic, mean_of(cs, 9, 12)))
  T.truthy(mean_of(ws, 9, 12) > first.w, "the critic separates real from generated")
  T.truthy(first.gp > 0, "a gradient penalty is applied")
end)

local function tiny_diffusion(extra)
  local cfg = {size = 32, preset = "tiny", lr = 3e-3}
  for k, v in pairs(extra or {}) do cfg[k] = v end
  return models.diffusion(cfg)
end

T.test("diffusion: the loss falls clearly below its first steps", function()
  tensor.seed(SEED)
  local m = tiny_diffusion():fit_scaler(data32)
  local batch = data32:narrow(1, 4)
  local ls = {}
  for i = 1, 20 do ls[i] = m:train_step(batch).loss end
  T.truthy(mean_of(ls, 16, 20) < 0.8 * mean_of(ls, 1, 3),
           string.format("loss %.3f at first, %.3f at the end", mean_of(ls, 1, 3), mean_of(ls, 16, 20)))
end)

T.test("diffusion: the closed form q(x_t|x_0) matches t one-step noisings", function()
  tensor.seed(SEED)
  local m = models.diffusion{size = 16, preset = "tiny", timesteps = 100}
  local n = 20000
  local x0 = tensor.full({n, 1, 1, 1}, 0.7)
  for _, t in ipairs{0, 10, 50, 99} do
    local x = x0:clone()
    for s = 0, t do
      local b = m.betas[s + 1]
      x = (x * math.sqrt(1 - b)):add_(tensor.randn{n, 1, 1, 1}:mul_(math.sqrt(b)))
    end
    local ts = {}
    for i = 1, n do ts[i] = t end
    local xc = m:q_sample(x0, ts, tensor.randn{n, 1, 1, 1})
    local ab = m:abar(t)
    for _, y in ipairs{x, xc} do
      local mean = y:mean()
      local var = ((y - mean):square()):mean()
      T.near(mean, 0.7 * math.sqrt(ab), 0.02, "mean at t=" .. t)
      T.near(var, 1 - ab, 0.05 * (1 - ab) + 1e-6, "variance at t=" .. t)
    end
  end
  -- cosine schedule: ᾱ falls from ~1 to ~0
  T.truthy(m:abar(0) > 0.99 and m:abar(99) < 1e-3, "cosine ᾱ spans (0, 1)")
  local lin = models.diffusion{size = 16, preset = "tiny", timesteps = 100, schedule = "linear"}
  T.near(lin.betas[1], 1e-3, 1e-9, "linear β_0 scaled to 100 steps")
end)

T.test("DDIM with eta=0 is deterministic for a seed; DDPM-1000 and DDIM-50 give finite tensors", function()
  tensor.seed(SEED)
  local data16 = structures(4, 16)
  local m = models.diffusion{size = 16, preset = "tiny", target = "v", patch = 2}:fit_scaler(data16)
  for _ = 1, 2 do m:train_step(data16) end
  local a = m:sample(3, {steps = 50, seed = 9})
  local b = m:sample(3, {steps = 50, seed = 9})
  T.eq(maxdiff(a, b), 0.0, "same seed, same DDIM samples")
  T.eq(table.concat(a:shape(), "x"), "3x4x16x16", "DDIM-50 shape")
  T.eq(a:stats().nonfinite, 0, "DDIM-50 finite")
  T.truthy(maxdiff(a, m:sample(3, {steps = 50, seed = 10})) > 0, "another seed differs")
  local s = m:sample(2, {seed = 3})   -- DDPM ancestral, all 1000 steps
  T.eq(table.concat(s:shape(), "x"), "2x4x16x16", "DDPM-1000 shape")
  T.eq(s:stats().nonfinite, 0, "DDPM-1000 finite")
  T.truthy(maxdiff(m:sample(2, {seed = 3, steps = 20, eta = 1}), m:sample(2, {seed = 3, steps = 20, eta = 0})) > 0,
           "eta=1 adds noise")
end)

-- Compare a decoded structure with the one encoded: species, space group,
-- lattice to rel_tol, fractional coordinates to tol (periodically).
local function same_structure(s, want, what, rel_tol, tol)
  T.eq(table.concat(s.species, " "), table.concat(want.species, " "), what .. "species")
  T.eq(s.spacegroup_stored, want.spacegroup, what .. "stored space group")
  for _, k in ipairs{"a", "b", "c", "alpha", "beta", "gamma"} do
    T.near(s.lattice[k], want.lattice[k], rel_tol * math.abs(want.lattice[k]), what .. k)
  end
  local worst = 0
  for i = 1, math.min(s.natoms, want.natoms) do
    for j = 1, 3 do   -- periodic: 0.9999999 is 0
      local d = math.abs(s.frac[i][j] - want.frac[i][j])
      worst = math.max(worst, math.min(d, 1 - d))
    end
  end
  T.near(worst, 0, tol, what .. "coordinates")
end

T.test("a diffusion model trained on one structure samples tensors that decode back to it", function()
  -- the first structure of the sample small enough for S=16 (K3Re, Fm-3m)
  local s0
  for _, s in ipairs(ct.dataset.load(sample)) do if s.natoms <= 4 then s0 = s break end end
  local x = ct.crystens.encode({s0}, {size = 16})
  local want = ct.crystens.prepare(s0)
  tensor.seed(SEED)
  -- x0-prediction: a network that memorised one crystal answers it for any
  -- noise, to the precision integer Z needs (see MODEL.md on targets)
  local m = models.diffusion{size = 16, preset = "tiny", target = "x0"}
  local res = ct.train{model = m, data = x, steps = 600, batch = 8, lr = 3e-3, decay = "cosine", seed = 1}
  T.truthy(res.losses.loss < 0.01, string.format("loss %.4g after 600 steps", res.losses.loss))
  T.near(m:lr(), 3e-3 * 0.5 * (1 + math.cos(math.pi * 599 / 600)), 1e-9, "cosine decay: the last step's rate")
  local function check(opts, n, what)
    local y = m:sample(n, opts)
    for i = 1, n do
      local s, why = ct.crystens.decode(y[i])
      T.truthy(s, what .. " sample " .. i .. " decodes (" .. tostring(why) .. ")")
      if s then same_structure(s, want, what .. " sample " .. i .. ": ", 0.01, 0.01) end
    end
  end
  check({steps = 50, seed = 3}, 6, "DDIM-50")
  check({seed = 4}, 2, "DDPM-1000")
end)

T.test("with the exact denoiser for one structure, DDIM and DDPM samples decode back to it", function()
  local x, list = structures(1, 32)
  local want = ct.crystens.prepare(list[1])   -- the structure as encode sees it
  for _, target in ipairs{"eps", "v", "x0"} do
    local m = models.diffusion{size = 32, preset = "tiny", target = target}:fit_scaler(x)
    local x0 = m:to_net(x)
    -- the network replaced by the exact answer for the one training tensor
    m.unet = {forward = function(_, xt, t)
      local ab = m:abar(math.tointeger(t:get(1)))
      local sa, sb = math.sqrt(ab), math.sqrt(1 - ab)
      local eps = (xt - x0 * sa):div_(sb)
      if target == "x0" then return x0 end
      return target == "v" and (eps * sa):sub_(x0 * sb) or eps
    end}
    for _, opts in ipairs{{steps = 50, seed = 1, ema = false}, {seed = 2, ema = false}} do
      local s, why = ct.crystens.decode(m:sample(1, opts)[1])
      T.truthy(s, "decoded (" .. tostring(why) .. ")")
      local what = string.format("%s, %s: ", target, opts.steps and "DDIM-50" or "DDPM-1000")
      same_structure(s, want, what, 1e-3, 1e-3)
    end
  end
end)

T.test("save -> load -> sample is bit-identical for the same seed (every model)", function()
  for _, make in ipairs{function() return tiny_gan("gan") end, function() return tiny_gan("wgan", {critic_steps = 1}) end,
                        function() return tiny_diffusion{timesteps = 50} end,
                        function() return tiny_diffusion{timesteps = 50, patch = 2} end} do
    tensor.seed(SEED)
    local m = make()
    if not m.scaler then m:fit_scaler(data32) end
    for _ = 1, 2 do m:train_step(data32:narrow(1, 4)) end
    local path = tmp .. "/m.safetensors"
    m:save(path)
    local back, meta = models.load(path)
    T.eq(meta.kind, m.kind, "kind in the metadata")
    T.eq(back.step, 2, "step restored")
    local opts = m.kind == "crystens.diffusion" and {seed = 5, steps = 5} or {seed = 5}
    T.eq(maxdiff(m:sample(3, opts), back:sample(3, opts)), 0.0, m.kind .. " samples match")
  end
  T.raises(function() models.load(tmp .. "/missing.safetensors") end, "missing.safetensors")
  T.raises(function() models.diffusion{patch = 3} end, "bad option 'patch'")
end)

T.test("ct.train resumed from a checkpoint equals the uninterrupted run", function()
  local function run(steps, ckpt, log)
    local m = tiny_gan("wgan", {critic_steps = 2})
    return m, ct.train{model = m, data = data32, steps = steps, batch = 3, seed = 7,
                       checkpoint = ckpt, every = 2, log = log}
  end
  tensor.seed(SEED)
  local whole = run(6)
  local ckpt, log = tmp .. "/r.safetensors", tmp .. "/log.csv"
  tensor.seed(SEED)
  run(4, ckpt, log)
  T.truthy(T.exists(ckpt), "checkpoint written")
  tensor.seed(999)                    -- another stream before resuming: the checkpoint wins
  local resumed, res = run(6, ckpt, log)
  T.eq(res.start, 4, "resumed at step 4")
  T.eq(resumed.step, 6, "ran to step 6")
  local wn, wt = whole:state()
  local rn, rt = resumed:state()
  T.eq(#wn, #rn, "same tensors")
  local worst = 0
  for i = 1, #wt do worst = math.max(worst, maxdiff(wt[i], rt[i])) end
  T.eq(worst, 0.0, "weights, moments and buffers identical")
  local cols = ct.plot.read_csv(log)
  T.eq(#cols.step, 6, "the log has one row per step")
  T.eq(cols.step[6], 6.0, "and ends at step 6")
  local svg = ct.train.plot(log, tmp .. "/loss.svg")
  T.truthy(svg:find("<svg", 1, true) and T.exists(tmp .. "/loss.svg"), "loss curve written")
end)

T.test("ct.train: bad options and a NaN loss raise clear errors", function()
  local m = tiny_gan("gan")
  T.raises(function() ct.train{model = {}, data = data32} end, "bad option 'model'")
  T.raises(function() ct.train{model = m, data = data32, steps = -1} end, "bad option 'steps'")
  T.raises(function() ct.train{model = m, data = data32, steps = 1, decay = "linear"} end, "bad option 'decay'")
  T.raises(function() models.diffusion{target = "x"} end, "bad option 'target'")
  T.raises(function() m:train_step(tensor.new{2, 4, 16, 16}) end, "N×4×32×32")
  local ckpt = tmp .. "/nan.safetensors"
  local step = m.train_step
  m.train_step = function(self, b)
    local l = step(self, b)
    if self.step == 3 then l.g = 0 / 0 end
    return l
  end
  local err = T.raises(function()
    ct.train{model = m, data = data32, steps = 5, batch = 4, checkpoint = ckpt, every = 1}
  end, "training diverged at step 3: loss 'g'")
  T.truthy(err:find("nan.safetensors", 1, true), "names the last good checkpoint")
  local _, meta = models.load(ckpt)
  T.eq(meta.step, "2", "the checkpoint on disk is the last good step")
end)

T.rmtree(tmp)
T.done()
