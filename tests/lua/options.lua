-- Options tables: every public function that takes one rejects a misspelled
-- key (naming it, the function, and the key meant) and a wrong-typed value
-- (naming what was expected and what came), in the format of the binding
-- toolkit (src/lua/lua_ct.h) and crystens.options.
--
-- The functions are found in the code, not listed by hand: every documented
-- function (the crystens.doc table the C bindings and Lua modules fill)
-- whose signature shows an options table, and every public Lua function
-- whose parameters include opts or config.  Each must have a recipe below
-- (how to call it with a valid base), so a new function that takes options
-- makes this test fail until it is checked and listed.
local T = require "tap"
local ct = require "crystens"
local doc = require "crystens.doc"
local options = require "crystens.options"

local srcdir = os.getenv("top_srcdir") or "."
local tmp = T.tmpdir()
local sample = srcdir .. "/share/sample/mpts_52_val_sample.csv"

-- ---- fixtures: small, fast, valid arguments ------------------------------------

local nacl = ct.structure.new{lattice = {a = 3.2, b = 3.2, c = 3.2, alpha = 90, beta = 90, gamma = 90},
                              species = {11, 17}, frac = {{0, 0, 0}, {0.5, 0.5, 0.5}}}
local ds = ct.dataset.load(sample, {limit = 4, progress = false})
local list = ds:structures()
local t16 = ct.crystens.encode(nacl, {size = 16})
local batch = t16:reshape{1, 4, 16, 16}
local scaler = ct.crystens.scaler(batch)
local diffusion = ct.models.diffusion{preset = "tiny", size = 16}
diffusion:fit_scaler(batch)
local gan = ct.models.gan{size = 16, latent = 4, base = 4}
gan:fit_scaler(batch)
local critic = ct.nn.sequential{ct.nn.reshape{4 * 16 * 16}, ct.nn.linear(4 * 16 * 16, 1)}
local cgcnn = ct.properties.pretrained()
local cdvae_core = require "crystens.cdvae_core"
local nn_core = require "crystens.nn_core"

-- A copy of base with opts's fields over it (opts itself when not a table,
-- so a non-table reaches the function as given).
local function with(base, opts)
  if type(opts) ~= "table" then return opts end
  local out = {}
  for k, v in pairs(base) do out[k] = v end
  for k, v in pairs(opts) do out[k] = v end
  return out
end

-- ---- recipes: function -> how to call it, a key it takes, a wrong value ----------
--
-- call(opts) calls the function with opts as its options table; key is one
-- of its options and bad a value of the wrong type for it.  name is the
-- function as messages name it, when that is not what its doc says.

local R = {}
local function recipe(f, r) assert(f, "a recipe for a missing function") R[f] = r end

recipe(ct.cif.write, {call = function(o) return ct.cif.write(nacl, tmp .. "/o.cif", o) end,
                      key = "symprec", bad = "tight"})
recipe(ct.crystens.snap, {call = function(o) return ct.crystens.snap(nacl, o) end, key = "max", bad = "wide"})
recipe(ct.crystens.decode, {call = function(o) return ct.crystens.decode(t16, o) end,
                            key = "k_species", bad = "three"})
recipe(ct.crystens.encode, {call = function(o) return ct.crystens.encode(nacl, o) end,
                            key = "size", bad = "big"})
recipe(ct.crystens.prepare, {call = function(o) return ct.crystens.prepare(nacl, o) end,
                             key = "symprec", bad = "tight"})
recipe(ct.dataset.load, {call = function(o) return ct.dataset.load(sample, with({progress = false}, o)) end,
                         key = "limit", bad = "all"})
recipe(ct.kmeans.cluster, {call = function(o) return ct.kmeans({1, 2, 10, 11}, o) end,
                           key = "seed", bad = "x", name = "ct.kmeans"})
recipe(ct.metrics.match, {call = function(o) return ct.metrics.match(nacl, nacl, o) end,
                          key = "ltol", bad = "loose"})
recipe(ct.metrics.uniqueness, {call = function(o) return ct.metrics.uniqueness(list, o) end,
                               key = "angle_tol", bad = "wide"})
recipe(ct.metrics.novelty, {call = function(o) return ct.metrics.novelty(list, list, o) end,
                            key = "stol", bad = "loose"})
recipe(cdvae_core.unique, {call = function(o) return cdvae_core.unique(list, o) end,
                           key = "scale", bad = "yes", name = "ct.metrics.uniqueness"})
recipe(cdvae_core.novel, {call = function(o) return cdvae_core.novel(list, list, o) end,
                          key = "scale", bad = "yes", name = "ct.metrics.novelty"})
recipe(ct.metrics.cdvae, {call = function(o) return ct.metrics.cdvae(list, list, o) end,
                          key = "n_eval", bad = "all"})
recipe(ct.metrics.histograms, {call = function(o) return ct.metrics.histograms({{1, 2}, {2, 3}}, o) end,
                               key = "bins", bad = "many"})
recipe(ct.metrics.ks, {call = function(o) return ct.metrics.ks(list, list, o) end,
                       key = "symprec", bad = "tight"})
recipe(ct.metrics.paper, {call = function(o) return ct.metrics.paper(batch, o) end,
                          key = "distance", bad = 5})
recipe(ct.metrics.properties, {call = function(o) return ct.metrics.properties(list, list, with({model = cgcnn}, o)) end,
                               key = "stable", bad = "low"})
recipe(ct.metrics.smact_rate, {call = function(o) return ct.metrics.smact_rate({"NaCl"}, o) end,
                               key = "datadir", bad = 5})
recipe(ct.metrics.smact_valid, {call = function(o) return ct.metrics.smact_valid("NaCl", o) end,
                                key = "datadir", bad = 5})
recipe(ct.metrics.symmetry, {call = function(o) return ct.metrics.symmetry(list, o) end,
                             key = "symprec", bad = "tight"})
recipe(ct.models.cascade, {call = function(o) return ct.models.cascade(with({size = 32, low_preset = "tiny", base = 8, depth = 1}, o)) end,
                          key = "aug", bad = "much"})
recipe(ct.models.diffusion, {call = function(o) return ct.models.diffusion(with({preset = "tiny", size = 16}, o)) end,
                             key = "timesteps", bad = "many"})
recipe(ct.models.gan, {call = function(o) return ct.models.gan(with({size = 16, latent = 4, base = 4}, o)) end,
                       key = "latent", bad = "big"})
recipe(ct.models.wgan, {call = function(o) return ct.models.wgan(with({size = 16, latent = 4, base = 4}, o)) end,
                        key = "critic_steps", bad = "five"})
recipe(diffusion.sample, {call = function(o) return diffusion:sample(1, with({steps = 2}, o)) end,
                          key = "steps", bad = "ten"})
recipe(gan.sample, {call = function(o) return gan:sample(1, o) end, key = "batch", bad = "all"})
recipe(ct.nn.adam, {call = function(o) return ct.nn.adam(critic, o) end, key = "weight_decay", bad = "some"})
recipe(ct.nn.gradient_penalty, {call = function(o) return ct.nn.gradient_penalty(critic, batch, o) end,
                                key = "lambda", bad = "ten"})
recipe(ct.nn.unet, {call = function(o)
                      return ct.nn.unet(with({size = 16, base = 8, groups = 4, mults = {1, 2}, nres = 1, attn = {}}, o))
                    end, key = "nres", bad = "one"})
recipe(nn_core.adam_state, {call = function(o) return nn_core.adam_state(10, o) end, key = "beta1", bad = "high",
                            name = "nn_core.adam_state"})
recipe(ct.nn.linear, {call = function(o) return ct.nn.linear(2, 2, o) end, key = "bias", bad = "no"})
for _, name in ipairs {"conv2d", "conv3d", "convtranspose2d", "convtranspose3d"} do
  recipe(ct.nn[name], {call = function(o) return ct.nn[name](1, 1, 3, o) end, key = "stride", bad = "two"})
end
recipe(ct.nn.batchnorm, {call = function(o) return ct.nn.batchnorm(2, o) end, key = "momentum", bad = "high"})
recipe(ct.nn.groupnorm, {call = function(o) return ct.nn.groupnorm(2, 4, o) end, key = "eps", bad = "small"})
recipe(ct.nn.groupnorm_silu, {call = function(o) return ct.nn.groupnorm_silu(2, 4, o) end, key = "eps", bad = "small"})
recipe(ct.nn.layernorm, {call = function(o) return ct.nn.layernorm(4, o) end, key = "eps", bad = "small"})
recipe(ct.nn.attention, {call = function(o) return ct.nn.attention(4, o) end, key = "rng", bad = 42})
recipe(ct.nn.time_embedding, {call = function(o) return ct.nn.time_embedding(8, o) end,
                              key = "max_period", bad = "long"})
recipe(ct.picture.grid, {call = function(o) return ct.picture.grid({nacl}, tmp .. "/g.png", with({size = 32}, o)) end,
                         key = "cols", bad = "three"})
recipe(ct.picture.save, {call = function(o) return ct.picture.save(nacl, tmp .. "/s.png", with({size = 32}, o)) end,
                         key = "yaw", bad = "left"})
recipe(t16.save_png, {call = function(o) return t16:save_png(tmp .. "/t.png", o) end, key = "scale", bad = "big"})
recipe(nacl.to_cif, {call = function(o) return nacl:to_cif(o) end, key = "symprec", bad = "tight"})
recipe(ct.structure.new, {call = function(o)
                            return ct.structure.new(with({lattice = {5, 5, 5, 90, 90, 90}, species = {11},
                                                          frac = {{0, 0, 0}}}, o))
                          end, key = "spacegroup", bad = "Fm-3m"})
recipe(scaler.project, {call = function(o) return scaler:project(batch, o) end, key = "clamp", bad = "yes"})
recipe(cgcnn.core.optimizer, {call = function(o) return cgcnn.core:optimizer(o) end,
                              key = "weight_decay", bad = "some"})
recipe(ct.plot.histogram, {call = function(o) return ct.plot.histogram(with({samples = {{1, 2, 3}}}, o)) end,
                           key = "title", bad = 5})
recipe(ct.plot.lines, {call = function(o) return ct.plot.lines(with({series = {{y = {1, 2}}}}, o)) end,
                       key = "xlabel", bad = 5})
recipe(ct.plot.scatter, {call = function(o) return ct.plot.scatter(with({x = {1, 2}, y = {2, 3}}, o)) end,
                         key = "ylabel", bad = 5})
recipe(ct.plot.bars, {call = function(o) return ct.plot.bars(with({labels = {"a"}, series = {{values = {1}}}}, o)) end,
                      key = "height", bad = "tall"})
recipe(ct.properties.evaluate, {call = function(o) return ct.properties.evaluate(cgcnn, ds, o) end,
                                key = "stable", bad = "low"})
recipe(ct.properties.rank, {call = function(o) return ct.properties.rank(list, with({model = cgcnn}, o)) end,
                            key = "top", bad = "all"})
recipe(ct.properties.train, {call = function(o) return ct.properties.train(with({data = ds, epochs = 1}, o)) end,
                             key = "epochs", bad = "many"})
recipe(ct.report.quantities, {call = function(o) return ct.report.quantities(list, o) end,
                              key = "symprec", bad = "tight"})
recipe(ct.report.report, {call = function(o)
                            return ct.report.report(list, list, with({out = tmp .. "/r", quiet = true, cdvae = false,
                                                                     pictures = 0, properties = false}, o))
                          end, key = "pictures", bad = "all"})
recipe(ct.tour, {call = function(o) return ct.tour(o) end, key = "out", bad = 5})
recipe(ct.train, {call = function(o) return ct.train(with({model = diffusion, data = batch, steps = 0}, o)) end,
                  key = "steps", bad = "many"})

-- Documented functions whose signature shows a table that is no options
-- table, with the reason.
local NOT_OPTIONS = {
  [cgcnn.core.save] = "metadata: any string keys",
}

-- Public Lua functions with an opts or config parameter that check no
-- options themselves, with the reason.
local UNCHECKED = {
  ["metrics_cdvae.lua X.uniqueness"] = "its C core checks them (recipe ct.metrics.uniqueness)",
  ["metrics_cdvae.lua X.novelty"] = "its C core checks them (recipe ct.metrics.novelty)",
  ["models.lua Model:atom_counts"] = "a step of model:sample, given its checked options",
  ["models.lua Diffusion:sample_chunk"] = "a step of model:sample, given its checked options",
  ["checkpoint_config.lua M.check"] = "a configuration read back from a checkpoint",
  ["options.lua M.check"] = "the checker itself",
}

-- ---- finding the functions in the code -----------------------------------------

-- The signature of a doc text ("f(x, [opts])", without the "-> result").
local function signature(text)
  local sig = text:match("^([%w_.:]+%b()[^.]*)%.") or text:match("^([%w_.:]+%b{}[^.]*)%.")
  return sig and (sig:gsub("%s*%->.*", ""))
end

-- Whether a signature shows an options table among its parameters.
local function takes_options(sig)
  sig = sig:match("^[%w_.:]+(.*)$")
  return sig:find("%f[%w]opts%f[%W]") or sig:find("%f[%w]options%f[%W]") or
         sig:find("%f[%w]config%f[%W]") or sig:find("%[{") or sig:find("{[%w_]+%s*=") ~= nil
end

local documented = {}
for v, text in pairs(doc) do
  local sig = type(text) == "string" and signature(text)
  if sig and takes_options(sig) and (type(v) == "function" or type(v) == "table") and not NOT_OPTIONS[v] then
    documented[#documented + 1] = {f = v, sig = sig}
  end
end
table.sort(documented, function(a, b) return a.sig < b.sig end)

T.test("the functions that take options are found in the code", function()
  T.truthy(#documented >= 50, ("documented functions with options: %d"):format(#documented))
  local missing = {}
  for _, d in ipairs(documented) do
    if not R[d.f] then missing[#missing + 1] = d.sig end
  end
  T.eq(#missing, 0, "documented functions that take options but have no recipe here: " ..
                    table.concat(missing, "; "))
  print(("# %d documented functions take options; %d recipes"):format(#documented, (function()
    local n = 0
    for _ in pairs(R) do n = n + 1 end
    return n
  end)()))
end)

T.test("every public Lua function with an opts or config parameter checks it", function()
  local p = io.popen("ls " .. srcdir .. "/lua/crystens/*.lua")
  local unchecked = {}
  for path in p:lines() do
    local file = path:match("[^/]+$")
    local text = T.slurp(path)
    -- a public function: a field or method of a table, not a local function
    for head, name, params, body in text:gmatch("\n()function ([%w_]+[.:][%w_.:]+)(%b())(.-)\nend") do
      if params:find("%f[%w]opts%f[%W]") or params:find("%f[%w]config%f[%W]") then
        local id = file .. " " .. name
        if not body:find("options%.check%(") and not UNCHECKED[id] then unchecked[#unchecked + 1] = id end
      end
      local _ = head
    end
  end
  p:close()
  T.eq(#unchecked, 0, "public functions that take options without options.check: " ..
                      table.concat(unchecked, ", "))
end)

-- ---- the checks -------------------------------------------------------------------

-- A misspelling of key that the hint should lead back to: two different
-- neighbouring letters swapped.
local function misspell(key)
  local i = 1
  while key:sub(i, i) == key:sub(i + 1, i + 1) do i = i + 1 end
  return key:sub(1, i - 1) .. key:sub(i + 1, i + 1) .. key:sub(i, i) .. key:sub(i + 2)
end

-- The name the doc gives f, its last part ("model:sample" -> "sample").
local function last_part(sig) return sig:match("([%w_]+)[%(%{]") end

-- The function a message names, checked against the doc's name for f.
local function check_name(fname, d, r, msg)
  if r.name then
    T.eq(fname, r.name, "the function named by " .. msg)
  else
    T.eq(fname:match("([%w_]+)$"), last_part(d.sig), "the function named by " .. msg)
  end
end

local covered = 0
for _, d in ipairs(documented) do
  local r = R[d.f]
  covered = covered + 1
  T.test(d.sig .. ": a misspelled key, a wrong type, a non-table", function()
    local typo = misspell(r.key)
    local ok, err = pcall(r.call, {[typo] = 1})
    T.truthy(not ok, d.sig .. " accepted option " .. typo)
    local fname, hint = tostring(err):match("bad option '" .. typo:gsub("%p", "%%%0") ..
                                            "' to '([^']+)' %(unknown option; did you mean '([%w_]+)'%?%)$")
    T.truthy(fname, "message for a misspelled key: " .. tostring(err))
    T.eq(hint, r.key, "the hint for " .. typo)
    check_name(fname, d, r, err)

    ok, err = pcall(r.call, {[r.key] = r.bad})
    T.truthy(not ok, d.sig .. " accepted " .. r.key .. " = " .. tostring(r.bad))
    local fname2, want, got = tostring(err):match("bad option '" .. r.key ..
                                                  "' to '([^']+)' %((.+) expected, got ([%w_.]+)[^)]*%)$")
    T.truthy(fname2, "message for a wrong type: " .. tostring(err))
    T.eq(fname2, fname, "both messages name the same function")
    T.eq(got, type(r.bad), "the type named as given")
    T.truthy(not want:find(type(r.bad), 1, true), "'" .. want .. "' is what was expected")

    ok, err = pcall(r.call, "ten")
    T.truthy(not ok and tostring(err):find("table expected, got string", 1, true),
             "a string for the options table: " .. tostring(err))
  end)
end

T.test("the Lua checker: types, enums, integers, hints and levels", function()
  local spec = {steps = "integer", eta = "number", clip = {"means", "copies"}, t = "Tensor|table",
                on = "boolean", f = "function", any = "any"}
  local function f(opts)
    opts = options.check("f", opts, spec, 2)
    return opts
  end
  T.eq(next(f(nil)), nil, "nil is an empty table")
  T.eq(f({steps = 5.0}).steps, 5.0, "an integral float is an integer")
  T.eq(f({t = t16}).t, t16, "a Tensor where Tensor|table is asked")
  T.raises(function() f({steps = 2.5}) end, "bad option 'steps' to 'f' (number has no integer representation)")
  T.raises(function() f({on = "no"}) end, "bad option 'on' to 'f' (boolean expected, got string)")
  T.raises(function() f({eta = "1"}) end, "bad option 'eta' to 'f' (number expected, got string)")
  T.raises(function() f({t = 5}) end, "bad option 't' to 'f' (Tensor or table expected, got number)")
  T.raises(function() f({t = nacl}) end, "(Tensor or table expected, got crystens.Structure)")
  T.raises(function() f({clip = "mean"}) end, "bad option 'clip' to 'f' (invalid value 'mean'; did you mean 'means'?)")
  T.raises(function() f({clip = "x"}) end, "(invalid value 'x'; expected 'means' or 'copies')")
  T.raises(function() f({zzz = 1}) end,
           "bad option 'zzz' to 'f' (unknown option; known: 'any', 'clip', 'eta', 'f', 'on', 'steps', 't')")
  T.raises(function() f({[1] = 1}) end, "bad argument #2 to 'f' (option names are strings, got number 1)")
  T.raises(function() f(5) end, "bad argument #2 to 'f' (options table expected, got number)")
  -- the error points at the caller of the function that checks
  local err = T.raises(function() f({stpes = 1}) end, "did you mean 'steps'?")
  T.truthy(err:find("options.lua:%d+: bad option"), "position of the caller: " .. err)
  T.eq(options.closest("k", {"x"}), nil, "no hint from one letter of two")
  T.raises(function() options.arg("g", 1, "ten", "integer") end, "bad argument #1 to 'g' (integer expected, got string)")
  T.raises(function() options.arg("g", 1, nil, "integer") end, "(integer expected, got no value)")
end)

T.test("what the issue found, fixed", function()
  T.raises(function() diffusion:sample(2, {stpes = 5}) end,
           "bad option 'stpes' to 'model:sample' (unknown option; did you mean 'steps'?)")
  T.raises(function() diffusion:sample("ten") end, "bad argument #1 to 'model:sample' (integer expected, got string)")
  T.raises(function() ct.crystens.decode(t16, {k_specis = 3}) end, "did you mean 'k_species'?")
  T.raises(function() ct.models.diffusion{size = 33} end,
           "bad option 'size' to 'ct.models.diffusion' (a power of two from 16 to 256 expected, got number 33)")
  T.raises(function() ct.models.diffusion{size = 16, patch = 4, mults = {1, 2, 2, 2}, preset = "tiny"} end,
           "bad option 'size' to 'ct.models.diffusion' (a multiple of 32 (patch × 2^(levels - 1)) expected, got 16)")
  T.raises(function() ct.nn.linear(2, 2, {bias = "no"}) end, "(boolean expected, got string)")
  T.raises(function() ct.nn.groupnorm(2, 4, 1e-5) end,
           "bad argument #3 to 'ct.nn.groupnorm' (options table expected, got number)")
  T.raises(function() ct.nn.linear(2, 2, {true}) end,
           "bad argument #3 to 'ct.nn.linear' (option names are strings, got number 1)")
  T.raises(function() ct.nn.groupnorm(2, 4, {zzz = 1}) end,
           "bad option 'zzz' to 'ct.nn.groupnorm' (unknown option; known: 'eps')")
  T.raises(function() ct.nn.layernorm(4, {eps = "small"}) end,
           "bad option 'eps' to 'ct.nn.layernorm' (number expected, got string)")
  -- a method's self is not counted, as in Lua's own messages
  T.raises(function() nacl:to_cif(5) end, "bad argument #1 to 'Structure:to_cif' (options table expected")
end)

T.test("an integer option with a range says the range, the same way in every binding", function()
  local pts = {1, 2, 3, 10, 11, 12}
  T.raises(function() ct.kmeans(pts, {k = 2, restarts = 0}) end,
           "bad option 'restarts' to 'ct.kmeans' (must be an integer from 1 to 100000)")
  T.raises(function() ct.kmeans(pts, {k = 2, restarts = 1.5}) end,
           "bad option 'restarts' to 'ct.kmeans' (number has no integer representation)")
  T.eq(#ct.kmeans(pts, {k = 2, restarts = 1}).labels, 6, "in range")
  T.raises(function() ct.crystens.encode(nacl, {size = 12}) end,
           "bad option 'size' to 'ct.crystens.encode' (must be an integer from 13 to 4096)")
  T.raises(function() ct.picture.grid({nacl}, tmp .. "/g.png", {cols = 1001}) end,
           "bad option 'cols' to 'ct.picture.grid' (must be an integer from 0 to 1000)")
end)

print(("# %d documented functions with options checked"):format(covered))
T.rmtree(tmp)
T.done()
