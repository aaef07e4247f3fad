-- The training recipes (examples/train_{diffusion,gan,wgan}.lua through
-- train_common.lua) and examples/sample_cifs.lua as a user runs them:
-- their --device and --precision options are checked before anything is
-- read or written, a CPU run resumes from its checkpoint, and sample_cifs
-- samples a GAN (it used to hand the GAN the diffusion sampler's --steps).
-- tests/cuda/recipes.lua runs the same recipes on a GPU.
local T = require "tap"
local ct = require "crystens"

local srcdir = os.getenv("top_srcdir") or "."
local crystens = os.getenv("CRYSTENS") or "src/crystens"

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Run an example with arguments; returns its output and exit status.
local function run(script, args)
  local f = io.popen(("%s %s %s 2>&1"):format(q(crystens), q(srcdir .. "/examples/" .. script), args))
  local out = f:read("a")
  local ok, _, code = f:close()
  return out, ok and 0 or code
end

local tmp = T.tmpdir()

T.test("--device and --precision are checked before anything is read or written", function()
  for _, case in ipairs{
      {"train_gan.lua", "--device gpu", "bad option 'device' to 'train_gan.lua' (invalid value 'gpu'"},
      {"train_wgan.lua", "--precision fp64", "bad option 'precision' to 'train_wgan.lua' (invalid value 'fp64'"},
      {"train_diffusion.lua", "--precision tf32", "tf32 is the GPU's precision: it needs --device cuda"},
      {"sample_cifs.lua", "--device gpu", "bad option 'device' to 'sample_cifs.lua'"},
      {"sample_cifs.lua", "--batch 0", "--batch wants a positive integer"},
      {"sample_cifs.lua", "--model gan-s64 --symmetry 0.6:3:0.2", "--symmetry guides a diffusion model's sampling"}} do
    local dir = tmp .. "/bad"
    local out, code = run(case[1], case[2] .. " --out " .. q(dir))
    T.truthy(code ~= 0, case[1] .. " " .. case[2] .. " fails")
    T.truthy(out:find(case[3], 1, true), case[1] .. " " .. case[2] .. " says why: " .. out)
    T.truthy(not out:find("training on", 1, true), "no data was read")
    T.truthy(not T.exists(dir .. "/ckpt.safetensors") and not T.exists(dir .. "/samples.npy"),
             "nothing was written")
  end
end)

local no_gpu = "--device cuda without a GPU stops before the data is read, saying why"
if ct.nn.devices()[2] then T.skip(no_gpu, "this machine has a GPU: tests/cuda/recipes.lua runs there") else
T.test(no_gpu, function()
  local dir = tmp .. "/nogpu"
  local out, code = run("train_gan.lua", "--device cuda --steps 2 --out " .. q(dir))
  T.truthy(code ~= 0, "it fails")
  T.truthy(out:find("--device cuda: no GPU (", 1, true), "it names the missing GPU: " .. out)
  T.truthy(not out:find("training on", 1, true), "no data was read")
  T.truthy(not T.exists(dir .. "/ckpt.safetensors"), "no checkpoint")
end)
end

T.test("a recipe on --device cpu trains, reports its time and resumes from its checkpoint", function()
  local dir = tmp .. "/gan"
  local common = "--size 32 --base 8 --batch 4 --samples 2 --device cpu --out " .. q(dir)
  local out, code = run("train_gan.lua", "--steps 2 " .. common)
  T.eq(code, 0, "first run: " .. out)
  T.truthy(out:find("trained steps 1 to 2 in [%d.]+ s at [%d.]+ samples/s on cpu"), "it says where and how fast: " .. out)
  out, code = run("train_gan.lua", "--steps 3 " .. common)
  T.eq(code, 0, "second run: " .. out)
  T.truthy(out:find("trained steps 3 to 3 in", 1, true), "it resumed at step 3: " .. out)
  local rows = 0
  for line in T.slurp(dir .. "/log.csv"):gmatch("\n(%d+),") do rows = rows + 1; T.eq(tonumber(line), rows, "log row") end
  T.eq(rows, 3, "the log holds steps 1 to 3 once each")
end)

T.test("sample_cifs.lua samples a GAN: --steps and --clip are the diffusion sampler's", function()
  local dir = tmp .. "/gan-cifs"
  local out, code = run("sample_cifs.lua", "--model gan-s64 --samples 8 --seed 2 --batch 4 --out " .. q(dir))
  T.eq(code, 0, "it runs: " .. out)
  T.truthy(out:find("sampled 8 tensors (seed 2, on cpu)", 1, true), "it says what it sampled: " .. out)
  local written = tonumber(out:match("(%d+) of 8 samples reconstructed"))
  T.truthy(written and written > 0, "some reconstruct: " .. out)
  T.truthy(T.exists(dir .. "/samples.npy"), "the tensors are kept")
  T.eq(ct.tensor.load(dir .. "/samples.npy"):size(1), 8, "all 8 of them")
end)

T.test("--snapshots N exports every N steps, and the run is the run without snapshots", function()
  local a, b = tmp .. "/snap-a", tmp .. "/snap-b"
  local common = "--size 32 --base 8 --batch 4 --samples 2 --steps 5 "
  local out, code = run("train_gan.lua", common .. "--snapshots 2 --out " .. q(a))
  T.eq(code, 0, "with snapshots: " .. out)
  T.truthy(T.exists(a .. "/step-2.safetensors") and T.exists(a .. "/step-4.safetensors"), "steps 2 and 4 exported")
  T.truthy(not T.exists(a .. "/step-5.safetensors"), "not the last, unfinished period")
  out, code = run("train_gan.lua", common .. "--out " .. q(b) .. " --export " .. q(b .. "/end.safetensors"))
  T.eq(code, 0, "without: " .. out)
  local ma, mb = ct.models.load(a .. "/ckpt.safetensors"), ct.models.load(b .. "/end.safetensors")
  T.eq(ma.step, 5, "five steps")
  T.eq((ma.generator:flat() - mb.generator:flat()):norm(), 0, "the same generator")
  T.eq((ma.discriminator:flat() - mb.discriminator:flat()):norm(), 0, "the same discriminator")
  out, code = run("train_diffusion.lua", "--snapshots 2 --decay cosine --out " .. q(tmp .. "/snap-c"))
  T.truthy(code ~= 0 and out:find("--snapshots needs --decay constant", 1, true), "a cosine decay is refused: " .. out)
end)

T.test("pick_snapshot.lua copies the snapshot with the most valid multi-element crystals", function()
  local a = tmp .. "/snap-a"
  local best = tmp .. "/best.safetensors"
  local out, code = run("pick_snapshot.lua", ("--samples 40 --out %s %s %s"):format(q(best),
                        q(a .. "/step-2.safetensors"), q(srcdir .. "/share/models/gan-s64.safetensors")))
  T.eq(code, 0, out)
  local shares = {}
  for share in out:gmatch("reconstruct, ([%d.]+) %% valid") do shares[#shares + 1] = tonumber(share) end
  T.eq(#shares, 2, "one line per snapshot: " .. out)
  local want = shares[2] > shares[1] and "gan-s64.safetensors" or "step-2.safetensors"
  T.truthy(out:find("best: [^\n]*" .. want:gsub("%p", "%%%0")), "it names the better one: " .. out)
  T.eq(T.slurp(best), T.slurp(want == "gan-s64.safetensors" and srcdir .. "/share/models/gan-s64.safetensors"
                               or a .. "/step-2.safetensors"), "and copies it")
  out, code = run("pick_snapshot.lua", "--samples 0 x.safetensors")
  T.truthy(code ~= 0 and out:find("--samples wants a positive integer", 1, true), "bad --samples: " .. out)
end)

T.rmtree(tmp)
T.done()
