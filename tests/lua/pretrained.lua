-- The pretrained model shipped in share/models: it loads, samples at once,
-- and reproduces the metrics MODEL.md records (diffusion-mpts52.metrics.json,
-- written by examples/evaluate_model.lua with the same settings).
local T = require "tap"
local ct = require "crystens"

local srcdir = os.getenv("top_srcdir") or "."
local dir = srcdir .. "/share/models"
local want = ct.json.decode(T.slurp(dir .. "/diffusion-mpts52.metrics.json"))

T.test("the shipped model loads and is small", function()
  local m = ct.models.pretrained()
  T.eq(m.kind, "crystens.diffusion", "kind")
  T.eq(m.config.size, 32, "size")
  T.truthy(m.scaler ~= nil, "the scaler travels with it")
  local f = assert(io.open(dir .. "/diffusion-mpts52.safetensors", "rb"))
  local bytes = f:seek("end")
  f:close()
  T.truthy(bytes < 8e6, bytes .. " bytes")
  T.raises(function() ct.models.pretrained("no-such-model") end, "no pretrained model 'no-such-model'")
end)

T.test("it reproduces the metrics MODEL.md records", function()
  arg = {[0] = srcdir .. "/examples/evaluate_model.lua", "--samples", tostring(want.samples),
         "--steps", tostring(want.steps), "--seed", tostring(want.seed)}
  local got = dofile(arg[0])
  for _, k in ipairs {"reconstructed", "struct_valid", "comp_valid", "valid", "cov_r", "cov_p"} do
    T.near(got[k], want[k], 0.05, k)
  end
  for _, k in ipairs {"var_lengths", "var_angles", "var_sg", "var_frac", "coord_agreement",
                      "pdm_diff"} do
    T.near(got[k] / want[k], 1, 0.1, k .. " relative to MODEL.md")
  end
  for k, v in pairs(want.ks) do T.near(got.ks[k], v, 0.08, "K-S " .. k) end
end)

T.done()
