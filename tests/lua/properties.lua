-- ct.properties as Lua users see it: training a small crystal-graph model on
-- the shipped sample, predictions per structure with clear answers for what
-- it cannot judge, files, evaluation, ranking, ct.metrics.properties, and
-- the pretrained model's test error where the benchmark data is there.
local T = require "tap"
local ct = require "crystens"

local seed = T.seed()
local srcdir = os.getenv("top_srcdir") or "."

-- A small, fast model on the first n crystals of the sample.
local function small(n, epochs)
  local ds = ct.dataset.load(srcdir .. "/share/sample/mpts_52_val_sample.csv", {progress = false, limit = n})
  return ct.properties.train{data = ds, epochs = epochs, batch = 8, lr = 5e-3, seed = seed,
                             atom_fea = 16, nconv = 2, hidden = 16, log = false}, ds
end

-- 600 steps: seeds 1-6 end at 0.13-0.19 of the mean's error on these crystals
local model, ds = small(40, 120)

T.test("training fits its crystals better than their mean", function()
  local r = ct.properties.evaluate(model, ds)
  T.eq(r.n, 40, "every crystal predicted")
  T.eq(r.failed, 0, "none refused")
  local fe = r.formation_energy
  T.truthy(fe.mae < 0.4 * fe.baseline_mae,
           ("formation energy: train MAE %.3f against the mean's %.3f"):format(fe.mae, fe.baseline_mae))
  -- the mean-value baseline, by hand
  local col, s = ds:column("formation_energy_per_atom"), 0
  for _, v in ipairs(col) do s = s + v end
  local base = 0
  for _, v in ipairs(col) do base = base + math.abs(v - s / #col) end
  T.near(fe.baseline_mae, base / #col, 1e-12, "baseline MAE")
  local eh, right = r.e_above_hull, 0
  for k = 1, eh.n do
    if (eh.truth[k] < 0.1) == (eh.pred[k] < 0.1) then right = right + 1 end
  end
  T.near(eh.stable_accuracy, right / eh.n, 1e-12, "stable accuracy counts agreeing classes")
end)

T.test("predict: one table per structure, holes and a single structure", function()
  local p = model:predict({ds[1], nil, ds[3]})
  T.eq(#p, 3, "three entries")
  T.truthy(math.type(p[1].formation_energy) == "float" and math.type(p[1].e_above_hull) == "float",
           "numbers for both targets")
  T.truthy(p[2].error:find("no structure"), "a hole says so: " .. p[2].error)
  local one = model:predict(ds[3])
  -- batches of other sizes block the GEMMs differently: float rounding only
  T.near(one.formation_energy, p[3].formation_energy, 1e-5, "a single structure gives its table")
  local all = model:predict(ds)
  T.near(all[3].e_above_hull, p[3].e_above_hull, 1e-5, "a prediction does not depend on its batch")
end)

T.test("bad input gets a clear answer", function()
  local lone = ct.structure.new {lattice = {30, 30, 30, 90, 90, 90}, species = {26}, frac = {{0, 0, 0}}}
  local p = model:predict(lone)
  T.truthy(p.error and p.error:find("atom 1 (Fe) has no neighbour within the 8 Å cutoff", 1, true),
           "isolated atom: " .. tostring(p.error))
  T.eq(p.formation_energy, nil, "and no number")
  local known = {}
  for _, e in ipairs(model:known()) do known[e] = true end
  T.truthy(not known.Pu, "Pu is not in the 40 training crystals")
  local pu = ct.structure.new {lattice = {3, 3, 3, 90, 90, 90}, species = {"Pu"}, frac = {{0, 0, 0}}}
  p = model:predict(pu)
  T.truthy(p.error and p.error:find("element Pu (Z = 94) of atom 1 is absent from the model's training data", 1, true),
           "unseen element: " .. tostring(p.error))
  T.raises(function() ct.properties.train{} end, "a table with data")
  T.raises(function() ct.properties.train{data = ds, nconv = 99, log = false} end, "nconv must be in 1..8")
  T.raises(function() ct.properties.load(srcdir .. "/share/models/diffusion-mpts52.safetensors") end,
           "not a crystal-graph model")
  T.raises(function() ct.properties.pretrained("no-such-model") end, "no pretrained property model")
end)

T.test("save and load give the same predictions", function()
  local dir = T.tmpdir()
  model:save(dir .. "/m.safetensors")
  local m2 = ct.properties.load(dir .. "/m.safetensors")
  T.eq(table.concat(m2.targets, ","), "formation_energy,e_above_hull", "targets travel")
  local a, b = model:predict(ds), m2:predict(ds)
  local same = true
  for i = 1, #a do
    same = same and a[i].formation_energy == b[i].formation_energy and a[i].e_above_hull == b[i].e_above_hull
  end
  T.truthy(same, "identical predictions")
  T.eq(m2.meta.crystals, "40", "metadata travels")
  T.rmtree(dir)
end)

T.test("a data set's ids can be left out of training", function()
  local ids = ds:column("material_id")
  local lines = {}
  local m = ct.properties.train{data = ds, exclude = {ids[1], ids[2], "mp-none"}, epochs = 1, batch = 16,
                                atom_fea = 8, nconv = 1, hidden = 8,
                                log = function(s) lines[#lines + 1] = s end}
  T.truthy(lines[1]:find("38 crystals (2 excluded by id", 1, true), lines[1])
  T.eq(m.meta.crystals, "38", "recorded in the metadata")
end)

T.test("rank orders by predicted energy above hull", function()
  local list = {ds[1], ds[2], nil, ds[4], ds[5], ds[6]}
  list[7] = ct.structure.new {lattice = {30, 30, 30, 90, 90, 90}, species = {26}, frac = {{0, 0, 0}}}
  local r = ct.properties.rank(list, {model = model, top = 3})
  T.eq(#r, 3, "top 3")
  T.truthy(r[1].value <= r[2].value and r[2].value <= r[3].value, "ascending")
  local p = model:predict(list)
  local vals = {}
  for i = 1, 7 do
    if p[i].e_above_hull then vals[#vals + 1] = p[i].e_above_hull end
  end
  table.sort(vals)
  T.eq(r[1].value, vals[1], "the lowest first")
  T.eq(r[1].value, p[r[1].index].e_above_hull, "index points into the list given")
  T.eq(r.skipped, 2, "the hole and the isolated atom are skipped")
  local by = ct.properties.rank(list, {model = model, by = "formation_energy"})
  T.eq(#by, 5, "all judged ones without top")
  T.raises(function() ct.properties.rank(list, {model = model, by = "band_gap"}) end,
           "bad option 'by' (the model predicts formation_energy, e_above_hull)")
end)

T.test("metrics.properties: distributions with K-S", function()
  local a, b = {}, {}
  for i = 1, 20 do a[i] = ds[i] end
  for i = 21, 40 do b[#b + 1] = ds[i] end
  local same = ct.metrics.properties(a, a, {model = model})
  T.eq(same.formation_energy.ks, 0.0, "K-S of a set against itself")
  local r = ct.metrics.properties(a, b, {model = model})
  local pa, pb = model:predict(a), model:predict(b)
  local ga, gb = {}, {}
  for i = 1, 20 do ga[i], gb[i] = pa[i].e_above_hull, pb[i].e_above_hull end
  T.eq(r.e_above_hull.ks, ct.metrics.ks(ga, gb).statistic, "K-S of the predicted values")
  local below = 0
  for _, v in ipairs(ga) do if v < 0.1 then below = below + 1 end end
  T.near(r.e_above_hull.stable_gen, below / 20, 1e-12, "fraction predicted below 0.1")
  T.eq(r.failed.generated, 0, "no failures")
end)

T.test("the report shows predicted properties", function()
  local dir = T.tmpdir()
  local gen = {}
  for i = 1, 12 do gen[i] = ds[i] end
  local r = ct.report(gen, ds, {out = dir, cdvae = false, pictures = 0, quiet = true, property_model = model})
  T.truthy(r.properties and r.properties.formation_energy.ks, "K-S in the result")
  local html = T.slurp(dir .. "/index.html")
  T.truthy(html:find("Predicted properties", 1, true), "a section on the page")
  T.truthy(T.exists(dir .. "/predicted_e_above_hull.svg"), "a histogram")
  local off = ct.report(gen, ds, {out = dir, cdvae = false, pictures = 0, quiet = true, properties = false})
  T.eq(off.properties, nil, "properties = false leaves it out")
  T.rmtree(dir)
end)

T.test("plot.scatter draws a parity plot", function()
  local svg = ct.plot.scatter{x = {0, 1, 2, 0 / 0}, y = {0.5, 1, 3, 1}, diagonal = true}
  local n = select(2, svg:gsub("<circle", ""))
  T.eq(n, 3, "one dot per finite pair")
  T.truthy(svg:find('class="diagonal"', 1, true), "the y = x line")
  local xmin, xmax = svg:match('data%-xmin="([^"]+)" data%-xmax="([^"]+)"')
  local ymin, ymax = svg:match('data%-ymin="([^"]+)" data%-ymax="([^"]+)"')
  T.eq(xmin, ymin, "equal axes (low)")
  T.eq(xmax, ymax, "equal axes (high)")
  T.truthy(tonumber(xmax) >= 3 and tonumber(xmin) <= 0, "the range covers x and y")
  T.raises(function() ct.plot.scatter{x = {1, 2}, y = {1}} end, "x and y: lists of equal")
end)

local data = os.getenv("CRYSTENS_DATA") or srcdir .. "/../shared/data"
local test_csv = data .. "/mpts_52/test.csv"
if io.open(test_csv) then
  T.test("the pretrained model: small, and its test error on mpts_52 as the card says", function()
    local m = ct.properties.pretrained()
    local f = assert(io.open(srcdir .. "/share/models/cgcnn-mp.safetensors", "rb"))
    local bytes = f:seek("end")
    f:close()
    T.truthy(bytes < 2e6, bytes .. " bytes")
    local want = ct.json.decode(T.slurp(srcdir .. "/share/models/cgcnn-mp.test.json"))
    -- the first 1,000 test crystals: their MAE within 25 % of the whole split's
    local test = ct.dataset.load(test_csv, {progress = false, limit = 1000})
    local r = ct.properties.evaluate(m, test)
    T.truthy(r.formation_energy.mae < 1.25 * want.formation_energy.mae and
             r.formation_energy.mae < 0.5 * r.formation_energy.baseline_mae,
             ("formation energy MAE %.4f (card: %.4f on all, baseline %.4f)"):format(
               r.formation_energy.mae, want.formation_energy.mae, r.formation_energy.baseline_mae))
    T.truthy(r.e_above_hull.mae < 1.25 * want.e_above_hull.mae,
             ("e_above_hull MAE %.4f (card: %.4f)"):format(r.e_above_hull.mae, want.e_above_hull.mae))
  end)
else
  T.skip("the pretrained model's test error", "no " .. test_csv)
end

T.done()
