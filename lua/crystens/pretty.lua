-- crystens.pretty: how the REPL shows values.
--
-- Strings print as they are at the top level and quoted inside tables;
-- tables print nested, limited in depth and length, on one line when they
-- fit; floats print with 6 significant digits (float32 precision); userdata
-- print their own __tostring summary (a tensor its shape and
-- min/mean/max, a structure its formula and lattice).

local doc = require "crystens.doc"

local M = {}

M.max_depth = 3
M.max_items = 20
M.width = 78

local format

local function key_text(k)
  if type(k) == "string" and k:match("^[%a_][%w_]*$") then return k end
  return "[" .. format(k, 1, {}, "") .. "]"
end

-- The keys of t in display order: the array part first, then the rest sorted.
local function ordered_keys(t)
  local n, keys, rest = #t, {}, {}
  for i = 1, n do keys[i] = i end
  for k in pairs(t) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then rest[#rest + 1] = k end
  end
  table.sort(rest, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    if ta == "number" or ta == "string" then return a < b end
    return tostring(a) < tostring(b)
  end)
  for _, k in ipairs(rest) do keys[#keys + 1] = k end
  return keys, n
end

local function format_table(t, depth, seen, indent)
  if seen[t] then return "<cycle>" end
  if depth > M.max_depth then return "{...}" end
  seen[t] = true
  local keys, n = ordered_keys(t)
  local parts = {}
  for i, k in ipairs(keys) do
    if i > M.max_items then
      parts[#parts + 1] = string.format("... (%d more)", #keys - M.max_items)
      break
    end
    local v = format(t[k], depth + 1, seen, indent .. "  ")
    parts[#parts + 1] = (math.type(k) == "integer" and k <= n) and v or (key_text(k) .. " = " .. v)
  end
  seen[t] = nil
  local one = "{" .. table.concat(parts, ", ") .. "}"
  if #one + #indent <= M.width and not one:find("\n") then return one end
  return "{\n" .. indent .. "  " .. table.concat(parts, ",\n" .. indent .. "  ") ..
    "\n" .. indent .. "}"
end

-- A float at float32 precision: crystens computes in float32, and the 14
-- digits of a double (109.77529907227) would show its noise as if it meant
-- something.  Whole numbers keep their ".0", as Lua shows floats.
local function number_text(v)
  if math.type(v) ~= "float" or v ~= v or v == math.huge or v == -math.huge then
    return tostring(v)
  end
  local s = ("%.6g"):format(v)
  if not s:find("[.eEn]") then s = s .. ".0" end
  return s
end

function format(v, depth, seen, indent)
  local tv = type(v)
  if tv == "number" then return number_text(v) end
  if tv == "string" then return depth == 0 and v or string.format("%q", v) end
  if tv == "table" then
    local mt = getmetatable(v)
    if type(mt) == "table" and rawget(mt, "__tostring") then return tostring(v) end
    return format_table(v, depth, seen, indent)
  end
  return tostring(v)
end

-- Return the text the REPL shows for v.
function M.format(v)
  return format(v, 0, {}, "")
end

-- Print the values separated by tabs, as lua.c does with results.
function M.print(...)
  local parts = {}
  for i = 1, select("#", ...) do parts[i] = M.format((select(i, ...))) end
  print(table.concat(parts, "\t"))
end

doc[M.format] = "pretty.format(v) -> string. The text the REPL shows for v: tables nested " ..
  "(depth pretty.max_depth, pretty.max_items items), floats with 6 significant digits " ..
  "(float32 precision; print(x) or string.format show more), userdata by their summary."
doc[M.print] = "pretty.print(...) prints the values as the REPL does, separated by tabs."

return M
