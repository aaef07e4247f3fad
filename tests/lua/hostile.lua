-- Hostile and huge inputs, and faults: no shell from a path, files written
-- without destroying what is not ours, training logs that survive a kill,
-- checkpoints that cannot lie about their size, and readers that refuse
-- what they cannot handle with a message naming it.
local T = require "tap"
local ct = require "crystens"

local tmp = T.tmpdir()
local srcdir = os.getenv("top_srcdir") or "."
local C = os.getenv("CRYSTENS") or "crystens"

-- Run a shell command (fixed text, our own temporary paths) and return
-- its output.
local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  return out
end

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- ---- No shell from a path ----------------------------------------------------------------

T.test("no example, lesson or module hands text to a shell", function()
  local files = sh("ls " .. q(srcdir) .. "/examples/*.lua " .. q(srcdir) .. "/examples/workshop/*.lua " ..
                   q(srcdir) .. "/lua/crystens/*.lua")
  local n = 0
  for path in files:gmatch("[^\n]+") do
    n = n + 1
    T.truthy(not T.slurp(path):find("os.execute", 1, true), path .. " calls os.execute")
  end
  T.truthy(n > 10, "files looked at: " .. n)
end)

T.test("an output folder named with quotes and a command is made as named, nothing runs", function()
  local evil = tmp .. "/x'; touch " .. tmp .. "/PWNED; echo 'O'Brien"
  package.path = srcdir .. "/examples/?.lua;" .. package.path
  local saved = arg
  arg = {[0] = "train.lua", "--out", evil}
  local ok, err = pcall(function() require("train_common").options{out = "run", steps = 1} end)
  arg = saved
  T.truthy(ok, tostring(err))
  T.truthy(not T.exists(tmp .. "/PWNED"), "the command in the path ran")
  local f = io.open(evil .. "/probe", "w")
  T.truthy(f, "the folder " .. evil .. " exists")
  f:close()
end)

-- ---- The atomic writer ----------------------------------------------------------------------

T.test("writing to a symbolic link replaces the file it points to and keeps the link", function()
  local d = tmp .. "/links"
  ct.file.mkdirs(d .. "/real")
  os.execute("ln -s real/target.txt " .. q(d .. "/link"))
  ct.file.write(d .. "/link", "one")
  ct.file.write(d .. "/link", "two")
  T.eq(sh("readlink " .. q(d .. "/link")), "real/target.txt\n", "the link")
  T.eq(T.slurp(d .. "/real/target.txt"), "two", "the target")
  T.eq(sh("ls " .. q(d)), "link\nreal\n", "the folder")
end)

T.test("a FIFO is written through, not replaced", function()
  local fifo = tmp .. "/fifo"
  os.execute("mkfifo " .. q(fifo) .. " && (cat " .. q(fifo) .. " > " .. q(tmp .. "/fifo.out") .. " &)")
  ct.file.write(fifo, "through the pipe\n")
  os.execute("sleep 0.2")
  T.eq(sh("stat -c %F " .. q(fifo)), "fifo\n", "the FIFO is still one")
  T.eq(T.slurp(tmp .. "/fifo.out"), "through the pipe\n", "what the reader got")
end)

T.test("/dev/null stays a device; /dev/full gives an error", function()
  ct.file.write("/dev/null", "nothing")
  T.eq(sh("stat -c %F /dev/null"), "character special file\n", "/dev/null")
  T.raises(function() ct.file.write("/dev/full", "x") end, "/dev/full: write failed: No space left")
  T.eq(sh("stat -c %F /dev/full"), "character special file\n", "/dev/full")
  T.raises(function() ct.file.write(tmp, "x") end, tmp .. ": cannot write: it is a folder")
end)

T.test("a file replaced keeps its permissions", function()
  local p = tmp .. "/private.txt"
  T.write(p, "secret")
  os.execute("chmod 600 " .. q(p))
  ct.file.write(p, "still secret")
  T.eq(sh("stat -c %a " .. q(p)), "600\n", "mode")
end)

T.test("names up to 255 bytes can be written (the temporary name is cut to fit)", function()
  for _, len in ipairs{244, 250, 255} do
    local p = tmp .. "/" .. string.rep("n", len)
    ct.file.write(p, "long " .. len)
    ct.file.write(p, "again " .. len)
    T.eq(T.slurp(p), "again " .. len, "name of " .. len .. " bytes")
    os.remove(p)
  end
  T.raises(function() ct.file.write(tmp .. "/" .. string.rep("n", 256), "x") end, "too long")
end)

T.test("temporaries a killed writer left are removed by the next save, a live one's kept", function()
  local d = tmp .. "/stale"
  ct.file.mkdirs(d)
  -- the pid of a process that has exited, and ours (alive)
  local dead = tonumber(sh("sh -c 'echo $$'"))
  local live = tonumber(sh("echo $PPID"))
  T.write(d .. "/ckpt.safetensors.tmp." .. dead .. ".a1B2c3", "left by a kill")
  T.write(d .. "/ckpt.safetensors.tmp." .. live .. ".x9Y8z7", "being written")
  T.write(d .. "/other.tmp." .. dead .. ".a1B2c3", "another file's")
  ct.file.write(d .. "/ckpt.safetensors", "new")
  T.eq(sh("ls " .. q(d)), "ckpt.safetensors\nckpt.safetensors.tmp." .. live .. ".x9Y8z7\n" ..
       "other.tmp." .. dead .. ".a1B2c3\n", "what is left")
end)


-- ---- Checkpoints that cannot lie about their size ---------------------------------------

-- The process's peak resident memory so far, in MB.
local function peak_mb()
  local status = T.slurp("/proc/self/status")
  return tonumber(status:match("VmHWM:%s*(%d+)")) / 1024
end

-- tests/fuzz/corpus/safetensors/config-*.safetensors: a GAN of 6 KB (size
-- 16, base 1, latent 1) whose configuration says otherwise: out of bounds
-- (latent 100000, base 20000, nres 100000, timesteps 1e9), unknown fields,
-- wrong types, or networks larger than the weights the file holds.
T.test("crafted checkpoint configurations are refused by field, before allocating", function()
  local files = sh("ls " .. q(srcdir) .. "/tests/fuzz/corpus/safetensors/config-*.safetensors")
  local n, before = 0, peak_mb()
  for path in files:gmatch("[^\n]+") do
    n = n + 1
    local err = T.raises(function() ct.models.load(path) end, path .. ": ")
    T.truthy(err:find("configuration", 1, true), err)
  end
  T.eq(n, 14, "crafted files")
  T.truthy(peak_mb() - before < 100, ("peak memory grew by %.0f MB"):format(peak_mb() - before))
end)

T.test("the field named is the one that is wrong; a genuine checkpoint still loads", function()
  local dir = srcdir .. "/tests/fuzz/corpus/safetensors/"
  T.raises(function() ct.models.load(dir .. "config-diffusion-nres.safetensors") end,
           "configuration field 'nres' is 100000, expected an integer from 1 to 16")
  T.raises(function() ct.models.load(dir .. "config-diffusion-timesteps.safetensors") end,
           "configuration field 'timesteps' is 1000000000")
  T.raises(function() ct.models.load(dir .. "config-latent-unlike-tensors.safetensors") end,
           "describes a 'generator' of at least 2080 weights, the file holds 171")
  T.raises(function() ct.models.load(dir .. "config-not-object.safetensors") end,
           "configuration is not a JSON object")
  local m = ct.models.diffusion{size = 16, preset = "tiny"}
  m:save(tmp .. "/tiny.safetensors")
  T.eq(ct.models.load(tmp .. "/tiny.safetensors"):nparams(), m:nparams(), "parameters")
  -- a new configuration field is accepted once registered
  local cc = require "crystens.checkpoint_config"
  local core, json = require "crystens.nn_core", require "crystens.json"
  local names, ts, meta = core.load(tmp .. "/tiny.safetensors")
  local cfg = json.decode(meta.config)
  cfg.consistent = true
  meta.config = json.encode(cfg)
  core.save(tmp .. "/new.safetensors", names, ts, meta)
  local saved = cc.fields["crystens.diffusion"].consistent
  if not saved then
    T.raises(function() ct.models.load(tmp .. "/new.safetensors") end, "unknown configuration field 'consistent'")
  end
  cc.fields["crystens.diffusion"].consistent = cc.boolean
  T.truthy(ct.models.load(tmp .. "/new.safetensors"), "loads once registered")
  cc.fields["crystens.diffusion"].consistent = saved
end)

T.test("sampling a model saved without a scaler says what to do", function()
  local m = ct.models.gan{size = 16, base = 1, latent = 1}
  m:save(tmp .. "/noscaler.safetensors")
  local m2 = ct.models.load(tmp .. "/noscaler.safetensors")
  T.raises(function() m2:sample(2) end, "sample: the model has no scaler yet: call model:fit_scaler(data)")
  local d = ct.models.diffusion{size = 16, preset = "tiny"}
  T.raises(function() d:sample(1, {steps = 2}) end, "sample: the model has no scaler yet")
end)

T.rmtree(tmp)
T.done()
