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
  cfg.novel = 3
  meta.config = json.encode(cfg)
  core.save(tmp .. "/new.safetensors", names, ts, meta)
  T.raises(function() ct.models.load(tmp .. "/new.safetensors") end, "unknown configuration field 'novel'")
  cc.fields["crystens.diffusion"].novel = cc.integer(1, 5)
  T.truthy(ct.models.load(tmp .. "/new.safetensors"), "loads once registered")
  cc.fields["crystens.diffusion"].novel = nil
end)

T.test("sampling a model saved without a scaler says what to do", function()
  local m = ct.models.gan{size = 16, base = 1, latent = 1}
  m:save(tmp .. "/noscaler.safetensors")
  local m2 = ct.models.load(tmp .. "/noscaler.safetensors")
  T.raises(function() m2:sample(2) end, "sample: the model has no scaler yet: call model:fit_scaler(data)")
  local d = ct.models.diffusion{size = 16, preset = "tiny"}
  T.raises(function() d:sample(1, {steps = 2}) end, "sample: the model has no scaler yet")
end)

-- ---- Training: logs that survive a kill, divergence caught before a save ------------------

-- What fn writes to io.stderr (ct.train's notices), and fn's pcall results.
local function stderr_of(fn)
  local saved, out = io.stderr, {}
  io.stderr = {write = function(self, ...) for _, v in ipairs{...} do out[#out + 1] = v end return self end,
               flush = function(self) return self end}
  local res = table.pack(pcall(fn))
  io.stderr = saved
  return table.concat(out), table.unpack(res, 1, res.n)
end

local function tiny_data() return ct.tensor.rand({8, 4, 16, 16}, ct.tensor.rng(5)) end

T.test("a training log killed with SIGKILL mid-run agrees with the checkpoint on resume", function()
  local d = tmp .. "/killed"
  ct.file.mkdirs(d)
  -- the child kills itself (SIGKILL, no clean-up) inside step 23
  T.write(d .. "/run.lua", [[
local dir, kill_at = arg[1], tonumber(arg[2])
local m = ct.models.diffusion{size = 16, preset = "tiny"}
local step = m.train_step
m.train_step = function(self, b)
  if self.step + 1 == kill_at then
    local pid = io.open("/proc/self/stat"):read("n")
    os.execute("kill -9 " .. pid)
  end
  return step(self, b)
end
ct.train{model = m, data = ct.tensor.rand({8, 4, 16, 16}, ct.tensor.rng(5)), steps = 30, batch = 4,
         every = 10, checkpoint = dir .. "/ckpt.safetensors", log = dir .. "/log.csv"}
]])
  os.execute(q(C) .. " " .. q(d .. "/run.lua") .. " " .. q(d) .. " 23 2>/dev/null")
  local log = T.slurp(d .. "/log.csv")
  T.eq(log:match("^[^\n]*"), "step,loss,samples_per_s,seconds", "header after the kill")
  T.eq(select(2, log:gsub("\n", "")), 23, "lines after the kill (header and steps 1-22)")
  local err = stderr_of(function()
    os.execute(q(C) .. " " .. q(d .. "/run.lua") .. " " .. q(d) .. " 0 2> " .. q(d .. "/err"))
  end)
  T.truthy(T.slurp(d .. "/err"):find("train: resuming from step 20 of 30", 1, true), T.slurp(d .. "/err") .. err)
  local cols = ct.plot.read_csv(d .. "/log.csv")
  T.eq(table.concat(cols.names, ","), "step,loss,samples_per_s,seconds", "columns")
  T.eq(#cols.step, 30, "rows")
  for i = 1, 30 do T.eq(cols.step[i], i, "step of row " .. i) end
end)

T.test("a log that cannot be written stops training with an error", function()
  local d = tmp .. "/full"
  ct.file.mkdirs(d)
  os.execute("ln -s /dev/full " .. q(d .. "/log.csv"))
  local m = ct.models.diffusion{size = 16, preset = "tiny"}
  T.raises(function()
    ct.train{model = m, data = tiny_data(), steps = 3, batch = 4, log = d .. "/log.csv"}
  end, "train: cannot write the log " .. d .. "/log.csv: No space left on device")
  T.eq(sh("stat -c %F /dev/full"), "character special file\n", "/dev/full")
end)

T.test("divergence is caught before a save, in all three model families", function()
  for _, kind in ipairs{"diffusion", "gan", "wgan"} do
    local m = kind == "diffusion" and ct.models.diffusion{size = 16, preset = "tiny"}
              or ct.models[kind]{size = 16, base = 8, latent = 8}
    local ck = tmp .. "/div-" .. kind .. ".safetensors"
    stderr_of(function()
      ct.train{model = m, data = tiny_data(), steps = 3, batch = 4, every = 1, checkpoint = ck}
    end)
    m:lr(1e6)
    local _, ok, err = stderr_of(function()
      ct.train{model = m, data = tiny_data(), steps = 6, batch = 4, every = 1, checkpoint = ck}
    end)
    T.truthy(not ok, kind .. " trained on at lr = 1e6")
    T.truthy(tostring(err):find("training diverged at step 4: the weights of", 1, true), tostring(err))
    T.truthy(tostring(err):find("the last good checkpoint is " .. ck, 1, true), tostring(err))
    local kept = ct.models.load(ck)
    T.eq(kept.step, 3, kind .. ": the kept checkpoint's step")
    for _, e in ipairs(kept.nets) do
      local w = e[2]:flat()
      T.truthy(w:norm() / math.sqrt(w:numel()) < 1, kind .. ": kept weights of " .. e[1])
    end
  end
end)

T.test("a loss that jumps a thousandfold stops training before the save", function()
  local m = ct.models.diffusion{size = 16, preset = "tiny"}
  local step = m.train_step
  m.train_step = function(self, b)
    local r = step(self, b)
    if self.step == 15 then r.loss = 5000 end   -- a loss of about 1 until then
    return r
  end
  local ck = tmp .. "/jump.safetensors"
  local _, ok, err = stderr_of(function()
    ct.train{model = m, data = tiny_data(), steps = 20, batch = 4, every = 1, checkpoint = ck}
  end)
  T.truthy(not ok and tostring(err):find("training diverged at step 15: loss 'loss' jumped to 5000", 1, true),
           tostring(err))
  T.eq(ct.models.load(ck).step, 14, "the kept checkpoint's step")
end)

T.test("training options are checked before the first step", function()
  local m = ct.models.diffusion{size = 16, preset = "tiny"}
  local x = tiny_data()
  local before = peak_mb()
  T.raises(function() ct.train{model = m, data = x, batch = 1e8} end,
           "bad option 'batch' to 'ct.train' (an integer from 1 to 4096 expected, got 1")
  T.truthy(peak_mb() - before < 50, "memory grew by " .. (peak_mb() - before) .. " MB")
  T.raises(function() ct.train{model = m, data = x, steps = -1} end, "bad option 'steps'")
  T.raises(function() ct.train{model = m, data = x, steps = 2.5} end, "bad option 'steps'")
  T.raises(function() ct.train{model = m, data = x, lr = 0 / 0} end, "bad option 'lr'")
  T.raises(function() ct.train{model = m, data = x, lr = 1e6} end, "bad option 'lr'")
  T.raises(function() ct.train{model = m, data = x, every = -5} end, "bad option 'every'")
  T.raises(function() ct.train{model = m, data = x:narrow(1, 0)} end, "bad option 'data' to 'ct.train' (no rows)")
  local y = x:clone()
  m:fit_scaler(x)
  y:set(0 / 0, 2, 1, 3, 3)
  T.raises(function() ct.train{model = m, data = y, steps = 1} end,
           "bad option 'data' to 'ct.train' (1 of its values are NaN or infinite)")
  T.eq(m.step, 0, "steps taken")
end)

T.test("a rerun resumes only the same configuration, and says what it does", function()
  local ck, x = tmp .. "/rerun.safetensors", tiny_data()
  local function run(cfg, steps)
    local m = ct.models.diffusion(cfg)
    local data = cfg.size == 16 and x or ct.tensor.rand{8, 4, cfg.size, cfg.size}
    return stderr_of(function()
      return ct.train{model = m, data = data, steps = steps, batch = 4, every = 2, checkpoint = ck}
    end)
  end
  run({size = 16, preset = "tiny"}, 2)
  local msg, ok, r = run({size = 16, preset = "tiny"}, 4)
  T.truthy(ok, tostring(r))
  T.truthy(msg:find("train: resuming from step 2 of 4", 1, true), msg)
  T.eq(r.steps, 4, "steps")
  msg, ok, r = run({size = 16, preset = "tiny"}, 4)
  T.truthy(msg:find("train: already trained to step 4 (steps = 4): nothing to do", 1, true), msg)
  T.eq(r.losses, nil, "losses of a run that ran no step")
  msg, ok, r = run({size = 16, preset = "tiny", target = "v"}, 6)
  T.truthy(not ok, "resumed another target")
  T.truthy(tostring(r):find('was trained with target = "eps", this model has target = "v"', 1, true), tostring(r))
  msg, ok, r = run({size = 16, preset = "compact"}, 6)
  T.truthy(tostring(r):find('was trained with preset = "tiny", this model has preset = "compact"', 1, true),
           tostring(r))
  msg, ok, r = run({size = 16, preset = "tiny", base = 16, groups = 4}, 6)
  T.truthy(tostring(r):find("was trained with base = 8, this model has base = 16", 1, true), tostring(r))
  msg, ok, r = run({size = 32, preset = "tiny"}, 6)
  T.truthy(tostring(r):find("was trained with size = 16, this model has size = 32", 1, true), tostring(r))
end)

-- ---- CIF reading ------------------------------------------------------------------------------

local corpus = srcdir .. "/tests/fuzz/corpus/cif/"

T.test("element symbols are read whole: Og, Sg, Hs, Bh, Nh, Cn, Fl and Uuo are refused by name", function()
  local head = "data_x\n_cell_length_a 5\n_cell_length_b 5\n_cell_length_c 5\nloop_\n" ..
               "_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n"
  for sym, z in pairs{Og = 118, Sg = 106, Hs = 108, Bh = 107, Nh = 113, Cn = 112, Fl = 114, Uuo = 118} do
    T.raises(function() ct.cif.parse(head .. sym .. " 0 0 0\n", "s.cif") end,
             "site #1: element '" .. sym .. "' (Z = " .. z .. ") is past those crystens knows (H to Lr)")
  end
  T.raises(function() ct.cif.parse(head .. "Xy1 0 0 0\n", "s.cif") end, "unknown element 'Xy1'")
  T.raises(function() ct.cif.read(corpus .. "superheavy.cif") end, "element 'Og' (Z = 118)")
  T.eq(table.concat(ct.cif.parse(head .. "Fe3+ 0 0 0\nO2- 0.5 0.5 0.5\n", "s.cif")[1].symbols, " "),
       "Fe O", "elements")
end)

T.test("elements come from labels as pymatgen reads them, with a warning", function()
  local out = tmp .. "/warn.txt"
  local script = tmp .. "/labels.lua"
  T.write(script, "io.write(table.concat(ct.cif.read(arg[1])[1].symbols, ' '))")
  local got = sh(q(C) .. " " .. q(script) .. " " .. q(corpus .. "labels-water.cif") .. " 2> " .. q(out))
  T.eq(got, "Zn O O O", "hemimorphite's water read as oxygen, not tungsten")
  T.eq(T.slurp(out), "warning: " .. corpus .. "labels-water.cif: block hemi: elements guessed from " ..
       "atom labels (no _atom_site_type_symbol): Wat5 as O, O-H3 as O\n", "warning")
  -- exact labels ("Zn1", "O1") give no warning
  local plain = T.slurp(corpus .. "labels-water.cif"):gsub("Wat5", "O5"):gsub("O%-H3", "O3")
  T.write(tmp .. "/plain.cif", plain)
  sh(q(C) .. " " .. q(script) .. " " .. q(tmp .. "/plain.cif") .. " 2> " .. q(out))
  T.eq(T.slurp(out), "", "warnings for exact labels")
end)

T.test("a UTF-8 byte order mark is skipped", function()
  -- in a child: the file's labels give a warning on stderr
  local script = T.write(tmp .. "/natoms.lua", "io.write(ct.cif.read(arg[1])[1].natoms)")
  T.eq(sh(q(C) .. " " .. q(script) .. " " .. q(corpus .. "bom.cif") .. " 2>/dev/null"), "4", "atoms")
end)

T.test("a CSV file's byte order mark is not part of its first column's name", function()
  local ds = ct.dataset.load(srcdir .. "/tests/fuzz/corpus/csv/bom.csv")
  T.eq(#ds, 1, "structures")
  T.eq(ds.columns[1], "id", "first column")
  T.eq(tostring(ds[1].properties.id), "1", "its value")
end)

T.test("cells of 1e10 or 1e-200 A are refused at reading, naming the value", function()
  T.raises(function() ct.cif.read(corpus .. "cell-huge.cif") end,
           "_cell_length_a is 1e+10 A (cells of 0.1 to 10000 A are read)")
  T.raises(function() ct.cif.read(corpus .. "cell-tiny.cif") end, "_cell_length_a is 1e-200 A")
  -- the same in a data set: the block is skipped with the reason
  local ds = ct.dataset.load(corpus .. "cell-huge.cif")
  T.eq(#ds, 0, "structures")
  T.truthy(ds.skipped[1].reason:find("1e+10 A", 1, true), ds.skipped[1].reason)
end)

-- ---- Data sets ---------------------------------------------------------------------------------

T.test("a FIFO in a data folder is skipped, not waited on", function()
  local d = tmp .. "/fifo-folder"
  ct.file.mkdirs(d)
  os.execute("cp " .. q(corpus .. "nacl-hm.cif") .. " " .. q(d .. "/a.cif") .. " && mkfifo " .. q(d .. "/b.cif"))
  -- in a child with a time limit: today's reader blocks forever
  local script = T.write(tmp .. "/fifo.lua", [[
local ds = ct.dataset.load(arg[1])
io.write(#ds, " ", ds.skipped[1].where, ": ", ds.skipped[1].reason)]])
  local got = sh("timeout 20 " .. q(C) .. " " .. q(script) .. " " .. q(d) .. " 2>&1")
  T.eq(got, "1 " .. d .. "/b.cif: not a regular file (a FIFO, device or folder)", "result")
end)

T.test("ds.skipped is built once: every access is the same table", function()
  local d = tmp .. "/skips"
  ct.file.mkdirs(d)
  for i = 1, 30 do T.write(d .. "/bad" .. i .. ".cif", "data_x\n_cell_length_a 5\n") end
  local ds = ct.dataset.load(d)
  T.eq(#ds.skipped, 30, "skipped")
  T.truthy(rawequal(ds.skipped, ds.skipped), "ds.skipped is rebuilt at each access")
  T.eq(ds.skipped[30].row, 30, "row")
end)

-- The peak memory (MB) of a child reading path as a data set.
local function child_peak(path)
  local script = T.write(tmp .. "/peak.lua", [[
pcall(ct.dataset.load, arg[1])
io.write(io.open("/proc/self/status"):read("a"):match("VmHWM:%s*(%d+)"))]])
  return tonumber(sh(q(C) .. " " .. q(script) .. " " .. q(path) .. " 2>/dev/null")) / 1024
end

T.test("a binary file with newlines named .cif is refused at its first block", function()
  -- 40 MB of NUL-and-newline, scaled down from 2 GB
  local path = tmp .. "/binary.cif"
  local f = assert(io.open(path, "wb"))
  local block = string.rep("\0\n", 1 << 19)
  for _ = 1, 40 do f:write(block) end
  f:close()
  T.raises(function() ct.cif.read(path) end, path .. ": binary data (a NUL byte at offset 0)")
  local grew = child_peak(path) - child_peak(corpus .. "nacl-hm.cif")
  os.remove(path)
  T.truthy(grew < 10, ("reading it took %.0f MB more than a small CIF"):format(grew))
end)

-- ---- Huge crystals ----------------------------------------------------------------------------

-- A crystal of n atoms on a grid 2.5 A apart (no two closer).
local function big_crystal(n)
  local k = math.ceil(n ^ (1 / 3))
  local z, f = {}, {}
  for i = 0, n - 1 do
    z[#z + 1] = i % 3 == 0 and 8 or 14
    f[#f + 1] = {(i % k + 0.1) / k, ((i // k) % k + 0.13) / k, (i // (k * k) + 0.27) / k}
  end
  return ct.structure.new{lattice = {k * 2.5, k * 2.5, k * 2.5, 90, 90, 90}, species = z, frac = f}
end

T.test("a crystal past 5000 atoms is refused at once by the quadratic analyses, naming its size", function()
  local s = big_crystal(5001)
  T.raises(function() s:refined() end, "a crystal of 5001 atoms is too large for a symmetry search (at most 5000 atoms)")
  T.raises(function() s:to_cif{symmetrize = true} end, "a crystal of 5001 atoms is too large")
  T.raises(function() ct.fingerprint.structure(s) end, "a crystal of 5001 atoms is too large for a fingerprint")
  T.raises(function() s:distances() end, "a crystal of 5001 atoms is too large for the matrix of all distances")
  -- s:symmetry() raises, or returns nil and the reason
  local ok, sym, why = pcall(s.symmetry, s)
  T.truthy(tostring(ok and why or sym):find("5001 atoms is too large", 1, true), tostring(ok and why or sym))
  T.truthy(tostring(s):find("5001 atoms", 1, true), tostring(s))
  -- a crystal at the limit is still analysed
  T.truthy(ct.fingerprint.structure(big_crystal(60)), "fingerprint of 60 atoms")
end)

-- ---- Messages --------------------------------------------------------------------------------------

T.test("a .npy whose descr is spelled inside another header string is read by its real keys", function()
  -- {'note': "'descr': '<f8', 'shape': (1,)", 'descr': '<f4', ..., 'shape': (2,)} holding 1.5, 2.5
  local t = ct.tensor.load(srcdir .. "/tests/fuzz/corpus/npy/descr-in-string.npy")
  T.eq(table.concat(t:shape(), "x"), "2", "shape")
  T.eq(t:get(1), 1.5, "first value")
  T.eq(t:get(2), 2.5, "second value")
end)

T.test("names from files reach messages without terminal control sequences", function()
  local path = srcdir .. "/tests/fuzz/corpus/safetensors/escape-name.safetensors"
  local err = T.raises(function() require("crystens.nn_core").load(path) end, "has dtype F64")
  T.truthy(not err:find("[%c\127]") and not err:find("\194[\128-\159]"), "control bytes in: " .. err)
  T.truthy(err:find("'?[2J?[31mred??'", 1, true), err)
end)

T.test("cif.write into a folder it cannot make says why", function()
  local s = ct.cif.read(corpus .. "nacl-hm.cif")[1]
  T.raises(function() ct.cif.write({s}, tmp .. "/no/such/") end,
           tmp .. "/no/such/: cannot create the folder: No such file or directory")
end)

-- ---- Closed objects and the lists the bindings gather ------------------------------------

T.test("an object closed early raises an error naming it when used, and prints as freed", function()
  local nn_core, mcore = require "crystens.nn_core", require "crystens.metrics_core"
  local cdvae = require "crystens.cdvae_core"
  local s = ct.cif.read(corpus .. "nacl-hm.cif")[1]
  local cases = {
    {function() return nn_core.linear(2, 2) end, function(x) return x:kind() end,
     "layer has been freed", "Layer (freed)"},
    {function() return nn_core.adam_state(4) end, function(x) return x:lr() end,
     "optimizer has been freed"},
    {function() return s:clone() end, function(x) return x:volume() end,
     "structure has been freed", "Structure (freed)"},
    {function() return ct.dataset.load(corpus .. "nacl-hm.cif", {progress = false}) end,
     function(x) return #x end, "data set has been freed", "Dataset (freed)"},
    {function() return mcore.smact_load(ct.datadir .. "/smact") end,
     function(x) return x:states(11) end, "SMACT table has been freed"},
    {function() return cdvae.magpie_load(ct.datadir .. "/magpie") end,
     function(x) return x:features({11}, {1}) end, "Magpie table has been freed"},
  }
  for _, c in ipairs(cases) do
    local kept
    do
      local x <close> = c[1]()
      T.truthy(c[2](x), "usable before it is closed")
      kept = x
    end
    T.raises(function() c[2](kept) end, c[3])
    if c[4] then T.eq(tostring(kept), c[4]) end
  end
end)

T.test("a list of layers with something else in it names the item", function()
  local nn_core = require "crystens.nn_core"
  local l = nn_core.linear(2, 2)
  T.raises(function() nn_core.flatten({l, "x"}) end, "(item 2 is not a layer)")
  T.raises(function() nn_core.to_device({l, {}}, nil, nil, "cpu") end, "(item 2 is not a layer)")
  local closed
  do
    local x <close> = nn_core.linear(2, 2)
    closed = x
  end
  T.raises(function() nn_core.flatten({l, closed}) end, "(item 2 is not a layer)")
end)

T.test("checkpoint metadata maps strings to strings or numbers, nothing else", function()
  local nn_core = require "crystens.nn_core"
  local path = tmp .. "/meta.safetensors"
  T.raises(function() nn_core.save(path, {"w"}, {ct.tensor.new(2)}, {step = {}}) end,
           "metadata must map strings to strings or numbers")
  T.raises(function() nn_core.save(path, {"w"}, {ct.tensor.new(2)}, {ok = true}) end,
           "metadata must map strings to strings or numbers")
  T.truthy(not T.exists(path), "nothing written")
  nn_core.save(path, {"w"}, {ct.tensor.new(2)}, {step = 3, lr = 0.5, name = "x"})
  local _, _, meta = nn_core.load(path)
  T.eq(meta.step, "3")
  T.eq(meta.lr, "0.5")
  T.eq(meta.name, "x")
end)

T.rmtree(tmp)
T.done()
