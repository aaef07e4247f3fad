-- tap.lua: a Test Anything Protocol emitter for the Lua tests.
--
--   local T = require "tap"
--   T.test("name", function() T.eq(1 + 1, 2) end)
--   T.done()
--
-- A test passes when its function returns without error; the assertion
-- helpers raise errors that say what differed.

local T = {}
local n, failed = 0, 0

function T.test(name, fn)
  n = n + 1
  local ok, err = xpcall(fn, debug.traceback)
  if ok then
    print(string.format("ok %d - %s", n, name))
  else
    failed = failed + 1
    print(string.format("not ok %d - %s", n, name))
    for line in tostring(err):gmatch("[^\n]+") do print("#   " .. line) end
  end
  io.stdout:flush()
end

function T.skip(name, why)
  n = n + 1
  print(string.format("ok %d - %s # SKIP %s", n, name, why))
end

function T.eq(got, want, what)
  if got ~= want then
    error(string.format("%s: got %s, want %s", what or "value", tostring(got), tostring(want)), 2)
  end
end

function T.near(got, want, tol, what)
  if type(got) ~= "number" or math.abs(got - want) > tol or got ~= got then
    error(string.format("%s: got %s, want %s (tolerance %g)", what or "value",
                        tostring(got), tostring(want), tol), 2)
  end
end

function T.truthy(v, what)
  if not v then error((what or "condition") .. " is false", 2) end
end

-- Assert that fn raises an error whose message contains `pattern` (plain).
function T.raises(fn, pattern)
  local ok, err = pcall(fn)
  if ok then error("expected an error matching '" .. pattern .. "', got none", 2) end
  if not tostring(err):find(pattern, 1, true) then
    error("error '" .. tostring(err) .. "' does not contain '" .. pattern .. "'", 2)
  end
  return err
end

-- A fresh temporary directory, removed by the caller with T.rmtree.
function T.tmpdir()
  local p = io.popen("mktemp -d")
  local d = p:read("l")
  p:close()
  return d
end

function T.rmtree(d)
  os.execute("rm -rf '" .. d .. "'")
end

-- Write text to path (a test fixture) and return the path.
function T.write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  return path
end

-- Whether a file can be opened.
function T.exists(path)
  local f = io.open(path)
  if f then f:close() end
  return f ~= nil
end

-- The whole contents of a file.
function T.slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- Seed math.random from $SEED (default 20240607) and say so, so that a
-- failing randomised test can be rerun exactly.
function T.seed()
  local seed = tonumber(os.getenv("SEED")) or 20240607
  print("# seed " .. seed .. " (rerun with SEED=" .. seed .. ")")
  math.randomseed(seed)
  return seed
end

-- Call fn(...) with print collecting its lines instead; return the lines
-- and fn's pcall results (true, values... or false, error).
function T.capture(fn, ...)
  local lines, saved = {}, print
  print = function(...)
    local parts = {}
    for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
    lines[#lines + 1] = table.concat(parts, "\t")
  end
  local res = table.pack(pcall(fn, ...))
  print = saved
  return lines, table.unpack(res, 1, res.n)
end

-- Central difference of f at v[i] (a flat view), in double on float data.
function T.numgrad(f, v, i, h)
  local save = v:get(i)
  v:set(save + h, i)
  local fp = f()
  v:set(save - h, i)
  local fm = f()
  v:set(save, i)
  return (fp - fm) / (2 * h)
end

function T.done()
  print("1.." .. n)
  os.exit(failed == 0, true)   -- close the state: leak checkers see a clean exit
end

return T
