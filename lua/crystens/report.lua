-- crystens.report (ct.report): generated crystals set against a reference, as
-- a table in the REPL and an HTML page with its figures.
--
--   local r = ct.report(generated, reference, {out = "report"})
--   print(r.ks.a, r.files.index)
--
-- The page holds what the paper's Figs 4-6 show (histograms of a, b, c, the
-- angles, the space group and Z, generated over reference, each with its
-- Kolmogorov-Smirnov statistic), density and number of elements with their
-- Wasserstein-1 distances, the benchmark metrics that are available
-- (ct.metrics.cdvae, ct.metrics.paper), symmetry, and pictures of the first
-- generated crystals.  Figures are SVG written by ct.plot; the page and
-- every figure are written to a temporary file and renamed.

local metrics = require "crystens.metrics"
local plot = require "crystens.plot"
local structure = require "crystens.structure"
local doc = require "crystens.doc"
local options = require "crystens.options"

local M = {}

-- The distributions compared, in the order of the page.
local QUANTITIES = {
  {key = "a", label = "a (Å)"},
  {key = "b", label = "b (Å)"},
  {key = "c", label = "c (Å)"},
  {key = "alpha", label = "α (°)"},
  {key = "beta", label = "β (°)"},
  {key = "gamma", label = "γ (°)"},
  {key = "spacegroup", label = "space group", integer = true},
  {key = "Z", label = "atomic number Z (every atom)", integer = true},
  {key = "density", label = "density (g/cm³)"},
  {key = "nelem", label = "number of elements", integer = true},
}
M.QUANTITIES = QUANTITIES

-- The structures of a list (holes from failed reconstructions skipped) or
-- of a data set, as a plain array.
local function structures_of(x, what)
  if type(x) == "userdata" and x.structures then return x:structures() end
  if type(x) ~= "table" then
    error(("bad argument to 'report' (%s must be a list of structures or a dataset)"):format(what), 3)
  end
  local keys = {}
  for k in pairs(x) do
    if math.type(k) == "integer" then keys[#keys + 1] = k end
  end
  table.sort(keys)
  local out = {}
  for _, k in ipairs(keys) do
    if x[k] then out[#out + 1] = x[k] end
  end
  return out
end

-- Arrays of each quantity over structures (Z pooled over every atom).
function M.quantities(list, opts)
  opts = options.check("ct.report.quantities", opts, {symprec = "number"}, 2)
  list = structures_of(list, "the list")
  local q = {}
  for _, d in ipairs(QUANTITIES) do q[d.key] = {} end
  q.spacegroup = structure.spacegroups(list, opts.symprec)
  for i, s in ipairs(list) do
    local lat = s.lattice
    for _, k in ipairs {"a", "b", "c", "alpha", "beta", "gamma"} do q[k][i] = lat[k] end
    q.density[i] = s:density()
    local seen, n = {}, 0
    for _, z in ipairs(s.species) do
      q.Z[#q.Z + 1] = z
      if not seen[z] then seen[z], n = true, n + 1 end
    end
    q.nelem[i] = n
  end
  return q
end
doc[M.quantities] = "report.quantities(structures | dataset, [{symprec=0.1}]) -> table. " ..
  "Arrays of a, b, c, alpha, beta, gamma, spacegroup (spglib), Z (every atom), density " ..
  "and nelem over the structures, as the report compares them."

local function fmt(v)
  if v == nil then return "–" end
  if math.type(v) == "integer" then return tostring(v) end
  if v ~= v then return "NaN" end
  local a = math.abs(v)
  if a ~= 0 and (a < 1e-3 or a >= 1e5) then return ("%.3g"):format(v) end
  return (("%.4f"):format(v):gsub("0+$", ""):gsub("%.$", ""))   -- one value: no gsub count
end

local function escape(s)
  return (tostring(s):gsub("[&<>\"]", {["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
                                       ['"'] = "&quot;"}))
end

local function mean(xs)
  local s = 0
  for _, x in ipairs(xs) do s = s + x end
  return #xs > 0 and s / #xs or 0 / 0
end

-- K-S and means per quantity, Wasserstein-1 for density and N_el.
local function compare(gq, rq)
  local rows = {}
  for _, d in ipairs(QUANTITIES) do
    local g, r = gq[d.key], rq[d.key]
    local row = {key = d.key, label = d.label, n_gen = #g, n_ref = #r,
                 mean_gen = mean(g), mean_ref = mean(r)}
    if #g > 0 and #r > 0 then
      row.ks = metrics.ks(g, r).statistic
      if d.key == "density" or d.key == "nelem" then row.w1 = metrics.wasserstein(g, r) end
    end
    rows[#rows + 1] = row
  end
  return rows
end

-- The fraction of structures spglib places above P1.
local function symmetric_fraction(sg)
  local n = 0
  for _, v in ipairs(sg) do
    if v > 1 then n = n + 1 end
  end
  return #sg > 0 and n / #sg or 0 / 0
end

-- {[k] = share of the structures with k elements} from the nelem array.
local function nelem_shares(nelem)
  local shares = {}
  for _, k in ipairs(nelem) do shares[k] = (shares[k] or 0) + 1 end
  for k, v in pairs(shares) do shares[k] = v / #nelem end
  return shares
end

-- Rows {k, generated share, reference share} for every k either list has.
local function nelem_rows(r)
  local max = 0
  for _, side in pairs(r.nelem) do
    for k in pairs(side) do max = math.max(max, k) end
  end
  local rows = {}
  for k = 1, max do
    local g, f = r.nelem.generated[k], r.nelem.reference[k]
    if g or f then rows[#rows + 1] = {k, g or 0, f or 0} end
  end
  return rows
end

-- What compositional validity means here, in words.
local function comp_valid_text(r)
  local single = ("%d of the %d generated crystals (%s) have a single element, which passes " ..
                  "SMACT's compositional validity trivially; reference %s")
                 :format(math.floor(r.single_element.generated * r.n_generated + 0.5),
                         r.n_generated, fmt(r.single_element.generated),
                         fmt(r.single_element.reference))
  if r.cdvae and r.cdvae.comp_valid then
    return ("compositional validity %s of %d samples; %s"):format(fmt(r.cdvae.comp_valid),
                                                                   r.cdvae.n_generated, single)
  end
  return single
end

-- Optional measures from modules that may not be there; a failure is
-- reported on the page, not raised, so a report always comes out.
local function optional(name, fn, ...)
  if type(fn) ~= "function" then return nil end
  local ok, res = pcall(fn, ...)
  if ok then return res end
  return {error = tostring(res):gsub("^.-:%d+: ", "")}
end

local function write_figures(out, gq, rq, rows)
  local files = {}
  for i, d in ipairs(QUANTITIES) do
    local g, r = gq[d.key], rq[d.key]
    if #g > 0 and #r > 0 then
      local title = d.label   -- ct.plot adds the K-S statistic
      if rows[i].w1 then title = title .. ("   W₁ %s"):format(fmt(rows[i].w1)) end
      local path = out .. "/" .. d.key .. ".svg"
      plot.histogram{samples = {{name = "generated", values = g}, {name = "reference", values = r}},
                     title = title, xlabel = d.label, integer = d.integer and d.key ~= "spacegroup",
                     bins = d.key == "spacegroup" and 46 or nil, path = path}
      files[#files + 1] = {key = d.key, path = path, name = d.key .. ".svg"}
    end
  end
  return files
end

-- Pictures of the first n generated crystals, where structures can draw
-- themselves (s:save_png).
local function write_pictures(out, gen, n)
  local pics = {}
  for i = 1, math.min(n, #gen) do
    local s = gen[i]
    if not s.save_png then break end
    local name = ("crystal_%03d.png"):format(i)
    local ok = pcall(s.save_png, s, out .. "/" .. name)
    if ok then pics[#pics + 1] = {name = name, formula = s.formula} end
  end
  return pics
end

local function html_table(head, body)
  local out = {"<table><tr>"}
  for _, h in ipairs(head) do out[#out + 1] = "<th>" .. escape(h) .. "</th>" end
  out[#out + 1] = "</tr>"
  for _, row in ipairs(body) do
    out[#out + 1] = "<tr>"
    for _, v in ipairs(row) do out[#out + 1] = "<td>" .. escape(v) .. "</td>" end
    out[#out + 1] = "</tr>"
  end
  out[#out + 1] = "</table>"
  return table.concat(out)
end

-- Rows "name, value" of a result table (numbers and strings only), sorted.
local function kv_rows(t)
  local rows = {}
  for k, v in pairs(t) do
    if type(v) == "number" or type(v) == "string" or type(v) == "boolean" then
      rows[#rows + 1] = {tostring(k), type(v) == "number" and fmt(v) or tostring(v)}
    end
  end
  table.sort(rows, function(x, y) return x[1] < y[1] end)
  return rows
end

local STYLE = [[
body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f0f0f0}.figs{display:flex;flex-wrap:wrap;gap:8px}.figs img{width:360px}
.grid{display:grid;grid-template-columns:repeat(4,1fr);gap:6px}.grid figure{margin:0;text-align:center}
.grid img{width:100%;border:1px solid #ddd}]]

local function html(r, opts)
  local o = {"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>" ..
             escape(opts.title) .. "</title><style>" .. STYLE .. "</style></head><body>"}
  local function add(s) o[#o + 1] = s end
  add("<h1>" .. escape(opts.title) .. "</h1>")
  add(("<p>%d generated crystals against %d reference crystals; written %s by crystens.</p>")
      :format(r.n_generated, r.n_reference, os.date("!%Y-%m-%d %H:%M UTC")))
  add("<h2>Distributions</h2>")
  local body = {}
  for _, row in ipairs(r.rows) do
    body[#body + 1] = {row.label, fmt(row.mean_gen), fmt(row.mean_ref), fmt(row.ks), fmt(row.w1)}
  end
  add(html_table({"quantity", "mean generated", "mean reference", "K-S", "W₁"}, body))
  add(("<p>Space group above P1 (spglib, symprec %s Å): generated %s, reference %s.</p>")
      :format(fmt(opts.symprec or 0.1), fmt(r.symmetric.generated), fmt(r.symmetric.reference)))
  add("<h2>Composition</h2><p>" .. escape(comp_valid_text(r)) .. ".</p>")
  local nrows = {}
  for _, row in ipairs(nelem_rows(r)) do nrows[#nrows + 1] = {row[1], fmt(row[2]), fmt(row[3])} end
  add(html_table({"number of elements", "share generated", "share reference"}, nrows))
  for _, sec in ipairs {{"cdvae", "Benchmark metrics (CDVAE protocol)"},
                        {"paper", "The paper's consistency measures (Tables 1-2)"}} do
    local t = r[sec[1]]
    if t then
      add("<h2>" .. sec[2] .. "</h2>")
      add(html_table({"measure", "value"}, kv_rows(t)))
      if type(t.conventions) == "table" then add(html_table({"convention", "value"}, kv_rows(t.conventions))) end
    end
  end
  if r.properties then add(r.properties.html) end
  add("<h2>Figures</h2><div class=\"figs\">")
  for _, f in ipairs(r.files.figures) do
    add(("<img src=\"%s\" alt=\"%s\">"):format(escape(f.name), escape(f.key)))
  end
  add("</div>")
  if #r.files.pictures > 0 then
    add("<h2>Generated crystals</h2><div class=\"grid\">")
    for _, p in ipairs(r.files.pictures) do
      add(("<figure><img src=\"%s\" alt=\"%s\"><figcaption>%s</figcaption></figure>")
          :format(escape(p.name), escape(p.formula), escape(p.formula)))
    end
    add("</div>")
  end
  add("</body></html>\n")
  return table.concat(o, "\n")
end

-- s padded to w columns (string.format counts bytes, not characters).
local function pad(s, w)
  return s .. (" "):rep(math.max(0, w - (utf8.len(s) or #s)))
end

-- Predicted properties (ct.properties) of generated against reference
-- crystals: K-S, histograms and the lowest predicted energies above hull.
-- A model that cannot be loaded or run is reported, not raised.
local function property_section(gen, ref, out, opts)
  if opts.properties == false then return nil end
  local r = optional("properties", metrics.properties, gen, ref, {model = opts.property_model})
  if not r then return nil end
  if r.error then
    r.html = "<h2>Predicted properties</h2><p>Not available: " .. escape(r.error) .. "</p>"
    r.lines = {"predicted properties: not available: " .. r.error}
    return r
  end
  local labels = {formation_energy = "predicted formation energy (eV/atom)",
                  e_above_hull = "predicted energy above hull (eV/atom)"}
  local body, figs, lines = {}, {}, {}
  for _, name in ipairs(r.targets) do
    local t, label = r[name], labels[name] or name
    body[#body + 1] = {label, fmt(t.mean_gen), fmt(t.mean_ref), fmt(t.median_gen), fmt(t.median_ref), fmt(t.ks)}
    lines[#lines + 1] = pad(label, 40) .. ("mean gen %s, ref %s; K-S %s"):format(fmt(t.mean_gen),
                                                                               fmt(t.mean_ref), fmt(t.ks))
    if #t.generated > 0 and #t.reference > 0 then
      local file = "predicted_" .. name .. ".svg"
      plot.histogram{samples = {{name = "generated", values = t.generated},
                                {name = "reference", values = t.reference}},
                     title = label, xlabel = label, path = out .. "/" .. file}
      figs[#figs + 1] = ("<img src=\"%s\" alt=\"%s\">"):format(file, escape(name))
    end
  end
  local o = {"<h2>Predicted properties (ct.properties)</h2>",
             html_table({"property", "mean generated", "mean reference", "median generated",
                         "median reference", "K-S"}, body)}
  local eh = r.e_above_hull
  if eh then
    local line = ("Predicted below %s eV/atom above hull: generated %s, reference %s."):format(
      fmt(eh.stable_threshold), fmt(eh.stable_gen), fmt(eh.stable_ref))
    o[#o + 1] = "<p>" .. escape(line) .. "</p>"
    lines[#lines + 1] = line
    local ranked = {}
    for i, p in ipairs(r.predicted) do
      if p.e_above_hull then ranked[#ranked + 1] = {i = i, v = p.e_above_hull} end
    end
    table.sort(ranked, function(a, b) return a.v < b.v or (a.v == b.v and a.i < b.i) end)
    local top = {}
    for k = 1, math.min(10, #ranked) do
      top[k] = {tostring(ranked[k].i), gen[ranked[k].i].formula, fmt(ranked[k].v)}
    end
    if #top > 0 then
      o[#o + 1] = "<p>Lowest predicted energy above hull (ct.properties.rank gives the full order):</p>"
      o[#o + 1] = html_table({"generated #", "formula", "e above hull (eV/atom)"}, top)
    end
  end
  local failed = ("Not predicted (isolated atom or element unseen in training): generated %d of %d, " ..
                  "reference %d of %d."):format(r.failed.generated, r.n_generated, r.failed.reference,
                                               r.n_reference)
  o[#o + 1] = "<p>" .. escape(failed) .. "</p>"
  lines[#lines + 1] = failed
  o[#o + 1] = "<div class=\"figs\">" .. table.concat(figs) .. "</div>"
  r.html, r.lines = table.concat(o, "\n"), lines
  return r
end

local function print_table(r)
  print(pad("quantity", 30) .. ("%12s %12s %8s %8s"):format("mean gen", "mean ref", "K-S", "W1"))
  for _, row in ipairs(r.rows) do
    print(pad(row.label, 30) .. ("%12s %12s %8s %8s"):format(fmt(row.mean_gen), fmt(row.mean_ref),
                                                             fmt(row.ks), row.w1 and fmt(row.w1) or ""))
  end
  print(("space group above P1: generated %s, reference %s")
        :format(fmt(r.symmetric.generated), fmt(r.symmetric.reference)))
  print(comp_valid_text(r))
  local parts = {}
  for _, row in ipairs(nelem_rows(r)) do
    parts[#parts + 1] = ("%d: %s / %s"):format(row[1], fmt(row[2]), fmt(row[3]))
  end
  print("number of elements, share generated / reference: " .. table.concat(parts, ", "))
  for _, line in ipairs(r.properties and r.properties.lines or {}) do print(line) end
  for _, name in ipairs {"cdvae", "paper"} do
    if r[name] then
      local parts = {}
      for _, kv in ipairs(kv_rows(r[name])) do parts[#parts + 1] = kv[1] .. " " .. kv[2] end
      print(name .. ": " .. table.concat(parts, ", "))
    end
  end
end

local function ensure_dir(dir) require("crystens.file").mkdirs(dir) end

local REPORT = {title = "string", out = "string", cdvae = "boolean", n_eval = "integer",
                seed = "integer", dataset = "string", tensors = "Tensor", pictures = "integer",
                properties = "boolean", property_model = "table", quiet = "boolean",
                symprec = "number", coverage = "boolean"}

function M.report(generated, reference, opts)
  opts = options.check("ct.report", opts, REPORT, 3)
  opts.title = opts.title or "crystens report"
  local out = opts.out or "report"
  local gen = structures_of(generated, "generated")
  local ref = structures_of(reference, "reference")
  if #gen == 0 then error("bad argument #1 to 'report' (no generated structures)", 2) end
  if #ref == 0 then error("bad argument #2 to 'report' (no reference structures)", 2) end
  ensure_dir(out)
  local gq, rq = M.quantities(gen, {symprec = opts.symprec}), M.quantities(ref, {symprec = opts.symprec})
  local r = {n_generated = #gen, n_reference = #ref, out = out}
  r.rows = compare(gq, rq)
  r.ks, r.w1 = {}, {}
  for _, row in ipairs(r.rows) do
    r.ks[row.key] = row.ks
    r.w1[row.key] = row.w1
  end
  r.symmetric = {generated = symmetric_fraction(gq.spacegroup),
                 reference = symmetric_fraction(rq.spacegroup)}
  r.nelem = {generated = nelem_shares(gq.nelem), reference = nelem_shares(rq.nelem)}
  r.single_element = {generated = r.nelem.generated[1] or 0, reference = r.nelem.reference[1] or 0}
  -- failed reconstructions (false holes) count against validity, and the
  -- paper's distance measure pairs each tensor with its structure
  local aligned = type(generated) == "table" and generated or gen
  if opts.cdvae ~= false then
    r.cdvae = optional("cdvae", metrics.cdvae, aligned, ref,
                       {n_eval = opts.n_eval, seed = opts.seed, dataset = opts.dataset,
                        coverage = opts.coverage})
  end
  if opts.tensors then
    r.paper = optional("paper", metrics.paper, opts.tensors, {structures = aligned})
  end
  r.files = {figures = write_figures(out, gq, rq, r.rows),
             pictures = write_pictures(out, gen, opts.pictures or 16)}
  if #r.files.pictures > 0 then
    r.files.grid = out .. "/crystals.png"
    local picture, first = require "crystens.picture", {}
    for i = 1, math.min(#aligned, opts.pictures or 16) do first[i] = aligned[i] end
    if not pcall(picture.grid, first, r.files.grid, {size = 192}) then r.files.grid = nil end
  end
  r.properties = property_section(gen, ref, out, opts)
  r.files.index = plot.write(out .. "/index.html", html(r, opts))
  if not opts.quiet then print_table(r) end
  return r
end
doc[M.report] = "report(generated, reference, [opts]) -> table. Compare generated crystals " ..
  "(a list, holes allowed, or a dataset) with reference ones: prints a table and writes " ..
  "opts.out (default 'report')/index.html with SVG histograms of a, b, c, angles, space " ..
  "group, Z, density and number of elements (K-S on each, W1 on the last two), the CDVAE " ..
  "metrics when ct.metrics.cdvae is there (opts.n_eval, seed, dataset, coverage; cdvae=false " ..
  "skips), " ..
  "the paper's tables for opts.tensors, and pictures of the first opts.pictures=16 " ..
  "crystals. Every space group is spglib's, the crystal's own symmetry. Next to " ..
  "compositional validity it gives single_element, the share of one-element crystals (they " ..
  "pass SMACT trivially), and nelem, the share of each number of elements, generated and " ..
  "reference. Returns {ks, w1, rows, symmetric, single_element, nelem, cdvae, paper, files}; " ..
  "opts.quiet prints nothing."

doc[M] = "ct.report: generated crystals against a reference, as a table and an HTML page."

return setmetatable(M, {__call = function(_, ...) return M.report(...) end})
