-- The atom network and what a consistent diffusion model needs around it:
-- slot views against an independent computation, the network's parameter
-- gradients against central differences (printed seed), atom counts drawn
-- from the training distribution, warm starts, and bad options.
local T = require "tap"
local ct = require "crystens"
local tensor, models = ct.tensor, ct.models

local SEED = T.seed()
local srcdir = os.getenv("top_srcdir") or "."
local ds = ct.dataset.load(srcdir .. "/share/sample/mpts_52_val_sample.csv", {max_atoms = 4})
local raw = ct.crystens.encode(ds, {size = 16, species = "periodic"})

T.test("slot features are the copies' means and the block's row and column means", function()
  local x = tensor.randn({2, 4, 16, 16}, tensor.rng(SEED))
  local f = ct.crystens.slot_features(x)
  T.eq(table.concat(f:shape(), "x"), "2x20x4x1", "shape")
  local worst = 0
  for i = 1, 2 do
    for j = 1, 4 do
      for r = 1, 12 do
        local s = 0
        for l = 1, 4 do s = s + x:get(i, l, r, 12 + j) + x:get(i, l, 12 + j, r) end
        worst = math.max(worst, math.abs(f:get(i, r, j, 1) - s / 8))
      end
      for l = 1, 4 do
        local row, col = 0, 0
        for k = 1, 4 do row = row + x:get(i, l, 12 + j, 12 + k); col = col + x:get(i, l, 12 + k, 12 + j) end
        worst = math.max(worst, math.abs(f:get(i, 12 + l, j, 1) - row / 4),
                         math.abs(f:get(i, 16 + l, j, 1) - col / 4))
      end
    end
  end
  T.truthy(worst < 1e-5, "largest difference " .. worst)
  local v = tensor.randn({2, 12, 4, 1}, tensor.rng(SEED + 1))
  local y = ct.crystens.slot_scatter(v)
  T.eq(y:get(2, 3, 12 + 2, 5), v:get(2, 5, 2, 1), "a scattered copy")
  T.eq(y:get(1, 2, 14, 15), 0.0, "the block stays 0")
  local g = ct.crystens.slot_scatter_backward(y)
  T.near(g:get(2, 5, 2, 1), 8 * v:get(2, 5, 2, 1), 1e-4, "the backward sums the 8 copies")
  T.raises(function() ct.crystens.slot_scatter(tensor.randn{2, 11, 4, 1}) end, "N×12×(S-12)×1")
end)

T.test("the atom network's gradients match central differences", function()
  local m = models.diffusion{size = 16, preset = "atoms", base = 8, depth = 1, groups = 2}
  local net = m.unet
  local x, t, natoms = tensor.randn({2, 4, 16, 16}, tensor.rng(SEED)), tensor.from{5, 700}, {2, 4}
  local R = tensor.randn({2, 4, 16, 16}, tensor.rng(SEED + 2))
  local function f() return net:forward(x, t, natoms):dot(R) end
  net:forward(x, t, natoms)
  net:zero_grad()
  net:backward(R)
  local rng = tensor.rng(SEED)
  local ps = net:parameters()
  for _, name in ipairs{"conv_in.weight", "temb.2.weight", "block.1.res.conv1.weight",
                        "block.1.attn.attn.qkv.weight", "conv_out.bias"} do
    local p = ps[name]
    T.truthy(p, "parameter " .. name)
    local w, g = p.w:reshape{p.w:numel()}, p.g:reshape{p.g:numel()}
    for _ = 1, 3 do
      local i = rng:int(w:numel())
      local n, a = T.numgrad(f, w, i, 1e-2), g:get(i)
      T.truthy(math.abs(n - a) < 3e-3 * math.max(1, math.abs(n)),
               string.format("%s[%d]: numerical %.6g, backward %.6g", name, i, n, a))
    end
  end
end)

T.test("sampling draws atom counts from the training data and returns consistent tensors", function()
  tensor.seed(SEED)
  local m = models.diffusion{size = 16, preset = "atoms", base = 16, depth = 1, groups = 4}
  ct.train{model = m, data = raw, steps = 20, batch = 8, seed = 1}
  local counts = {}
  for i = 1, raw:size(1) do counts[ds[i].natoms] = (counts[ds[i].natoms] or 0) + 1 end
  for k = 1, 4 do T.eq(m.config.natoms[k], counts[k] or 0, "training crystals of " .. k .. " atoms") end
  local x = m:sample(24, {steps = 5, seed = 2})
  local _, diags = ct.crystens.decode(x, {min_distance = 0})
  for i = 1, 24 do
    local d = diags[i]
    T.truthy(counts[d.natoms], "sample " .. i .. " has a count the data has: " .. d.natoms)
    for k, v in pairs(d.spread) do T.truthy(v < 1e-3, "sample " .. i .. ": copies of " .. k .. " agree (" .. v .. ")") end
  end
  local y = m:sample(3, {steps = 5, seed = 2, natoms = {1, 2, 3}})
  local _, dy = ct.crystens.decode(y, {min_distance = 0})
  for i = 1, 3 do T.eq(dy[i].natoms, i, "the count asked for") end
  T.raises(function() m:sample(2, {steps = 5, natoms = 9}) end, "an integer from 1 to 4")
  T.raises(function() m:sample(2, {steps = 5, natoms = {1}}) end, "2 counts expected")
  T.raises(function() m:sample(2, {steps = 5, clip = "all"}) end, "'means' or 'copies'")
  -- a warm start computes what the saved model did, through a grown input layer too
  local dir = T.tmpdir()
  m:export(dir .. "/m.safetensors")
  local m2 = models.diffusion{size = 16, preset = "atoms", base = 16, depth = 1, groups = 4}
  m2:init_from(dir .. "/m.safetensors")
  local a = m:sample(2, {steps = 3, seed = 5})
  local b = m2:sample(2, {steps = 3, seed = 5})
  T.truthy((a - b):abs():stats().max < 1e-3, "same samples after init_from")
  local old = models.diffusion{size = 16, preset = "atoms", base = 16, depth = 1, groups = 4, mask = false}
  old.scaler = m.scaler
  old.config.natoms = m.config.natoms
  old:export(dir .. "/old.safetensors")
  local grown = models.diffusion{size = 16, preset = "atoms", base = 16, depth = 1, groups = 4}
  grown:init_from(dir .. "/old.safetensors")
  local p, q = old:sample(2, {steps = 3, seed = 6, ema = false}), grown:sample(2, {steps = 3, seed = 6, ema = false})
  T.truthy((p - q):abs():stats().max < 1e-3, "a network that reads the occupancy starts as one that did not")
  T.raises(function() models.diffusion{size = 16, preset = "small"}:init_from(dir .. "/m.safetensors") end,
           "no tensor")
  T.raises(function() models.diffusion{preset = "atoms", consistent = false} end, "consistency projection")
  T.rmtree(dir)
end)

T.test("at S = 64 (up to 52 atoms): encoded crystals are fixed points, and a model warm-started from S = 32 trains and samples", function()
  local big = ct.dataset.load(srcdir .. "/share/sample/mpts_52_val_sample.csv")
  local list = {}
  for i = 1, #big do if big[i].natoms >= 44 then list[#list + 1] = big[i] end end
  T.truthy(#list >= 8, "the sample has crystals of 44 to 52 atoms: " .. #list)
  local x64 = ct.crystens.encode(list, {size = 64, species = "periodic"})
  local sc = ct.crystens.scaler(x64)
  local scaled = sc:scale(x64)
  local counts = {}
  for i, c in ipairs(list) do counts[i] = c.natoms end
  local y = sc:project(scaled, {natoms = counts})
  T.truthy((y - scaled):abs():stats().max < 5e-5, "the projection keeps 44-52-atom crystals")
  local _, d = ct.crystens.decode(x64)
  for i = 1, #list do T.eq(d[i].natoms, list[i].natoms, "crystal " .. i .. " decodes with all its atoms") end
  -- the atom network's weights do not depend on S: an S = 32 model starts an S = 64 one
  tensor.seed(SEED)
  local dir = T.tmpdir()
  local m32 = models.diffusion{size = 32, preset = "atoms", base = 16, depth = 1, groups = 4}
  ct.train{model = m32, data = ct.crystens.encode(ds, {size = 32, species = "periodic"}), steps = 2, batch = 4, seed = 1}
  m32:export(dir .. "/m32.safetensors")
  local m64 = models.diffusion{size = 64, preset = "atoms", base = 16, depth = 1, groups = 4}
  m64:init_from(dir .. "/m32.safetensors")
  T.truthy(m64.scaler == nil and m64.config.natoms == nil, "the S = 32 scaler and atom counts stay behind")
  local _, w32 = models.load(dir .. "/m32.safetensors").unet:state()
  local _, w64 = m64.unet:state()
  for k = 1, #w32 do T.truthy((w32[k] - w64[k]):abs():stats().max == 0, "weight " .. k .. " copied") end
  ct.train{model = m64, data = x64, steps = 2, batch = 4, seed = 1}
  T.eq(#m64.config.natoms, 52, "atom counts over 52 slots")
  T.eq(m64.config.natoms[list[1].natoms] > 0, true, "counted from the S = 64 data")
  local s = m64:sample(2, {steps = 3, seed = 1, natoms = {52, 45}})
  local _, ds64 = ct.crystens.decode(s, {min_distance = 0})
  T.eq(ds64[1].natoms, 52, "52 atoms sampled")
  T.eq(ds64[2].natoms, 45, "45 atoms sampled")
  T.rmtree(dir)
end)

T.done()
