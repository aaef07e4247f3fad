-- crystens.help: help() and help(x) in the REPL.
--
-- Documentation lives next to the code that registers a value: C bindings
-- record it through ctL_Reg, Lua modules with `doc[f] = "..."`.  The table
-- crystens.doc maps values (weakly) to their one-paragraph text, so help(x)
-- works whatever name the user reached x by.

local doc = require "crystens.doc"

local M = {}

-- Split a doc text into its signature sentence ("f(x) -> T.") and the
-- first sentence of its description, for listings.
local function summary(text)
  local sig, rest = text:match("^([%w_.:]+%b()[^.]*%.)%s+(.*)$")
  if not sig then sig, rest = "", text end
  return sig, rest:match("^(.-%.)%s") or rest
end

-- Resolve "ct.tensor.new" (or "tensor.new") to a value.
local function resolve(path)
  local value = _G
  if not path:match("^ct%.") and not path:match("^crystens%.") and _G.ct then
    local head = path:match("^[%w_]+")
    if rawget(_G, head) == nil then value = _G.ct end
  end
  for name in path:gmatch("[^.:]+") do
    if type(value) ~= "table" then return nil end
    value = value[name]
  end
  return value
end

-- Word-wrap text at 78 columns with an indent.
local function wrap(text, indent)
  local out, line = {}, indent
  for word in text:gmatch("%S+") do
    if #line + #word + 1 > 78 and #line > #indent then
      out[#out + 1] = line
      line = indent
    end
    line = line .. (#line > #indent and " " or "") .. word
  end
  out[#out + 1] = line
  return table.concat(out, "\n")
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do
    if type(k) == "string" then keys[#keys + 1] = k end
  end
  table.sort(keys)
  return keys
end

-- List the documented members of a table (a module or a methods table).
local function list_members(t, fallback_sep)
  for _, k in ipairs(sorted_keys(t)) do
    local text = doc[t[k]]
    if text then
      local sig, first = summary(text)
      print("  " .. (sig ~= "" and sig or fallback_sep .. k))
      print(wrap(first, "      "))
    end
  end
end

-- The table of methods of a userdata or table with a metatable, if any.
local function methods_of(x)
  local mt = getmetatable(x)
  if type(mt) ~= "table" then return nil end
  if type(rawget(mt, "__index")) == "table" then return rawget(mt, "__index") end
  if type(rawget(mt, "methods")) == "table" then return rawget(mt, "methods") end
end

local function overview()
  print(wrap(doc[_G.ct] or "crystens", ""))
  print("\nModules:")
  local ct = _G.ct or {}
  for _, k in ipairs(sorted_keys(ct)) do
    if type(ct[k]) == "table" and doc[ct[k]] then
      local _, first = summary(doc[ct[k]])
      print(string.format("  %-14s %s", "ct." .. k, first))
    end
  end
  print("\nhelp(ct.tensor) documents a module; help(ct.tensor.load) or " ..
        "help(\"tensor.load\") a function; help(t) the methods of an object t.")
end

function M.help(x)
  if x == nil then return overview() end
  local value = x
  if type(x) == "string" then value = resolve(x) end
  if value == nil then
    print("help: nothing is named " .. tostring(x))
    return
  end
  local text = doc[value]
  if text then print(wrap(text, "")) end
  if type(value) == "table" and doc[value] then
    print("")
    list_members(value, ".")
  end
  local methods = methods_of(value)
  if methods then
    print(text and "\nMethods:" or tostring(value) .. "\nMethods:")
    list_members(methods, ":")
    return
  end
  if not text then print("help: no documentation for " .. tostring(x)) end
end

doc[M.help] = "help([x]) prints the documentation of x: a module, a function, an object " ..
  "(its methods) or a dotted name such as \"ct.tensor.load\". With no argument it lists " ..
  "the modules."

return M
