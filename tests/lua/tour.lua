-- tour(): the whole tour run with Enter answered at every step; what each
-- step printed is checked against the objects it made, the files it wrote
-- are read back, and the user's globals are left alone.  tests/tour.test
-- drives it in a real terminal.
local T = require "tap"
local ct = require "crystens"
local tour = require "crystens.tour"

local tmp = T.tmpdir()
local out = tmp .. "/tourout"

-- Run the tour answering each prompt from answers (then Enter); return the
-- printed lines, split per step (steps[0] is what came before step 1), and
-- what tour() returned.
local function run(answers)
  local k = 0
  local prompts, write = 0, io.write
  io.write = function() prompts = prompts + 1 end   -- the prompt, kept out of the TAP stream
  local lines, ok, vars = T.capture(tour.run, {out = out, read = function()
    k = k + 1
    return answers[k] or ""
  end})
  io.write = write
  if not ok then error(vars) end
  T.eq(prompts, k, "a prompt before each answer")
  local steps, cur = {[0] = {}}, 0
  for _, l in ipairs(lines) do
    for line in (l .. "\n"):gmatch("(.-)\n") do
      local n = line:match("── Step (%d+) of")
      if n then cur = tonumber(n) end
      steps[cur] = steps[cur] or {}
      -- the code shown before the prompt is not output
      if not line:match("^  crystens> ") then table.insert(steps[cur], line) end
    end
  end
  return steps, vars, table.concat(lines, "\n")
end

-- The first line of step i matching pattern, and its captures.
local function find(steps, i, pattern)
  for _, line in ipairs(steps[i] or {}) do
    if line:find(pattern) then return line, line:match(pattern) end
  end
  error(("step %d printed no line like '%s':\n%s"):format(i, pattern,
        table.concat(steps[i] or {}, "\n")))
end

local function size_of(path)
  local f = io.open(path, "rb")
  if not f then return 0 end
  local n = f:seek("end")
  f:close()
  return n
end

-- Globals the tour's steps would have set, owned by "the user".
local USER = {"ds", "s", "p", "t", "m", "gen", "crystals", "diags", "averaged_z", "ks", "pt"}

T.test("the whole tour: every step prints true things and writes its files", function()
  for _, k in ipairs(USER) do _G[k] = "mine" end
  local steps, v, all = run({})
  for _, k in ipairs(USER) do T.eq(_G[k], "mine", "the user's global " .. k) end
  T.eq(#steps, 7, "seven steps")
  T.eq(select(2, all:gsub("End of the tour", "")), 1, "the end said once")
  T.truthy(not all:find("Tour stopped", 1, true), "no stop")
  T.truthy(not all:find("\nerror: ", 1, true), "no step failed:\n" .. all)

  -- 1: the crystal and its symmetry
  find(steps, 1, "^" .. tostring(v.s):gsub("%p", "%%%0") .. "$")
  local _, sg = find(steps, 1, "space group (%S+)$")
  T.eq(sg, v.s:symmetry().symbol, "space group symbol")

  -- 2: the cell it encodes is the prepared one, and the picture is written
  find(steps, 2, "^the cell it encodes: " .. tostring(v.p):gsub("%p", "%%%0") .. "$")
  T.near(v.p:volume(), v.s:volume(), 1e-6, "the reduced cell is the same crystal")
  T.truthy(size_of(out .. "/crystens.png") > 0, "crystens.png")

  -- 3: the numbers on each line agree
  local _, a1, a4, ap = find(steps, 3, "layer 4: ([%d.]+) ([%d.]+) %(p's a: ([%d.]+)%)")
  T.eq(a1, a4, "the two copies of a")
  T.eq(a1, ap, "and the cell's a")
  T.near(tonumber(ap), v.p.lattice.a, 1e-4, "p's a")
  local _, dt, dp = find(steps, 3, "atoms 1 and 2: ([%d.]+) Å in the tensor, ([%d.]+) Å in p")
  T.eq(dt, dp, "the tensor's distance is the crystal's")
  T.near(tonumber(dp), v.p:distance(1, 2), 1e-4, "distance")

  -- 4: the model in one line, the samples, the picture
  find(steps, 4, "^" .. tostring(v.m):gsub("%p", "%%%0") .. "$")
  T.truthy(not tostring(v.m):find("\n"), "the model prints one line")
  find(steps, 4, "^Tensor 8x4x32x32 ")
  T.truthy(size_of(out .. "/generated.png") > 0, "generated.png")

  -- 5: the atoms read by hand are decode's; no atom beyond the tensor
  local _, diags = ct.crystens.decode(v.gen)
  for _, i in ipairs {1, 3} do
    local _, natoms = find(steps, 5, "^sample " .. i .. ": (%d+) atoms")
    T.truthy(tonumber(natoms) <= 32 - 12, "atoms fit the 32-wide tensor")
    T.eq(tonumber(natoms), diags[i].natoms, "atoms of sample " .. i)
    local line = find(steps, 5, "^sample " .. i .. ":")
    local after
    for j, l in ipairs(steps[5]) do if l == line then after = steps[5][j + 1] end end
    T.eq(tonumber(after:match("(%d+) elements")), diags[i].k_species, "elements of sample " .. i)
  end

  -- 6: one line per sample, and the CIFs it says it wrote are there and read
  for i = 1, 8 do
    local line = find(steps, 6, "^" .. i .. "\t")
    T.eq(line:find("failed", 1, true) == nil, v.crystals[i] ~= false, "line of sample " .. i)
  end
  local _, n = find(steps, 6, "^(%d+) CIFs in " .. out:gsub("%p", "%%%0") .. "/generated/")
  local files = {}
  local ls = io.popen("ls '" .. out .. "/generated'")
  for f in ls:lines() do files[#files + 1] = f end
  ls:close()
  T.eq(#files, tonumber(n), "as many files as it says")
  for _, f in ipairs(files) do
    T.truthy(f:match("%.cif$"), "a .cif file: " .. f)
    T.eq(#ct.cif.read(out .. "/generated/" .. f), 1, "one crystal in " .. f)
  end
  T.truthy(size_of(out .. "/crystals.png") > 0, "crystals.png")

  -- 7: a K-S statistic per quantity, as ct.metrics.ks computes it
  for _, q in ipairs {"a", "b", "c", "alpha", "beta", "gamma", "spacegroup", "Z"} do
    local _, d = find(steps, 7, "^K%-S " .. q .. " +([%d.]+)$")
    T.near(tonumber(d), v.ks[q].statistic, 5e-4, "K-S of " .. q)
  end

  -- the variables come back in a table that says what it holds
  for _, k in ipairs {"ds", "s", "t", "m", "gen", "crystals"} do
    T.truthy(v[k] ~= nil, "returned " .. k)
  end
  T.truthy(tostring(v):find("crystals", 1, true), "the table names its variables")
  for _, k in ipairs(USER) do _G[k] = nil end
end)

T.test("q stops the tour: one message, the variables so far returned", function()
  local steps, v, all = run({"", "q"})
  T.eq(select(2, all:gsub("Tour stopped", "")), 1, "stopped once")
  T.truthy(not all:find("End of the tour", 1, true), "no end message after a stop")
  T.truthy(v.ds and v.s and not v.t, "step 1's variables only")
  T.eq(rawget(_G, "ds"), nil, "no global")
  T.eq(#steps, 2, "step 2 shown, not run")
end)

T.rmtree(tmp)
T.done()
