-- tests/cuda/recipes.lua - the training recipes on the GPU, as the device
-- jobs run them: examples/train_diffusion.lua and train_gan.lua with
-- --device cuda (and --precision tf32), a run begun on the GPU resumed on
-- the CPU from its checkpoint, SIGTERM during GPU training saving the
-- checkpoint, and examples/sample_cifs.lua sampling on the GPU.  Needs a
-- GPU: without one it skips, saying why (tests/lua/recipes.lua checks the
-- same recipes on the CPU).
local T = require "tap"
local ct = require "crystens"

local devs, why = ct.nn.devices()
if not devs[2] then
  T.skip("GPU recipe tests", why or "no GPU")
  T.done()
  return
end

local srcdir = os.getenv("top_srcdir") or "."
local crystens = os.getenv("CRYSTENS") or "src/crystens"
local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Run an example (prefix: a command put before it, e.g. timeout); returns
-- its output and exit status.
local function run(script, args, prefix)
  local f = io.popen(("%s%s %s %s 2>&1"):format(prefix or "", q(crystens),
                                                 q(srcdir .. "/examples/" .. script), args))
  local out = f:read("a")
  local ok, _, code = f:close()
  return out, ok and 0 or code
end

local tmp = T.tmpdir()

T.test("train_diffusion.lua --device cuda trains on the GPU; the run resumes on the CPU", function()
  local dir = tmp .. "/diff"
  local common = "--size 32 --preset tiny --batch 8 --samples 2 --out " .. q(dir)
  local out, code = run("train_diffusion.lua", "--steps 4 --device cuda --precision tf32 " .. common)
  T.eq(code, 0, "GPU run: " .. out)
  T.truthy(out:find("precision tf32", 1, true), "it says the precision: " .. out)
  T.truthy(out:find("trained steps 1 to 4 in [%d.]+ s at [%d.]+ samples/s on cuda"), "on the GPU: " .. out)
  out, code = run("train_diffusion.lua", "--steps 6 --device cpu " .. common)
  T.eq(code, 0, "CPU run: " .. out)
  T.truthy(out:find("trained steps 5 to 6 in [%d.]+ s at [%d.]+ samples/s on cpu"), "resumed on the CPU: " .. out)
  T.eq(ct.models.load(dir .. "/ckpt.safetensors").step, 6, "the checkpoint's step")
end)

T.test("SIGTERM during GPU training of the consistent 3-D GAN saves its checkpoint", function()
  local dir = tmp .. "/gan"
  local out, code = run("train_gan.lua", "--size 64 --conv 3d --base 4 --consistent yes --species periodic " ..
                        "--batch 8 --steps 1000000 --device cuda --out " .. q(dir),
                        "timeout --foreground -s TERM 25 ")
  T.truthy(code ~= 0, "it was stopped")
  T.truthy(out:find("checkpoint saved", 1, true), "it says the checkpoint was saved: " .. out)
  local m = ct.models.load(dir .. "/ckpt.safetensors")
  T.truthy(m.step > 0, "the checkpoint holds the steps taken (" .. m.step .. ")")
end)

T.test("sample_cifs.lua --device cuda samples the GPU-trained checkpoints", function()
  for _, name in ipairs{"diff", "gan"} do
    local dir = tmp .. "/" .. name .. "-cifs"
    local out, code = run("sample_cifs.lua", ("--model %s --samples 6 --steps 5 --batch 4 --device cuda --out %s")
                          :format(q(tmp .. "/" .. name .. "/ckpt.safetensors"), q(dir)))
    T.eq(code, 0, name .. ": " .. out)
    T.truthy(out:find("sampled 6 tensors (", 1, true) and out:find("on cuda) in", 1, true),
             name .. ": on the GPU: " .. out)
    T.eq(ct.tensor.load(dir .. "/samples.npy"):size(1), 6, name .. ": 6 tensors")
  end
end)

T.rmtree(tmp)
T.done()
