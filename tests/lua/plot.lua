-- ct.plot: the SVG files are well-formed XML, hold the expected bars and
-- paths, their axis ranges cover the data, and they are written atomically.
local T = require "tap"
local ct = require "crystens"
local plot = ct.plot

local dir = T.tmpdir()

-- Check that tags balance (a fallback when no XML parser is installed):
-- every <x ...> closes with </x> in order, <x .../> closes itself.
local function tags_balance(text)
  local stack = {}
  local body = text:gsub("^<%?xml.-%?>", "")
  for close, name, rest in body:gmatch("<(/?)([%w:_-]+)([^>]*)>") do
    if close == "/" then
      if stack[#stack] ~= name then return false, "unexpected </" .. name .. ">" end
      stack[#stack] = nil
    elseif not rest:match("/$") then
      stack[#stack + 1] = name
    end
  end
  return #stack == 0, stack[#stack]
end

-- Check well-formedness with an XML parser where there is one, and always
-- with the tag balance.
local function well_formed(path)
  local f = assert(io.open(path))
  local text = f:read("a")
  f:close()
  T.truthy(tags_balance(text), path .. ": tags balance")
  T.truthy(not text:find("&[^#%a]"), path .. ": every & starts an entity")
  if os.execute("command -v xmllint >/dev/null 2>&1") then
    T.truthy(os.execute("xmllint --noout '" .. path .. "'"), path .. " parses with xmllint")
  elseif os.execute("/usr/bin/python3 -c 'import xml.dom.minidom' 2>/dev/null") then
    T.truthy(os.execute("/usr/bin/python3 -c 'import sys, xml.dom.minidom; " ..
      "xml.dom.minidom.parse(sys.argv[1])' '" .. path .. "'"), path .. " parses with minidom")
  end
  return text
end

local function count(text, pattern)
  local n = 0
  for _ in text:gmatch(pattern) do n = n + 1 end
  return n
end

local function plot_range(text)
  local g = text:match('<g class="plot"([^>]*)>')
  return tonumber(g:match('data%-xmin="([^"]+)"')), tonumber(g:match('data%-xmax="([^"]+)"')),
         tonumber(g:match('data%-ymin="([^"]+)"')), tonumber(g:match('data%-ymax="([^"]+)"'))
end

T.test("overlaid histograms: bars, outlines, legend, K-S in the title", function()
  -- Bins of [0, 4] in 4: a = {0,.5,1,1.5,2} counts {2,2,1,0} (3 bars);
  -- b = {1,1,4} counts {0,2,0,1} (2 bars).  D: |F_a - F_b| is .2, .4, .067,
  -- .133, .333, 0 at 0, .5, 1, 1.5, 2, 4, so D = 0.4.
  local path = dir .. "/hist.svg"
  local svg = plot.histogram{samples = {{name = "generated", values = {0, 0.5, 1, 1.5, 2}},
                                        {name = "reference", values = {1, 1, 4}}},
                             bins = 4, title = "a <&> b", xlabel = "a (Å)", path = path}
  local text = well_formed(path)
  T.eq(text, svg, "the file holds the returned text")
  T.truthy(not T.exists(path .. ".tmp"), "no temporary file is left")
  T.eq(count(text, '<rect class="bar"'), 5, "one bar per non-empty bin")
  T.eq(count(text, '<path class="series"'), 2, "one outline per sample")
  T.truthy(text:find("(K-S D = 0.400)", 1, true), "K-S D in the title")
  T.truthy(text:find("a &lt;&amp;&gt; b", 1, true), "the title is escaped")
  T.truthy(text:find(">generated<", 1, true) and text:find(">reference<", 1, true), "legend")
  local xmin, xmax, ymin, ymax = plot_range(text)
  T.truthy(xmin <= 0 and xmax >= 4, "x range covers the data")
  T.truthy(ymin <= 0 and ymax >= 0.4, "y range covers the largest fraction (2/5)")
end)

T.test("integer histograms label each value", function()
  local svg = plot.histogram{samples = {{values = {1, 2, 2, 3}}, {values = {2, 3, 3, 5}}},
                             integer = true}
  T.eq(count(svg, '<text class="tick"[^>]*text%-anchor="middle"[^>]*>%d</text>'), 5,
       "ticks 1..5 on the x axis")
end)

T.test("lines: one path per series, gaps at NaN, ranges cover the data", function()
  local path = dir .. "/loss.csv"
  local f = assert(io.open(path, "w"))
  f:write("step,loss_d,loss_g\n")
  for step = 1, 50 do
    local g = step == 20 and "nan" or string.format("%.4f", 3 * math.exp(-step / 10) - 0.5)
    f:write(string.format("%d,%.4f,%s\n", step * 10, 1 + math.sin(step / 5), g))
  end
  f:close()
  local log = plot.read_csv(path)
  T.eq(table.concat(log.names, " "), "step loss_d loss_g", "header")
  T.eq(#log.step, 50, "rows")
  T.truthy(log.loss_g[20] ~= log.loss_g[20], "a 'nan' field reads as NaN")
  local svgpath = dir .. "/loss.svg"
  plot.lines{x = log.step, series = {{name = "D", y = log.loss_d}, {name = "G", y = log.loss_g},
                                     {name = "flat", y = {}, x = {}}},
             title = "losses", xlabel = "step", ylabel = "loss", path = svgpath}
  local text = well_formed(svgpath)
  T.eq(count(text, '<path class="series"'), 3, "three series")
  local g = text:match('<path class="series" d="([^"]*)"[^>]*stroke="#d62728"')
  T.eq(count(g, "M"), 2, "the G path restarts after its NaN")
  T.eq(count(g, "L"), 47, "49 finite points: 2 moves and 47 lines")
  local xmin, xmax, ymin, ymax = plot_range(text)
  T.truthy(xmin <= 10 and xmax >= 500, "x range covers the steps")
  local lo, hi = math.huge, -math.huge
  for i = 1, 50 do
    for _, v in ipairs{log.loss_d[i], log.loss_g[i]} do
      if v == v then lo, hi = math.min(lo, v), math.max(hi, v) end
    end
  end
  T.truthy(ymin <= lo and ymax >= hi, string.format("y range [%g, %g] covers [%g, %g]",
                                                    ymin, ymax, lo, hi))
end)

T.test("bars: one bar per label and series, negative values below zero", function()
  local path = dir .. "/bars.svg"
  plot.bars{labels = {"GAN", "WGAN", "diffusion"},
            series = {{name = "valid", values = {0.4, 0.7, 0.9}},
                      {name = "change", values = {-0.2, 0.1, 0 / 0}}},
            title = "validity", path = path}
  local text = well_formed(path)
  T.eq(count(text, '<rect class="bar"'), 5, "six bars less the NaN one")
  T.eq(count(text, ">diffusion<"), 1, "labels on the x axis")
  local _, _, ymin, ymax = plot_range(text)
  T.truthy(ymin <= -0.2 and ymax >= 0.9, "y range covers -0.2 .. 0.9")
  T.raises(function() plot.bars{labels = {"a"}, series = {{values = {1, 2}}}} end,
           "series 1 has 2 values for 1 labels")
end)

T.test("bad arguments and unwritable paths raise errors", function()
  T.raises(function() plot.histogram{samples = {}} end, "samples must be a non-empty list")
  T.raises(function() plot.lines{series = {{y = {1, 2}, x = {1}}}} end, "series 1 has 1 x and 2 y")
  T.raises(function() plot.lines{series = {{y = {1}}}, path = dir .. "/no/such/dir/x.svg"} end,
           "no/such/dir")
  T.truthy(not T.exists(dir .. "/no/such/dir/x.svg.tmp"), "nothing left behind")
end)

T.test("rewriting a chart replaces the file whole", function()
  local path = dir .. "/again.svg"
  plot.bars{labels = {"a", "b"}, series = {{values = {1, 2}}}, path = path}
  plot.bars{labels = {"a"}, series = {{values = {3}}}, path = path}
  local text = well_formed(path)
  T.eq(count(text, '<rect class="bar"'), 1, "the second chart only")
end)

T.rmtree(dir)
T.done()
