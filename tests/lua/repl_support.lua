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
  T.raises(function() ct.help("no.such.thing") end, "nothing is named no.such.thing")
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

T.test("help(nil) is an error, not the module list", function()
  local lines, ok, err = T.capture(ct.help, ct.nonexistent)
  T.eq(ok, false, "an error")
  T.truthy(tostring(err):find("nil", 1, true), "saying the value is nil: " .. tostring(err))
  T.eq(#lines, 0, "and nothing printed")
end)

T.test("help() fits the terminal and points to tour()", function()
  local w = ct.progress.columns()
  local out = output_of(ct.help)
  T.truthy(out:find("tour()", 1, true), "tour() mentioned")
  for line in out:gmatch("[^\n]+") do
    T.truthy(utf8.len(line) < w, ("line of %d characters on %d columns: %s"):format(utf8.len(line), w, line))
  end
end)

T.test("a model prints one line; help(m) lists its methods with their docs", function()
  local m = ct.models.diffusion {preset = "tiny", size = 16}
  local text = pretty.format(m)
  T.eq(select(2, text:gsub("\n", "")), 0, "one line: " .. text)
  for _, part in ipairs {"diffusion model", "size 16", "preset tiny",
                         ("%d parameters"):format(m:nparams()), "0 steps trained"} do
    T.truthy(text:find(part, 1, true), "'" .. part .. "' in " .. text)
  end
  T.truthy(tostring(ct.models.gan {size = 16, base = 4, latent = 8}):find("^GAN model, size 16"),
           "a GAN too")
  local out = output_of(ct.help, m)
  for _, method in ipairs {"sample", "train_step", "save", "export", "nparams"} do
    T.truthy(out:find("model:" .. method .. "(", 1, true), method .. " listed in:\n" .. out)
  end
  T.truthy(not out:find("sample_chunk", 1, true), "internals are not")
  local sample = output_of(ct.help, m.sample)
  T.truthy(sample:find("DDIM", 1, true) and not sample:find("no documentation", 1, true), sample)
end)

T.test("numbers show at float32 precision", function()
  T.eq(pretty.format(109.77529907227), "109.775", "six significant digits")
  T.eq(pretty.format({0.1, 2.5, 16.0, 3}), "{0.1, 2.5, 16.0, 3}", "in tables, integers as they are")
  local t = ct.tensor.from {{1 / 3, 2}, {3, 109.77529907227}}
  T.eq(pretty.format(t:get(1, 1)), "0.333333", "a tensor value")
  T.eq(tostring(t), "Tensor 2x2  min 0.333333  mean 28.7772  max 109.775", "tensor summary")
end)

T.test("formulas are canonical (Hill order) and reducible", function()
  local a = ct.structure.new {lattice = {5, 5, 5, 90, 90, 90}, species = {"S", "Ag", "Sb", "S"},
                              frac = {{0, 0, 0}, {.5, 0, 0}, {0, .5, 0}, {0, 0, .5}}}
  local b = ct.structure.new {lattice = {5, 5, 5, 90, 90, 90}, species = {"Ag", "S", "S", "Sb"},
                              frac = {{.5, 0, 0}, {0, 0, 0}, {0, 0, .5}, {0, .5, 0}}}
  T.eq(a.formula, b.formula, "atom order does not matter")
  T.eq(a.formula, "Ag1S2Sb1", "alphabetical without carbon")
  T.truthy(tostring(a):find("Structure Ag1S2Sb1 ", 1, true), "print uses it")
  local c = ct.structure.new {lattice = {5, 5, 5, 90, 90, 90}, species = {"O", "H", "C", "H", "N", "C"},
                              frac = {{0, 0, 0}, {.5, 0, 0}, {0, .5, 0}, {0, 0, .5}, {.5, .5, 0}, {.5, .5, .5}}}
  T.eq(c.formula, "C2H2N1O1", "C, H first with carbon")
  T.eq(c.reduced_formula, "C2H2N1O1", "nothing to reduce")
  local d = ct.structure.new {lattice = {5, 5, 5, 90, 90, 90}, species = {"Na", "Cl", "Na", "Cl"},
                              frac = {{0, 0, 0}, {.5, 0, 0}, {0, .5, 0}, {0, 0, .5}}}
  T.eq(d.formula, "Cl2Na2", "formula")
  T.eq(d.reduced_formula, "Cl1Na1", "reduced")
end)

-- Run code in a fresh crystens with the bar forced on at that many columns; return stderr.
local function bar_output(code, columns)
  local p = assert(io.popen(("CRYSTENS_PROGRESS=1 COLUMNS=%d '%s' -e %q 2>&1 >/dev/null")
                            :format(columns, os.getenv("CRYSTENS") or "crystens", code)))
  local out = p:read("a")
  p:close()
  return out
end

T.test("the progress bar stays one column short of the terminal", function()
  local out = bar_output('local b = ct.progress.new("a long label for a bar", 10) ' ..
                         'for i = 1, 10 do b:update(i, "loss 0.123456 and more text") end b:finish()', 40)
  local draws = 0
  for piece in out:gmatch("[^\r\n]+") do
    local text = piece:gsub("\27%[K", "")
    if text ~= "" then
      draws = draws + 1
      T.truthy(utf8.len(text) <= 39, ("%d characters: %s"):format(utf8.len(text), text))
    end
  end
  T.truthy(draws >= 2, "drawn at least twice")
end)

T.test("the sampling bar counts steps, not samples × steps", function()
  local out = bar_output('local m = ct.models.diffusion{preset="tiny", size=16} ' ..
                         'm:fit_scaler(ct.tensor.rand{4, 4, 16, 16}) m:sample(3, {steps = 5, batch = 2})', 200)
  local last = out:match(".*sampling 3, step[^\r\n]*")
  T.truthy(last, "a sampling bar: " .. out)
  T.truthy(last:find("10/10", 1, true), "two chunks of five steps: " .. last)
end)

T.done()
