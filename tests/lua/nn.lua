-- The nn module as Lua users see it: tensor arithmetic, seeded draws, layer
-- errors, training loops, the U-Net's plumbing, the WGAN-GP penalty and
-- checkpoints.
local T = require "tap"
local ct = require "crystens"
local nn, tensor = ct.nn, ct.tensor

local SEED = 4242
print("# seed " .. SEED)
tensor.seed(SEED)

-- Largest |a - b| over the elements of two tensors of one shape.
local function maxdiff(a, b) return (a - b):abs():stats().max end

T.test("arithmetic broadcasts and has in-place forms", function()
  local a = tensor.from{{1, 2, 3}, {4, 5, 6}}
  local col = tensor.from{{10}, {20}}
  T.eq((a + col):get(2, 3), 26.0, "a + column")
  T.eq((2 - a):get(1, 1), 1.0, "number - tensor")
  T.eq((a * a):sum(), 91.0, "sum of squares")
  T.eq(a:mean(), 3.5, "mean")
  local b = a:clone():mul_(2):add_(1)
  T.eq(b:get(2, 1), 9.0, "in-place chain")
  T.eq(a:get(2, 1), 4.0, "the original is untouched")
  T.eq(a:sum_to{2, 1}:get(2, 1), 15.0, "sum_to rows")
  local c = tensor.cat({a, col}, 2)
  T.eq(table.concat(c:shape(), "x"), "2x4", "cat along dimension 2")
  T.eq(maxdiff(c:slice(2, 1, 3), a), 0.0, "slice undoes cat")
  T.eq(a:clamp(2, 5):stats().min, 2.0, "clamp")
  T.raises(function() return a + tensor.new(4) end, "shapes 2x3 and 4 do not broadcast")
  T.raises(function() return a:add(tensor.new(4)) end, "bad argument #1 to 'add'")
end)

T.test("a seed gives the same draws; an rng state restores the stream", function()
  tensor.seed(7)
  local a = tensor.randn{100}
  tensor.seed(7)
  local b = tensor.randn{100}
  T.eq(maxdiff(a, b), 0.0, "same seed, same tensor")
  local r = tensor.rng(3)
  local s = r:state()
  local x = r:normal()
  r:set_state(s)
  T.eq(r:normal(), x, "restored state repeats the draw")
  T.raises(function() r:set_state("nope") end, "bad argument #1 to 'set_state'")
  tensor.seed(SEED)
end)

T.test("layer errors name the argument and the shapes", function()
  local conv = nn.conv2d(4, 8, 3, {padding = 1})
  local err = T.raises(function() conv:forward(tensor.new(4, 64, 64)) end,
                       "bad argument #1 to 'forward'")
  T.truthy(err:find("4-D tensor N×4×H×W", 1, true) and err:find("3-D 4x64x64", 1, true), err)
  T.raises(function() nn.linear(3, 2):forward(tensor.new(2, 5)) end, "expected 2-D tensor N×3, got 2-D 2x5")
  T.raises(function() nn.groupnorm(3, 8) end, "do not split")
  T.raises(function() nn.linear(3, 2):backward(tensor.new(2, 2)) end, "backward before forward")
  T.raises(function() nn.conv2d(1, 1, {3, 3, 3}) end, "list of 2 integers")
  T.raises(function() nn.conv2d(1, 1, 3, {stride = {1, 2, 3}}) end,
           "bad option 'stride' to 'ct.nn.conv2d' (integer or list of 2 integers expected, got table)")
  T.raises(function() nn.linear(3, 2, {bias = "no"}) end,
           "bad option 'bias' to 'ct.nn.linear' (boolean expected, got string)")
  T.raises(function() nn.groupnorm(2, 8, "x") end,
           "bad argument #3 to 'ct.nn.groupnorm' (options table expected, got string)")
end)

T.test("an MLP in a training loop overfits a batch (loss / 100)", function()
  local x, y = tensor.randn{16, 6}, tensor.randn{16, 2}
  local model = nn.sequential{nn.linear(6, 32), nn.tanh(), nn.linear(32, 32), nn.leaky_relu(0.1),
                              nn.linear(32, 2)}
  local opt = nn.adam(model, {lr = 1e-2})
  local first, last
  for step = 1, 400 do
    model:zero_grad()
    local loss, g = nn.mse(model:forward(x), y)
    model:backward(g)
    opt:step()
    first, last = first or loss, loss
  end
  T.truthy(last < first / 100, string.format("loss %.3g -> %.3g", first, last))
end)

local numgrad = T.numgrad

T.test("the U-Net's backward (skips, time embedding, attention) matches finite differences", function()
  local m = nn.unet{in_ch = 2, size = 8, base = 8, mults = {1, 2}, nres = 1, attn = {4}, groups = 2}
  local x, t = tensor.randn{2, 2, 8, 8}, tensor.from{5, 70}
  local R = tensor.randn{2, 2, 8, 8}
  local function f() return m:forward(x, t):dot(R) end
  m:forward(x, t)
  m:zero_grad()
  local gx = m:backward(R):reshape{x:numel()}
  local xf = x:reshape{x:numel()}
  local rng = tensor.rng(SEED)
  local worst = 0
  for _ = 1, 12 do
    local i = rng:int(x:numel())
    worst = math.max(worst, math.abs(numgrad(f, xf, i, 1e-2) - gx:get(i)))
  end
  T.truthy(worst < 2e-3 * math.max(1, gx:abs():stats().max), "input gradient, max diff " .. worst)
  local ps = m:parameters()
  for _, name in ipairs{"temb.2.weight", "down.2.res.1.skip.weight", "mid.attn.attn.qkv.weight",
                        "up.1.res.2.conv1.weight", "up.2.upsample.2.bias"} do
    local p = ps[name]
    T.truthy(p, "parameter " .. name)
    local w, g = p.w:reshape{p.w:numel()}, p.g:reshape{p.g:numel()}
    local i = rng:int(w:numel())
    local n, a = numgrad(f, w, i, 1e-2), g:get(i)
    T.truthy(math.abs(n - a) < 2e-3 * math.max(1, math.abs(n)),
             string.format("%s[%d]: numerical %.6g, backward %.6g", name, i, n, a))
  end
end)

T.test("the gradient penalty's parameter gradient matches a numerical derivative", function()
  local critic = nn.sequential{nn.linear(6, 8), nn.layernorm(8), nn.tanh(), nn.linear(8, 1)}
  local x = tensor.randn{4, 6}
  local function penalty()
    local y = critic:forward(x)
    local gx = critic:backward(tensor.full(y:shape(), 1), false)
    local norms = gx:square():sum_to{4, 1}:sqrt()
    return 10 * (norms - 1):square():mean()
  end
  critic:zero_grad()
  local p = nn.gradient_penalty(critic, x, {lambda = 10, h = 1e-2})
  T.near(p, penalty(), 1e-9, "penalty value")
  local worst, scale = 0, 0
  for _, e in ipairs(critic:parameters()) do
    local w, g = e.w:reshape{e.w:numel()}, e.g:reshape{e.g:numel()}
    for i = 1, w:numel(), math.max(1, w:numel() // 6) do
      local n = numgrad(penalty, w, i, 1e-2)
      worst = math.max(worst, math.abs(n - g:get(i)))
      scale = math.max(scale, math.abs(n))
    end
  end
  T.truthy(scale > 1e-3, "the penalty depends on the parameters")
  T.truthy(worst < 2e-2 * scale, string.format("max diff %.3g over gradients up to %.3g", worst, scale))
end)

T.test("batchnorm switches between batch and running statistics", function()
  local bn = nn.batchnorm(3, {momentum = 1})
  local x = tensor.randn{8, 3, 2, 2}:mul_(3):add_(5)
  local y = bn:forward(x)
  T.near(y:mean(), 0, 1e-5, "training mode normalises with the batch")
  bn:train(false)
  local y2 = bn:forward(x)
  T.truthy(maxdiff(y, y2) < 0.2, "eval with momentum-1 running stats is close (unbiased variance)")
  T.truthy(maxdiff(y, y2) > 0, "but uses the running statistics")
  local rm = bn:buffers()[1]
  T.eq(rm.name, "running_mean", "buffer name")
end)

T.test("checkpoints round-trip bit-exactly and rebuild the model", function()
  local dir = T.tmpdir()
  local m = nn.unet{in_ch = 2, size = 8, base = 8, mults = {1, 2}, nres = 1, attn = {4}, groups = 2}
  local x, t = tensor.randn{1, 2, 8, 8}, tensor.from{9}
  local y = m:forward(x, t)
  m:save(dir .. "/u.safetensors", {step = 12, scaling = {mean = 0.5}})
  local m2, meta = nn.load(dir .. "/u.safetensors")
  T.eq(meta.kind, "unet", "kind")
  T.eq(meta.step, "12", "step")
  T.eq(ct.json.decode(meta.scaling).mean, 0.5, "scaling as JSON")
  T.truthy(meta.rng:find("^xoshiro256:"), "rng state")
  T.eq(ct.json.decode(meta.config).base, 8, "config")
  local w1, w2 = m:flat(), m2:flat()
  T.eq(maxdiff(w1, w2), 0.0, "weights bit-exact")
  T.eq(maxdiff(m2:forward(x, t), y), 0.0, "the rebuilt model computes the same output")
  local f = io.open(dir .. "/u.safetensors", "rb")
  local bytes = f:read("a")
  f:close()
  f = io.open(dir .. "/cut.safetensors", "wb")
  f:write(bytes:sub(1, #bytes - 100))
  f:close()
  T.raises(function() nn.load(dir .. "/cut.safetensors") end, "truncated")
  T.raises(function() nn.sequential{nn.linear(2, 2)}:load(dir .. "/u.safetensors") end, "lacks")
  T.rmtree(dir)
end)

T.test("adam learning rate, clipping and the EMA copy", function()
  local model = nn.sequential{nn.linear(3, 2)}
  local opt = nn.adam(model, {lr = 0.1, betas = {0.5, 0.9}, clip = 1e-3})
  T.near(opt:lr(), 0.1, 1e-7, "lr")
  opt:lr(0.05)
  T.near(opt:lr(), 0.05, 1e-7, "lr set by a schedule")
  local ema = nn.ema(model, 0.5)
  local w = model:flat()
  local before = w:clone()
  model:zero_grad()
  local _, g = nn.mse(model:forward(tensor.randn{4, 3}), tensor.randn{4, 2})
  model:backward(g)
  local norm = opt:step()
  T.truthy(norm > 1e-3, "step returns the norm before clipping")
  T.eq(opt:steps(), 1, "steps")
  ema:update()
  T.near(ema.w:get(1), 0.5 * before:get(1) + 0.5 * w:get(1), 1e-6, "ema halfway")
  local now, avg = w:clone(), ema.w:clone()
  ema:swap()
  T.eq(maxdiff(model:flat(), avg), 0.0, "swap puts the average into the model")
  T.eq(maxdiff(ema.w, now), 0.0, "the model's weights kept aside")
end)

T.test("a seeded training run is reproducible", function()
  local function run()
    tensor.seed(11)
    local m = nn.sequential{nn.conv2d(1, 4, 3, {padding = 1}), nn.silu(), nn.conv2d(4, 1, 3, {padding = 1})}
    local opt = nn.adam(m, {lr = 1e-2})
    local x = tensor.randn{2, 1, 5, 5}
    local loss
    for _ = 1, 5 do
      m:zero_grad()
      local l, g = nn.mse(m:forward(x), x)
      m:backward(g)
      opt:step()
      loss = l
    end
    return loss
  end
  T.eq(run(), run(), "final loss")
end)

T.test("nn.winograd switches the 3x3 path, both give the same convolution", function()
  local conv = nn.conv2d(3, 5, 3, {padding = 1})
  local x = tensor.randn{2, 3, 9, 7}
  T.eq(nn.winograd(), true, "on by default")
  local yw = conv:forward(x)
  T.eq(nn.winograd(false), true, "setting returns the previous setting")
  local yd = conv:forward(x)
  nn.winograd(true)
  T.truthy(maxdiff(yw, yd) < 1e-4, "Winograd and im2col agree")
  local prof
  nn.profile(true)
  conv:forward(x)
  prof = nn.profile()
  nn.profile(false)
  T.truthy(prof[1].work < prof[1].flops, "the profile shows Winograd's smaller GEMM work")
end)

T.test("the residual block's fused groupnorm_silu equals groupnorm, silu and the embedding add, bit for bit", function()
  local n, cin, cout, temb, groups = 3, 6, 8, 12, 2
  local blk = nn.resblock(cin, cout, temb, groups)
  local gn1, gn2, a1, a2 = nn.groupnorm(groups, cin), nn.groupnorm(groups, cout), nn.silu(), nn.silu()
  for _, pair in ipairs{{blk.norm1, gn1}, {blk.norm2, gn2}} do
    for i, p in ipairs(pair[1]:parameters()) do
      p.w:copy(tensor.randn(p.w:shape()):mul_(0.5):add_(i == 1 and 1 or 0))
      pair[2]:parameters()[i].w:copy(p.w)
    end
  end
  -- The block as it was composed before the fusion.
  local function ref_forward(x, emb)
    local h = blk.conv1:forward(a1:forward(gn1:forward(x)))
    local e = blk.temb_proj:forward(blk.temb_act:forward(emb))
    h:add_(e:reshape{n, cout, 1, 1})
    h = blk.conv2:forward(a2:forward(gn2:forward(h)))
    return h:add_(blk.skip:forward(x))
  end
  local function ref_backward(g)
    local gh = gn2:backward(a2:backward(blk.conv2:backward(g)))
    local gemb = blk.temb_act:backward(blk.temb_proj:backward(gh:sum_to{n, cout, 1, 1}:reshape{n, cout}))
    local gx = gn1:backward(a1:backward(blk.conv1:backward(gh)))
    return gx:add_(blk.skip:backward(g)), gemb
  end
  local function grads(norms)
    local out = {}
    for _, p in ipairs(blk:parameters()) do
      local layer, pname = p.name:match("^(%w+)%.(%w+)$")
      local twin = norms[layer]
      out[p.name] = (twin and twin:parameters()[pname == "weight" and 1 or 2].g or p.g):clone()
    end
    return out
  end
  local x, emb, R = tensor.randn{n, cin, 5, 7}, tensor.randn{n, temb}, tensor.randn{n, cout, 5, 7}
  blk:zero_grad()
  local y = blk:forward(x, emb)
  local gx, gemb = blk:backward(R)
  local g1 = grads{}
  blk:zero_grad()
  for _, l in ipairs{gn1, gn2} do for _, p in ipairs(l:parameters()) do p.g:fill(0) end end
  local y2 = ref_forward(x, emb)
  local gx2, gemb2 = ref_backward(R)
  local g2 = grads{norm1 = gn1, norm2 = gn2}
  T.eq(maxdiff(y, y2), 0.0, "output")
  T.eq(maxdiff(gx, gx2), 0.0, "input gradient")
  T.eq(maxdiff(gemb, gemb2), 0.0, "embedding gradient")
  local names = 0
  for name, g in pairs(g1) do
    T.eq(maxdiff(g, g2[name]), 0.0, name .. " gradient")
    names = names + 1
  end
  T.eq(names, #blk:parameters(), "every parameter compared")
end)

T.test("groupnorm_silu refuses a bad shift with an error naming it", function()
  local l, x = nn.groupnorm_silu(2, 4), tensor.randn{2, 4, 3, 3}
  T.raises(function() l:forward(x, tensor.randn{2, 5}) end, "bad argument #2 to 'forward' (groupnorm_silu: the shift must be N×C (2×4)")
  local g = nn.groupnorm(2, 4)
  T.raises(function() g:forward(x, tensor.randn{2, 4}) end, "needs a groupnorm_silu layer")
  local y = l:forward(x)
  local gx, ga = l:backward(y)
  T.truthy(gx and ga == nil, "no shift, no shift gradient")
end)

T.test("groupnorm_silu's backward adds a gradient in the same pass, bit for bit, and refuses a bad one", function()
  local l, x = nn.groupnorm_silu(2, 4), tensor.randn{2, 4, 3, 3}
  for i, p in ipairs(l:parameters()) do p.w:copy(tensor.randn{4}:mul_(0.5):add_(i == 1 and 1 or 0)) end
  local g, r = tensor.randn{2, 4, 3, 3}, tensor.randn{2, 4, 3, 3}
  l:forward(x, tensor.randn{2, 4})
  local gx, ga = l:backward(g, false)
  local gx2, ga2 = l:backward(g, false, r)
  T.eq(maxdiff(gx2, gx:clone():add_(r)), 0.0, "gx + r")
  T.eq(maxdiff(ga2, ga), 0.0, "the shift's gradient is the norm's alone")
  T.raises(function() l:backward(g, false, tensor.randn{2, 4, 3, 2}) end,
           "bad argument #3 to 'backward' (groupnorm_silu: the gradient to add must have the input's shape 2x4x3x3, got 2x4x3x2)")
  local gn = nn.groupnorm(2, 4)
  gn:forward(x)
  T.raises(function() gn:backward(g, false, r) end, "bad argument #3 to 'backward' (a gradient to add needs a groupnorm_silu layer)")
end)

T.test("shipped checkpoints, saved before the fusion, name the model's tensors in its order", function()
  local names = require("crystens.nn_core").load(ct.datadir .. "/models/diffusion-mpts52.safetensors")
  local m = ct.models.pretrained("diffusion-mpts52")
  local mine = {}
  for _, name in ipairs((m:state())) do   -- the shipped file has no optimizer state
    if not name:find("^optim%.") and not name:find("^ema%.") then mine[#mine + 1] = name end
  end
  local first
  for i = 1, math.max(#mine, #names) do
    if mine[i] ~= names[i] then first = first or i end
  end
  T.truthy(not first and #names > 100, first and string.format("tensor %d: the model's %s, the file's %s",
           first, mine[first], names[first]) or #names .. " names in the same order")
  local fused = 0
  for _, e in ipairs(m.unet:layers()) do
    if e.layer:kind() == "groupnorm_silu" then fused = fused + 1 end
  end
  T.truthy(fused > 10, fused .. " fused groupnorm_silu layers in it")
end)

T.done()
