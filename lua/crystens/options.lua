-- crystens.options: the options-table checks of Lua-level functions, with
-- the messages of the C bindings' toolkit (src/lua/lua_ct.h):
--
--   bad argument #2 to 'model:sample' (options table expected, got string)
--   bad option 'stpes' to 'model:sample' (unknown option; did you mean 'steps'?)
--   bad option 'steps' to 'model:sample' (integer expected, got string)
--
-- A function declares its options once, as a spec mapping each key to the
-- type its value must have, and checks the table in one line:
--
--   local SAMPLE = {steps = "integer", eta = "number", seed = "integer",
--                   method = {"ddpm", "ddim"}, rng = "Rng"}
--   function Diffusion:sample(n, opts)
--     opts = options.check("model:sample", opts, SAMPLE, 2)
--
-- Types: "number", "integer" (a float with an integer value is one),
-- "boolean", "string", "table", "function", "any", a crystens userdata by the
-- last part of its metatable's __name ("Tensor", "Structure", "Dataset",
-- "Rng", ...), several joined by "|" ("number|table"), an array of the
-- strings allowed (an enum), or a checker function(v) that returns nil when
-- v is acceptable, else what was expected (crystens.checkpoint_config's,
-- which also check the configurations read back from checkpoints).
-- Strict: "no" is not a boolean, "5" not a number.
-- An absent options table (nil) is an empty one; errors point at the caller
-- of the checking function.

local M = {}

-- The type of v as messages name it: a userdata's __name, else Lua's type.
local function typename(v)
  local mt = getmetatable(v)
  if type(mt) == "table" and type(rawget(mt, "__name")) == "string" then return mt.__name end
  return type(v)
end

-- Whether v is of the single type t (as the spec writes it).
local function is(v, t)
  if t == "any" then return true end
  if t == "integer" then return math.type(v) == "integer" or (math.type(v) == "float" and v == math.floor(v)) end
  if t == type(v) then return true end
  local name = typename(v)
  return type(v) == "userdata" and (name == t or name == "crystens." .. t)
end

-- Edit distance with adjacent transpositions counting one, as lua_ct.c's.
local function distance(a, b)
  local d = {}
  for i = 0, #a do d[i] = {[0] = i} end
  for j = 0, #b do d[0][j] = j end
  for i = 1, #a do
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      local best = math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if i > 1 and j > 1 and a:sub(i, i) == b:sub(j - 1, j - 1) and a:sub(i - 1, i - 1) == b:sub(j, j) then
        best = math.min(best, d[i - 2][j - 2] + 1)
      end
      d[i][j] = best
    end
  end
  return d[#a][#b]
end

-- The name among names closest to word when it is close enough to be what
-- was meant (fewer edits than half its length), else nil.
function M.closest(word, names)
  local best, bestd
  for _, n in ipairs(names) do
    local d = distance(word, n)
    if 2 * d < #n and (not bestd or d < bestd or (d == bestd and n < best)) then best, bestd = n, d end
  end
  return best
end

local function sorted_keys(spec)
  local keys = {}
  for k in pairs(spec) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

local function quoted(list, last)
  local out = {}
  for i, v in ipairs(list) do out[i] = "'" .. v .. "'" end
  if #out < 2 then return out[1] or "" end
  return table.concat(out, ", ", 1, #out - 1) .. last .. out[#out]
end

-- Raise "bad option 'key' to 'fname' (msg)" at the given level (1 = the
-- function that calls M.error).
function M.error(fname, key, msg, level)
  error(("bad option '%s' to '%s' (%s)"):format(key, fname, msg), (level or 1) + 1)
end

-- Check one value against its spec entry; raise at level.
local function check_value(fname, key, v, t, level)
  if type(t) == "function" then
    local want = t(v)
    if want then
      local shown = type(v) == "string" and ("%q"):format(v) or type(v) == "table" and "" or tostring(v)
      M.error(fname, key, ("%s expected, got %s%s"):format(want, typename(v), shown ~= "" and " " .. shown or ""),
              level + 1)
    end
    return
  end
  if type(t) == "table" then
    if type(v) ~= "string" then
      M.error(fname, key, ("string expected, got %s"):format(typename(v)), level + 1)
    end
    for _, ok in ipairs(t) do if v == ok then return end end
    local near = M.closest(v, t)
    M.error(fname, key, near and ("invalid value '%s'; did you mean '%s'?"):format(v, near)
                              or ("invalid value '%s'; expected %s"):format(v, quoted(t, " or ")),
            level + 1)
  end
  for alt in t:gmatch("[^|]+") do
    if is(v, alt) then return end
  end
  if t == "integer" and type(v) == "number" then
    M.error(fname, key, "number has no integer representation", level + 1)
  end
  M.error(fname, key, ("%s expected, got %s"):format(t:gsub("|", " or "), typename(v)), level + 1)
end

-- Check opts, argument argn of function fname (self not counted), against
-- spec; return opts, or a new empty table when it is nil.
function M.check(fname, opts, spec, argn)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error(("bad argument #%d to '%s' (options table expected, got %s)")
          :format(argn or 1, fname, typename(opts)), 3)
  end
  for k, v in pairs(opts) do
    if type(k) ~= "string" then
      error(("bad argument #%d to '%s' (option names are strings, got %s %s)")
            :format(argn or 1, fname, typename(k), tostring(k)), 3)
    end
    local t = spec[k]
    if t == nil then
      local keys = sorted_keys(spec)
      local near = M.closest(k, keys)
      M.error(fname, k, near and ("unknown option; did you mean '%s'?"):format(near)
                              or ("unknown option; known: %s"):format(quoted(keys, ", ")), 3)
    end
    check_value(fname, k, v, t, 3)
  end
  return opts
end

-- Check a positional argument: v must be of type t (as in a spec); raise
-- "bad argument #n to 'fname' (t expected, got T)" at the caller's caller.
function M.arg(fname, n, v, t)
  for alt in t:gmatch("[^|]+") do
    if is(v, alt) then return v end
  end
  local what = t == "integer" and type(v) == "number" and "number has no integer representation"
               or ("%s expected, got %s"):format(t:gsub("|", " or "), v == nil and "no value" or typename(v))
  error(("bad argument #%d to '%s' (%s)"):format(n, fname, what), 3)
end

-- The spec of both: a new spec holding a's keys and b's.
function M.merge(a, b)
  local out = {}
  for k, v in pairs(a) do out[k] = v end
  for k, v in pairs(b) do out[k] = v end
  return out
end

return M
