-- crystens.json: a small JSON encoder and decoder for configuration tables
-- (model configs stored in checkpoint metadata, report summaries).
--
--   local json = require "crystens.json"
--   local s = json.encode{size = 32, mults = {1, 2, 2}}   -- '{"mults":[1,2,2],"size":32}'
--   local t = json.decode(s)
--
-- Tables with keys 1..n are arrays, other tables objects (keys sorted, so
-- the text is stable); integers stay integers.  Decoding errors name the
-- byte offset.

local doc = require "crystens.doc"

local M = {}

local escapes = {['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
                 ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t'}

local function encode_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function is_array(t)
  local n = #t
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
  end
  return n > 0 or next(t) == nil
end

local function encode(v, depth)
  if depth > 64 then error("json.encode: nested too deeply", 0) end
  local tv = type(v)
  if tv == "string" then return encode_string(v) end
  if tv == "boolean" or v == nil then return tostring(v == nil and "null" or v) end
  if tv == "number" then
    if v ~= v or v == math.huge or v == -math.huge then
      error("json.encode: " .. tostring(v) .. " has no JSON form", 0)
    end
    return math.type(v) == "integer" and tostring(v) or string.format("%.17g", v)
  end
  if tv ~= "table" then error("json.encode: cannot encode a " .. tv, 0) end
  local out = {}
  if is_array(v) then
    for i = 1, #v do out[i] = encode(v[i], depth + 1) end
    return "[" .. table.concat(out, ",") .. "]"
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  for i, k in ipairs(keys) do
    local val = v[k]
    if val == nil then val = v[tonumber(k)] end
    out[i] = encode_string(k) .. ":" .. encode(val, depth + 1)
  end
  return "{" .. table.concat(out, ",") .. "}"
end

function M.encode(v) return encode(v, 0) end

local function decode_error(pos, what)
  error(string.format("json.decode: %s at byte %d", what, pos), 0)
end

local decode_value

local function skip(s, pos) return s:find("[^ \t\r\n]", pos) or #s + 1 end

local function decode_string(s, pos)
  local out, i = {}, pos + 1
  while true do
    local c = s:sub(i, i)
    if c == "" then decode_error(pos, "unterminated string") end
    if c == '"' then return table.concat(out), i + 1 end
    if c == "\\" then
      local e = s:sub(i + 1, i + 1)
      local map = {b = "\b", f = "\f", n = "\n", r = "\r", t = "\t", ['"'] = '"', ["\\"] = "\\", ["/"] = "/"}
      if map[e] then
        out[#out + 1], i = map[e], i + 2
      elseif e == "u" then
        local hex = s:sub(i + 2, i + 5)
        if not hex:match("^%x%x%x%x$") then decode_error(i, "bad \\u escape") end
        out[#out + 1], i = utf8.char(tonumber(hex, 16)), i + 6
      else
        decode_error(i, "bad escape")
      end
    else
      out[#out + 1], i = c, i + 1
    end
  end
end

local function decode_list(s, pos, close, item)
  pos = skip(s, pos + 1)
  if s:sub(pos, pos) == close then return pos + 1 end
  while true do
    pos = item(pos)
    pos = skip(s, pos)
    local c = s:sub(pos, pos)
    if c == close then return pos + 1 end
    if c ~= "," then decode_error(pos, "expected ',' or '" .. close .. "'") end
    pos = skip(s, pos + 1)
  end
end

function decode_value(s, pos, depth)
  if depth > 64 then decode_error(pos, "nested too deeply") end
  pos = skip(s, pos)
  local c = s:sub(pos, pos)
  if c == '"' then return decode_string(s, pos) end
  if c == "{" then
    local t = {}
    pos = decode_list(s, pos, "}", function(p)
      if s:sub(p, p) ~= '"' then decode_error(p, "expected a key") end
      local k, q = decode_string(s, p)
      q = skip(s, q)
      if s:sub(q, q) ~= ":" then decode_error(q, "expected ':'") end
      t[k], q = decode_value(s, q + 1, depth + 1)
      return q
    end)
    return t, pos
  end
  if c == "[" then
    local t = {}
    pos = decode_list(s, pos, "]", function(p)
      local v, q = decode_value(s, p, depth + 1)
      t[#t + 1] = v
      return q
    end)
    return t, pos
  end
  for word, val in pairs{["true"] = true, ["false"] = false, null = M.null} do
    if s:sub(pos, pos + #word - 1) == word then return val, pos + #word end
  end
  local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
  if not num or num == "" then decode_error(pos, "unexpected character") end
  return math.tointeger(tonumber(num)) or tonumber(num), pos + #num
end

-- JSON null decodes to this sentinel, so arrays keep their length.
M.null = setmetatable({}, {__tostring = function() return "null" end})

function M.decode(s)
  local v, pos = decode_value(s, 1, 0)
  pos = skip(s, pos)
  if pos <= #s then decode_error(pos, "trailing text") end
  return v
end

doc[M] = "crystens.json: encode(value) -> string and decode(string) -> value for plain " ..
  "tables of numbers, strings and booleans (model configs in checkpoints)."
doc[M.encode] = "json.encode(v) -> string. JSON text of v; object keys are sorted."
doc[M.decode] = "json.decode(s) -> value. Parse JSON text; null becomes json.null."

return M
