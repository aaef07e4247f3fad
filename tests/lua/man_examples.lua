-- The manual's examples run, so the documentation cannot rot: every
-- `crystens> ` line of a .nf/.fi block in man/crystens.1 is run as the REPL
-- runs it (first as `return <line>`, values printed by crystens.pretty), in
-- order, in one state; where the page shows output under a line, the output
-- must be exactly that.  `crystens -e '...'` examples run through the program.
-- Files the examples write land in a scratch folder: the test runs itself
-- again from there.
if arg[1] ~= "--in-scratch" then
  local dir = os.tmpname()
  os.remove(dir)
  local bin = assert(os.getenv("CRYSTENS"), "CRYSTENS is not set")
  local self = (os.getenv("top_srcdir") or ".") .. "/tests/lua/man_examples.lua"
  if not self:match("^/") then self = os.getenv("PWD") .. "/" .. self end
  local ok = os.execute(("mkdir '%s' && cd '%s' && '%s' '%s' --in-scratch"):format(
    dir, dir, bin, self))
  os.execute("rm -rf '" .. dir .. "'")
  os.exit(ok and 0 or 1)
end

local T = require "tap"
local pretty = require "crystens.pretty"

local srcdir = os.getenv("top_srcdir") or "."
local page = assert(io.open(srcdir .. "/man/crystens.1")):read("a")

-- roff escapes the examples use, to plain text
local function unroff(s)
  return (s:gsub("\\%-", "-"):gsub("\\%(mu", "×"):gsub("\\%(en", "–"):gsub("\\%(em", "—")
           :gsub("\\e", "\\"):gsub("\\&", ""))
end

-- The sessions of the page: lists of {code, expected output lines, where}.
local function sessions()
  local out, lineno = {}, 0
  local inblock, current
  for line in (page .. "\n"):gmatch("(.-)\n") do
    lineno = lineno + 1
    if line == ".nf" then inblock, current = true, nil
    elseif line == ".fi" then inblock = false
    elseif inblock then
      local text = unroff(line)
      local code = text:match("^crystens> (.*)$")
      local more = text:match("^%s*>> (.*)$")
      if code then
        current = {code = code, want = {}, line = lineno}
        out[#out + 1] = current
      elseif more and current then
        current.code = current.code .. "\n" .. more
      elseif current then
        current.want[#current.want + 1] = text
      end
    end
  end
  return out
end

-- Run code as the REPL does; return its printed lines or nil, error.
local env = setmetatable({}, {__index = _G})
local function run(code)
  local fn = load("return " .. code .. ";", "=man", "t", env) or load(code, "=man", "t", env)
  if not fn then return nil, select(2, load(code, "=man", "t", env)) end
  local res = table.pack(T.capture(fn))
  local lines = res[1]
  if not res[2] then return nil, tostring(res[3]) end
  if res.n > 2 then
    local parts = {}
    for i = 3, res.n do parts[#parts + 1] = pretty.format(res[i]) end
    lines[#lines + 1] = table.concat(parts, "\t")
  end
  return lines
end

local examples = sessions()

T.test("the manual has REPL examples", function()
  T.truthy(#examples >= 5, #examples .. " example lines")
end)

T.test("every REPL example runs and prints what the page shows", function()
  for _, ex in ipairs(examples) do
    local got, err = run(ex.code)
    T.truthy(got, ("man line %d: %s: %s"):format(ex.line, ex.code, err))
    if #ex.want > 0 then
      -- the page shows a tab as spaces
      local function squeeze(t) return (table.concat(t, "\n"):gsub("[ \t]+", " ")) end
      T.eq(squeeze(got), squeeze(ex.want),
           ("output of man line %d (%s)"):format(ex.line, ex.code))
    end
  end
end)

T.test("every `crystens -e` example of the page exits 0", function()
  local bin = os.getenv("CRYSTENS")
  if not bin then return T.skip("CRYSTENS not set") end
  local n = 0
  for code in page:gmatch("%.B crystens \\%-e '([^\n]-)'\n") do
    code = unroff(code)
    local ok = os.execute(("'%s' -e '%s' > /dev/null"):format(bin, code))
    T.truthy(ok, "crystens -e '" .. code .. "'")
    n = n + 1
  end
  T.truthy(n >= 1, "found " .. n)
end)

T.done()
