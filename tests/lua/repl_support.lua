-- What the REPL relies on from Lua: the pretty-printer and help().
local T = require "tap"
local ct = require "crystens"
local pretty = require "crystens.pretty"

-- What fn prints, as one string; its error is raised.
local function output_of(fn, ...)
  local lines, ok, err = T.capture(fn, ...)
  if not ok then error(err, 0) end
  return table.concat(lines, "\n")
end

T.test("pretty prints arrays and records on one line when short", function()
  T.eq(pretty.format({1, 2, "x", a = true}), '{1, 2, "x", a = true}', "format")
  T.eq(pretty.format("top"), "top", "top-level strings print raw")
  T.eq(pretty.format(1.0), "1.0", "floats keep their point")
end)

T.test("pretty limits depth, length and survives cycles", function()
  local deep = {{{{{1}}}}}
  T.truthy(pretty.format(deep):find("{...}", 1, true), "depth limit")
  local long = {}
  for i = 1, 100 do long[i] = i end
  T.truthy(pretty.format(long):find("(80 more)", 1, true), "length limit")
  local c = {}
  c.self = c
  T.truthy(pretty.format(c):find("<cycle>", 1, true), "cycle marker")
end)

T.test("pretty breaks long tables over lines", function()
  local t = {}
  for i = 1, 15 do t["key" .. i] = string.rep("v", 8) end
  local s = pretty.format(t)
  T.truthy(select(2, s:gsub("\n", "")) >= 15, "one entry a line")
end)

T.test("userdata print their own summary", function()
  T.truthy(pretty.format(ct.tensor.new(2, 3)):find("^Tensor 2x3"), "tensor summary")
end)

T.test("help() lists the modules", function()
  local out = output_of(ct.help)
  T.truthy(out:find("ct.tensor", 1, true), "ct.tensor listed in:\n" .. out)
end)

T.test("help(x) prints the doc registered next to the code", function()
  local out = output_of(ct.help, ct.tensor.load)
  T.truthy(out:find("tensor.load(path) -> Tensor", 1, true), out)
  out = output_of(ct.help, "tensor.load")
  T.truthy(out:find("tensor.load(path) -> Tensor", 1, true), "by name: " .. out)
  out = output_of(ct.help, ct.tensor.new(1))
  T.truthy(out:find("t:save(path)", 1, true), "methods of an object: " .. out)
  out = output_of(ct.help, "no.such.thing")
  T.truthy(out:find("nothing is named", 1, true), out)
end)

T.test("every exported function of every ct module is documented", function()
  local doc = require "crystens.doc"
  local missing = {}
  for mname, mod in pairs(ct) do
    if type(mod) == "table" then
      for fname, f in pairs(mod) do
        if type(f) == "function" and not doc[f] then missing[#missing + 1] = mname .. "." .. fname end
      end
    end
  end
  table.sort(missing)
  T.eq(#missing, 0, "undocumented: " .. table.concat(missing, ", "))
end)

T.done()
