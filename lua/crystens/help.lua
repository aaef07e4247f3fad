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

-- The width help writes to: one column less than the terminal's.
local function width()
  local ok, progress = pcall(require, "crystens.progress")
  local n = ok and progress.columns and progress.columns() or 80
  return math.max(n - 1, 30)
end

-- Word-wrap text to the terminal with an indent (the first line's, then
-- the others', when given).
local function wrap(text, indent, rest)
  rest = rest or indent
  local w = width()
  local out, line, head = {}, indent, indent
  for word in text:gmatch("%S+") do
    if (utf8.len(line) or #line) + (utf8.len(word) or #word) + 1 > w and #line > #head then
      out[#out + 1] = line
      line, head = rest, rest
    end
    line = line .. (#line > #head and " " or "") .. word
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

-- The string keys of t and of the tables its __index chain leads to (a
-- model's methods live in its class and the class it extends).
local function chain_keys(t)
  local keys, seen, depth = {}, {}, 0
  while type(t) == "table" and depth < 8 do
    for k in pairs(t) do
      if type(k) == "string" and not seen[k] then seen[k], keys[#keys + 1] = true, k end
    end
    local mt = getmetatable(t)
    t = type(mt) == "table" and rawget(mt, "__index") or nil
    depth = depth + 1
  end
  table.sort(keys)
  return keys
end

-- List the documented members of a table (a module or a methods table).
local function list_members(t, fallback_sep)
  for _, k in ipairs(chain_keys(t)) do
    local text = doc[t[k]]
    if text and k:sub(1, 2) ~= "__" then
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

-- The first sentence of a module's text, without its "crystens.x: " label.
local function gist(text)
  text = text:gsub("^[%w_.]+: ", "")
  return text:match("^(.-%.)%s") or text
end

local function overview()
  print(wrap(doc[_G.ct] or "crystens", ""))
  print("\nNew here? tour() walks through the whole chain in seven steps.\n\nModules:")
  local ct = _G.ct or {}
  for _, k in ipairs(sorted_keys(ct)) do
    if type(ct[k]) == "table" and doc[ct[k]] then
      print(wrap(gist(doc[ct[k]]), ("  %-14s "):format("ct." .. k), (" "):rep(17)))
    end
  end
  print("\n" .. wrap("help(ct.tensor) documents a module; help(ct.tensor.load) or " ..
                     "help(\"tensor.load\") a function; help(t) the methods of an object t; " ..
                     "tour() is the guided walk.", ""))
end

function M.help(...)
  if select("#", ...) == 0 then return overview() end
  local x = ...
  local value = x
  if type(x) == "string" then value = resolve(x) end
  if value == nil then
    if type(x) == "string" then error("help: nothing is named " .. x, 2) end
    error("help: the value given is nil (a misspelt name?); help() lists the modules", 2)
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
  "the modules. A nil value (help(ct.nonexistent)) or an unknown name is an error. Text is " ..
  "wrapped to the terminal's width."

return M
