-- pick_snapshot.lua: which of a run's snapshots (train_*.lua --snapshots N)
-- makes the most plausible crystals, by a quick measure that needs no
-- reference data: of --samples crystals sampled from each, the share that
-- reconstruct with no two atoms closer than 0.5 Å, hold two or more elements
-- and pass SMACT 2.2's rules (tools/score_cifs.py's "valid and ≥ 2
-- elements" without its fingerprint check).  A GAN's losses do not say
-- when its samples are best; this does, in seconds per snapshot on a GPU.
--   crystens examples/pick_snapshot.lua [--samples 1000] [--seed 1] [--steps 50]
--       [--device cpu|cuda] [--batch 64] [--out best.safetensors] SNAPSHOT...
-- Prints one line per snapshot and copies the best one (the earliest of
-- equals) to --out when given.  --steps is a diffusion model's DDIM steps.
local ct = require "crystens"

local o = {samples = 1000, seed = 1, steps = 50, device = "cpu", batch = 64, out = ""}
local files = {}
local i = 1
while arg[i] do
  local key = arg[i]:match("^%-%-(%w+)$")
  if key then
    if o[key] == nil or arg[i + 1] == nil then
      error("usage: crystens examples/pick_snapshot.lua [--samples N] [--seed N] [--steps N] " ..
            "[--device cpu|cuda] [--batch N] [--out FILE] SNAPSHOT...", 0)
    end
    local v = arg[i + 1]
    if type(o[key]) == "number" then
      v = math.tointeger(tonumber(v)) or error("--" .. key .. " wants an integer", 0)
      if v < 1 then error("--" .. key .. " wants a positive integer", 0) end
    end
    o[key] = v
    i = i + 2
  else
    files[#files + 1] = arg[i]
    i = i + 1
  end
end
require("crystens.options").check("pick_snapshot.lua", {device = o.device}, {device = {"cpu", "cuda"}})
if #files == 0 then error("pick_snapshot.lua: no snapshot given", 0) end

-- a line per snapshot as it is measured: a run cut short still says what it saw
io.stdout:setvbuf("line")
local smact = ct.metrics.smact_table()
local best, best_share
for _, path in ipairs(files) do
  local m = ct.models.load(path)
  local opts = {seed = o.seed, batch = o.batch, device = o.device ~= "cpu" and o.device or nil}
  if m.kind == "crystens.diffusion" then opts.steps = o.steps end
  local t0 = os.time()
  local x = m:sample(o.samples, opts)
  local crystals = ct.crystens.decode(x)
  local built, good = 0, 0
  for k = 1, o.samples do
    local s = crystals[k]
    if s and (s:closest_pair() or math.huge) >= 0.5 then
      built = built + 1
      local seen, n = {}, 0
      for _, z in ipairs(s.species) do if not seen[z] then seen[z], n = true, n + 1 end end
      if n >= 2 and smact:valid(s.species) then good = good + 1 end
    end
  end
  local share = good / o.samples
  print(("%s (step %d): %d of %d reconstruct, %.1f %% valid with >= 2 elements (SMACT), %d s")
        :format(path, m.step, built, o.samples, 100 * share, os.time() - t0))
  if not best_share or share > best_share then best, best_share = path, share end
end
print(("best: %s (%.1f %%)"):format(best, 100 * best_share))
if o.out ~= "" then
  local f = assert(io.open(best, "rb"))
  local bytes = f:read("a")
  f:close()
  ct.file.write(o.out, bytes)
  print("copied to " .. o.out)
end
