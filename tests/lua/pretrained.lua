-- The pretrained models shipped in share/models: they load, sample at once,
-- and the default one reproduces the metrics MODEL.md records
-- (diffusion-atoms32.metrics.json, written by examples/evaluate_model.lua
-- with the same settings; tests/pretrained_score.test checks the same
-- model with the independent scorer).
local T = require "tap"
local ct = require "crystens"

local srcdir = os.getenv("top_srcdir") or "."
local dir = srcdir .. "/share/models"
local want = ct.json.decode(T.slurp(dir .. "/diffusion-atoms32.metrics.json"))

T.test("the shipped models load and are small", function()
  local m = ct.models.pretrained()
  T.eq(m.kind, "crystens.diffusion", "kind")
  T.eq(m.config.size, 32, "size")
  T.eq(m.config.arch, "atoms", "the atom network")
  T.truthy(m.config.consistent and #m.config.natoms == 20, "consistent, with its atom counts")
  T.truthy(m.scaler ~= nil, "the scaler travels with it")
  local paper = ct.models.pretrained("diffusion-mpts52")
  T.eq(paper.config.consistent, false, "the paper's plain U-Net")
  local total = 0
  for _, name in ipairs {"diffusion-atoms32", "diffusion-mpts52"} do
    local f = assert(io.open(dir .. "/" .. name .. ".safetensors", "rb"))
    total = total + f:seek("end")
    f:close()
  end
  T.truthy(total < 16e6, total .. " bytes")
  T.raises(function() ct.models.pretrained("no-such-model") end, "no pretrained model 'no-such-model'")
end)

T.test("the S = 64 model loads, samples up to 52 atoms and reconstructs", function()
  local m = ct.models.pretrained("diffusion-atoms64")
  T.eq(m.config.size, 64, "size")
  T.eq(m.config.arch, "atoms", "the atom network")
  T.truthy(m.config.consistent and #m.config.natoms == 52, "consistent, with counts up to 52 atoms")
  local x = m:sample(2, {steps = 5, seed = 1, natoms = {52, 30}})
  T.eq(table.concat(x:shape(), "x"), "2x4x64x64", "sample shape")
  local out, d = ct.crystens.decode(x, {min_distance = 0})
  for i, want in ipairs{52, 30} do
    T.eq(d[i].natoms, want, "sample " .. i .. ": the atom count asked for")
    T.truthy(out[i], "sample " .. i .. " reconstructs")
  end
  -- the issue's budget for everything shipped in share/models
  local total = 0
  local ls = assert(io.popen("ls '" .. dir .. "'"))
  for name in ls:lines() do
    local f = io.open(dir .. "/" .. name, "rb")
    if f then total = total + f:seek("end"); f:close() end
  end
  ls:close()
  T.truthy(total <= 40e6, "all of share/models within 40 MB: " .. total .. " bytes")
end)

T.test("it reproduces the metrics MODEL.md records", function()
  arg = {[0] = srcdir .. "/examples/evaluate_model.lua", "--samples", tostring(want.samples),
         "--steps", tostring(want.steps), "--seed", tostring(want.seed)}
  local got = dofile(arg[0])
  for _, k in ipairs {"reconstructed", "struct_valid", "comp_valid", "valid", "cov_r", "cov_p"} do
    T.near(got[k], want[k], 0.05, k)
  end
  T.near(got.w_nelem, want.w_nelem, 0.2, "W1 of the number of elements")
  -- consistent by construction: the copies' variances are float rounding
  for _, k in ipairs {"var_lengths", "var_angles", "var_sg", "var_frac", "coord_agreement",
                      "pdm_diff"} do
    T.truthy(got[k] < 1e-3, k .. " " .. got[k])
  end
  for k, v in pairs(want.ks) do T.near(got.ks[k], v, 0.08, "K-S " .. k) end
end)

T.done()
