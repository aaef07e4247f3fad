-- crystens.plot (ct.plot): small SVG charts written by crystens itself, no
-- plotting dependency, for reports and for watching training.
--
--   ct.plot.histogram{samples = {{name = "generated", values = a},
--                                {name = "reference", values = b}},
--                     title = "a", xlabel = "a (Å)", path = "report/a.svg"}
--   ct.plot.lines{x = log.step, series = {{name = "D loss", y = log.loss_d},
--                                        {name = "G loss", y = log.loss_g}},
--                 xlabel = "step", path = "run/loss.svg"}
--   ct.plot.bars{labels = {"GAN", "WGAN", "diffusion"},
--                series = {{name = "valid", values = {0.4, 0.7, 0.9}}}}
--
-- Each returns the SVG text, and writes it to opts.path when given (to
-- path .. ".tmp" first, then renamed, so a reader never sees half a file).
-- The plot area carries data-xmin/-xmax/-ymin/-ymax attributes: the axis
-- ranges, for tests and for tools that read the charts back.

local metrics = require "crystens.metrics"
local doc = require "crystens.doc"
local options = require "crystens.options"
local file = require "crystens.file"

local M = {}

local COLORS = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
                "#e377c2", "#7f7f7f"}

local function escape(s)
  return (tostring(s):gsub("[&<>\"']", {["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
                                        ['"'] = "&quot;", ["'"] = "&apos;"}))
end

local function num(v)
  return string.format("%.2f", v)
end

-- ---- axes ------------------------------------------------------------------

-- A step of 1, 2 or 5 times a power of ten giving about n intervals.
local function nice_step(span, n)
  local raw = span / n
  local mag = 10 ^ math.floor(math.log(raw, 10))
  local f = raw / mag
  return (f < 1.5 and 1 or f < 3 and 2 or f < 7 and 5 or 10) * mag
end

-- Tick values inside [lo, hi] on multiples of step, and their label format.
local function ticks(lo, hi, step)
  local out = {}
  local first = math.ceil(lo / step - 1e-9)
  for k = first, math.floor(hi / step + 1e-9) do out[#out + 1] = k * step end
  local decimals = math.max(0, -math.floor(math.log(step, 10) + 1e-9))
  return out, "%." .. decimals .. "f"
end

-- Widen [lo, hi] so it has a width, and optionally round it out to ticks.
local function span_of(lo, hi, round)
  if hi <= lo then
    local pad = math.max(math.abs(lo) * 0.1, 0.5)
    lo, hi = lo - pad, hi + pad
  end
  local step = nice_step(hi - lo, 6)
  if round then lo, hi = math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step end
  return lo, hi, step
end

-- A frame maps data to pixels: plot area [x0, x1] x [y0, y1] in the picture.
local function new_frame(opts, xlo, xhi, ylo, yhi)
  local w, h = opts.width or 640, opts.height or 400
  local f = {w = w, h = h, x0 = 70, x1 = w - 20, y0 = 40, y1 = h - 55,
             xlo = xlo, xhi = xhi, ylo = ylo, yhi = yhi}
  function f.px(x) return f.x0 + (x - f.xlo) / (f.xhi - f.xlo) * (f.x1 - f.x0) end
  function f.py(y) return f.y1 - (y - f.ylo) / (f.yhi - f.ylo) * (f.y1 - f.y0) end
  return f
end

local function header(out, f, opts)
  out[#out + 1] = '<?xml version="1.0" encoding="UTF-8"?>'
  out[#out + 1] = string.format('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" ' ..
    'viewBox="0 0 %d %d" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">',
    f.w, f.h, f.w, f.h)
  out[#out + 1] = string.format('<rect width="%d" height="%d" fill="white"/>', f.w, f.h)
  if opts.title then
    out[#out + 1] = string.format('<text class="title" x="%s" y="24" text-anchor="middle" ' ..
      'font-size="15" font-weight="bold">%s</text>', num(f.w / 2), escape(opts.title))
  end
end

-- Axis lines, ticks with labels and grid lines, and the axis titles.
-- xticks may be a list of {value, label} for categorical axes.
local function axes(out, f, opts, xticks)
  out[#out + 1] = '<g class="axes" stroke="#333" stroke-width="1">'
  local yt, yfmt = ticks(f.ylo, f.yhi, nice_step(f.yhi - f.ylo, 6))
  for _, v in ipairs(yt) do
    local y = num(f.py(v))
    out[#out + 1] = string.format('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#ddd"/>',
                                  num(f.x0), y, num(f.x1), y)
    out[#out + 1] = string.format('<line x1="%s" y1="%s" x2="%s" y2="%s"/>', num(f.x0 - 5), y,
                                  num(f.x0), y)
    out[#out + 1] = string.format('<text class="tick" x="%s" y="%s" text-anchor="end" ' ..
      'stroke="none" fill="#333">%s</text>', num(f.x0 - 8), num(f.py(v) + 4), string.format(yfmt, v))
  end
  if not xticks then
    local xt, xfmt = ticks(f.xlo, f.xhi, nice_step(f.xhi - f.xlo, 8))
    xticks = {}
    for i, v in ipairs(xt) do xticks[i] = {v, string.format(xfmt, v)} end
  end
  for _, t in ipairs(xticks) do
    local x = num(f.px(t[1]))
    out[#out + 1] = string.format('<line x1="%s" y1="%s" x2="%s" y2="%s"/>', x, num(f.y1), x,
                                  num(f.y1 + 5))
    out[#out + 1] = string.format('<text class="tick" x="%s" y="%s" text-anchor="middle" ' ..
      'stroke="none" fill="#333">%s</text>', x, num(f.y1 + 19), escape(t[2]))
  end
  out[#out + 1] = string.format('<line x1="%s" y1="%s" x2="%s" y2="%s"/>', num(f.x0), num(f.y1),
                                num(f.x1), num(f.y1))
  out[#out + 1] = string.format('<line x1="%s" y1="%s" x2="%s" y2="%s"/>', num(f.x0), num(f.y0),
                                num(f.x0), num(f.y1))
  out[#out + 1] = '</g>'
  if opts.xlabel then
    out[#out + 1] = string.format('<text class="xlabel" x="%s" y="%s" text-anchor="middle">%s</text>',
                                  num((f.x0 + f.x1) / 2), num(f.h - 12), escape(opts.xlabel))
  end
  if opts.ylabel then
    local x, y = 16, (f.y0 + f.y1) / 2
    out[#out + 1] = string.format('<text class="ylabel" x="%s" y="%s" text-anchor="middle" ' ..
      'transform="rotate(-90 %s %s)">%s</text>', num(x), num(y), num(x), num(y), escape(opts.ylabel))
  end
end

local function legend(out, f, names)
  local width = 0
  for _, n in ipairs(names) do width = math.max(width, #n) end
  local x = f.x1 - 30 - 7 * width
  out[#out + 1] = string.format('<g class="legend"><rect x="%s" y="%s" width="%s" height="%s" ' ..
    'fill="white" fill-opacity="0.85" stroke="#999"/>', num(x - 8), num(f.y0 + 2),
    num(30 + 7 * width + 4), num(18 * #names + 6))
  for i, n in ipairs(names) do
    local y = f.y0 + 8 + 18 * (i - 1)
    out[#out + 1] = string.format('<rect x="%s" y="%s" width="14" height="10" fill="%s"/>' ..
      '<text x="%s" y="%s">%s</text>', num(x), num(y), COLORS[(i - 1) % #COLORS + 1],
      num(x + 20), num(y + 9), escape(n))
  end
  out[#out + 1] = '</g>'
end

local function plot_area(out, f)
  out[#out + 1] = string.format('<g class="plot" data-xmin="%.17g" data-xmax="%.17g" ' ..
    'data-ymin="%.17g" data-ymax="%.17g">', f.xlo, f.xhi, f.ylo, f.yhi)
end

local function finish(out, opts)
  out[#out + 1] = '</svg>\n'
  local svg = table.concat(out, "\n")
  if opts.path then M.write(opts.path, svg) end
  return svg
end

function M.write(path, text)
  return file.write(path, text)
end
doc[M.write] = "write(path, text) -> path. Write text to path atomically (ct.file.write: " ..
  "a temporary file in the same folder, flushed, renamed over path)."

-- ---- charts ----------------------------------------------------------------

-- The options every chart takes, and each chart's own.
local CHART = {title = "string", xlabel = "string", ylabel = "string", width = "number",
               height = "number", path = "string"}
local HISTOGRAM = options.merge(CHART, {samples = "table", bins = "integer", range = "table",
                                        integer = "boolean", normalize = "boolean", ks = "boolean"})
local LINES = options.merge(CHART, {series = "table", x = "table"})
local SCATTER = options.merge(CHART, {x = "table", y = "table", diagonal = "boolean"})
local BARS = options.merge(CHART, {labels = "table", series = "table"})

local function check_list(v, what, fname)
  if type(v) ~= "table" or #v == 0 then
    error(string.format("bad argument #1 to '%s' (%s must be a non-empty list)", fname, what), 3)
  end
end

function M.histogram(opts)
  opts = options.check("ct.plot.histogram", opts, HISTOGRAM)
  check_list(opts.samples, "samples", "histogram")
  local values, names = {}, {}
  for i, s in ipairs(opts.samples) do
    values[i] = s.values or s
    names[i] = s.name or ("sample " .. i)
  end
  local h = metrics.histograms(values, {bins = opts.bins, range = opts.range, integer = opts.integer})
  local heights, top = {}, 0
  for i, counts in ipairs(h.counts) do
    local total = 0
    for _, c in ipairs(counts) do total = total + c end
    heights[i] = {}
    for k, c in ipairs(counts) do
      heights[i][k] = (opts.normalize == false or total == 0) and c or c / total
      top = math.max(top, heights[i][k])
    end
  end
  local title = opts.title
  if #values == 2 and opts.ks ~= false then
    local d = metrics.ks(values[1], values[2]).statistic
    title = (title and title .. "  " or "") .. string.format("(K-S D = %.3f)", d)
  end
  local e = h.edges
  local ylo, yhi = span_of(0, top * 1.08, true)
  local f = new_frame(opts, e[1], e[#e], ylo, yhi)
  local out = {}
  header(out, f, {title = title})
  axes(out, f, {xlabel = opts.xlabel, ylabel = opts.ylabel or
                (opts.normalize == false and "count" or "fraction")},
       opts.integer and #e <= 25 and (function()
         local t = {}
         for k = 1, #e - 1 do t[k] = {(e[k] + e[k + 1]) / 2, tostring(math.floor(e[k] + 1))} end
         return t
       end)() or nil)
  plot_area(out, f)
  for i, hs in ipairs(heights) do
    local color = COLORS[(i - 1) % #COLORS + 1]
    local steps = {}
    for k, v in ipairs(hs) do
      local x, x2, y = f.px(e[k]), f.px(e[k + 1]), f.py(v)
      if v > 0 then
        out[#out + 1] = string.format('<rect class="bar" x="%s" y="%s" width="%s" height="%s" ' ..
          'fill="%s" fill-opacity="0.35"/>', num(x), num(y), num(x2 - x), num(f.py(0) - y), color)
      end
      steps[#steps + 1] = string.format("%s%s,%s H%s", k == 1 and "M" or "L", num(x), num(y), num(x2))
    end
    out[#out + 1] = string.format('<path class="series" d="%s" fill="none" stroke="%s" ' ..
      'stroke-width="1.5"/>', table.concat(steps, " "), color)
  end
  out[#out + 1] = '</g>'
  legend(out, f, names)
  return finish(out, opts)
end
doc[M.histogram] = "histogram(opts) -> svg. Overlaid histograms of opts.samples, a list " ..
  "of {name=, values=} (values: array or 1-D tensor), over shared bins (opts.bins, default 20; opts.integer: one bin per integer; " ..
  "opts.range = {lo, hi}), as fractions of each sample (opts.normalize = false: counts). " ..
  "With two samples the title gets their K-S D (opts.ks = false: not). Also title, " ..
  "xlabel, ylabel, width, height, path (written atomically)."

-- The finite range of a list of lists of numbers.
local function finite_range(lists)
  local lo, hi = math.huge, -math.huge
  for _, l in ipairs(lists) do
    for _, v in ipairs(l) do
      if v == v and v > -math.huge and v < math.huge then lo, hi = math.min(lo, v), math.max(hi, v) end
    end
  end
  if lo > hi then lo, hi = 0, 1 end
  return lo, hi
end

function M.lines(opts)
  opts = options.check("ct.plot.lines", opts, LINES)
  check_list(opts.series, "series", "lines")
  local xs, ys, names = {}, {}, {}
  for i, s in ipairs(opts.series) do
    ys[i] = s.y
    xs[i] = s.x or opts.x
    if not xs[i] then
      xs[i] = {}
      for k = 1, #s.y do xs[i][k] = k end
    end
    if #xs[i] ~= #ys[i] then
      error(string.format("bad argument #1 to 'lines' (series %d has %d x and %d y values)",
                          i, #xs[i], #ys[i]), 2)
    end
    names[i] = s.name or ("series " .. i)
  end
  local xlo, xhi = finite_range(xs)
  local ylo, yhi = span_of(finite_range(ys))
  ylo, yhi = span_of(ylo - 0.04 * (yhi - ylo), yhi + 0.04 * (yhi - ylo), true)
  if xhi <= xlo then xlo, xhi = span_of(xlo, xhi) end
  local f = new_frame(opts, xlo, xhi, ylo, yhi)
  local out = {}
  header(out, f, opts)
  axes(out, f, opts)
  plot_area(out, f)
  for i = 1, #ys do
    local d, pen = {}, "M"
    for k = 1, #ys[i] do
      local x, y = xs[i][k], ys[i][k]
      if x == x and y == y and math.abs(y) < math.huge and math.abs(x) < math.huge then
        d[#d + 1] = pen .. num(f.px(x)) .. "," .. num(f.py(y))
        pen = "L"
      else
        pen = "M"   -- a gap where the value is not finite
      end
    end
    out[#out + 1] = string.format('<path class="series" d="%s" fill="none" stroke="%s" ' ..
      'stroke-width="1.5" stroke-linejoin="round"/>', table.concat(d, " "),
      COLORS[(i - 1) % #COLORS + 1])
  end
  out[#out + 1] = '</g>'
  legend(out, f, names)
  return finish(out, opts)
end
doc[M.lines] = "lines(opts) -> svg. Line plot of opts.series, a list of {name=, y=, [x=]}, " ..
  "against opts.x or their own x (default 1, 2, 3 and on), with gaps at non-finite " ..
  "values: loss curves from plot.read_csv. Also title, xlabel, ylabel, width, height, path."

function M.scatter(opts)
  opts = options.check("ct.plot.scatter", opts, SCATTER)
  local xs, ys = opts.x, opts.y
  if type(xs) ~= "table" or type(ys) ~= "table" or #xs ~= #ys or #xs == 0 then
    error("bad argument #1 to 'scatter' (x and y: lists of equal, non-zero length)", 2)
  end
  local xlo, xhi = finite_range({xs})
  local ylo, yhi = finite_range({ys})
  if opts.diagonal then   -- a parity plot: one range for both axes
    xlo, xhi = math.min(xlo, ylo), math.max(xhi, yhi)
    ylo, yhi = xlo, xhi
  end
  xlo, xhi = span_of(xlo - 0.03 * (xhi - xlo), xhi + 0.03 * (xhi - xlo))
  ylo, yhi = span_of(ylo - 0.03 * (yhi - ylo), yhi + 0.03 * (yhi - ylo))
  local f = new_frame(opts, xlo, xhi, ylo, yhi)
  local out = {}
  header(out, f, opts)
  axes(out, f, opts)
  plot_area(out, f)
  if opts.diagonal then
    local lo, hi = math.max(xlo, ylo), math.min(xhi, yhi)
    out[#out + 1] = string.format('<line class="diagonal" x1="%s" y1="%s" x2="%s" y2="%s" ' ..
      'stroke="#999" stroke-dasharray="4 3"/>', num(f.px(lo)), num(f.py(lo)), num(f.px(hi)), num(f.py(hi)))
  end
  local dots = {}
  for k = 1, #xs do
    local x, y = xs[k], ys[k]
    if x == x and y == y and math.abs(x) < math.huge and math.abs(y) < math.huge then
      dots[#dots + 1] = string.format('<circle cx="%s" cy="%s" r="1.6"/>', num(f.px(x)), num(f.py(y)))
    end
  end
  out[#out + 1] = '<g class="points" fill="' .. COLORS[1] .. '" fill-opacity="0.35">' ..
                  table.concat(dots) .. '</g>'
  out[#out + 1] = '</g>'
  return finish(out, opts)
end
doc[M.scatter] = "scatter(opts) -> svg. One dot per (opts.x[k], opts.y[k]), non-finite pairs " ..
  "left out; diagonal=true draws y = x on equal axes (a parity plot). Also title, xlabel, " ..
  "ylabel, width, height, path."

function M.bars(opts)
  opts = options.check("ct.plot.bars", opts, BARS)
  check_list(opts.labels, "labels", "bars")
  check_list(opts.series, "series", "bars")
  local names, lists = {}, {}
  for i, s in ipairs(opts.series) do
    names[i] = s.name or ("series " .. i)
    lists[i] = s.values
    if #s.values ~= #opts.labels then
      error(string.format("bad argument #1 to 'bars' (series %d has %d values for %d labels)",
                          i, #s.values, #opts.labels), 2)
    end
  end
  local lo, hi = finite_range(lists)
  local ylo, yhi = span_of(math.min(lo, 0), math.max(hi, 0) * 1.08, true)
  local n, m = #opts.labels, #lists
  local f = new_frame(opts, 0, n, ylo, yhi)
  local out = {}
  header(out, f, opts)
  local xt = {}
  for k, l in ipairs(opts.labels) do xt[k] = {k - 0.5, l} end
  axes(out, f, opts, xt)
  plot_area(out, f)
  local group = 0.8 / m
  for i, vals in ipairs(lists) do
    for k, v in ipairs(vals) do
      if v == v then
        local x = f.px(k - 0.9 + group * (i - 1))
        local ytop, ybase = f.py(math.max(v, 0)), f.py(math.min(v, 0))
        out[#out + 1] = string.format('<rect class="bar" x="%s" y="%s" width="%s" height="%s" ' ..
          'fill="%s"><title>%s: %s</title></rect>', num(x), num(ytop),
          num(f.px(group) - f.px(0)), num(ybase - ytop), COLORS[(i - 1) % #COLORS + 1],
          escape(opts.labels[k]), escape(string.format("%.4g", v)))
      end
    end
  end
  out[#out + 1] = '</g>'
  legend(out, f, names)
  return finish(out, opts)
end
doc[M.bars] = "bars(opts) -> svg. Grouped bar chart: one group per name in opts.labels, " ..
  "one bar per item of opts.series, a list of {name=, values=} (NaN leaves a gap). Also title, " ..
  "xlabel, ylabel, width, height, path."

function M.read_csv(path)
  local f = assert(io.open(path, "r"))
  local names, cols = {}, {}
  local lineno = 0
  for line in f:lines() do
    lineno = lineno + 1
    if lineno == 1 then
      for name in (line .. ","):gmatch("([^,]*),") do
        names[#names + 1] = name:match("^%s*(.-)%s*$")
        cols[names[#names]] = {}
      end
    elseif line:match("%S") then
      local i = 0
      for field in (line .. ","):gmatch("([^,]*),") do
        i = i + 1
        if names[i] then
          local col = cols[names[i]]
          col[#col + 1] = tonumber(field) or 0 / 0
        end
      end
    end
  end
  f:close()
  cols.names = names
  return cols
end
doc[M.read_csv] = "read_csv(path) -> columns. Read a numeric CSV log with a header line: " ..
  "columns[name] is the list of that column's numbers (NaN where a field is not one), " ..
  "columns.names the header in order."

doc[M] = "ct.plot: SVG charts written by crystens (no plotting dependency): " ..
  "histogram{samples=...} (overlaid, shared bins, K-S in the title), lines{x=, series=} " ..
  "(loss curves; read_csv reads a log), bars{labels=, series=}; each returns the SVG " ..
  "text and writes opts.path atomically."

return M
