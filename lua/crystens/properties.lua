-- crystens.properties (ct.properties): predicted properties of crystals from
-- a crystal-graph network of the CGCNN family (src/ct_cgcnn.h), trained by
-- crystens on the benchmark labels: formation energy per atom and energy
-- above the convex hull, in eV/atom.
--
--   local m = ct.properties.pretrained()
--   for i, p in ipairs(m:predict(structures)) do
--     print(i, p.formation_energy, p.e_above_hull, p.error)
--   end
--   local best = ct.properties.rank(structures, {top = 35})   -- lowest e_above_hull first
--
-- A structure the model cannot judge gets {error = reason} instead of
-- numbers: an atom with no neighbour inside the cutoff, or an element the
-- training crystals did not contain.  Training reads each target from the
-- first of its CSV columns that a data set has (M.COLUMNS); a missing or
-- non-numeric value leaves that target out of the loss for that crystal.

local core = require "crystens.properties_core"
local config = require "crystens.config"
local tensor = require "crystens.tensor"
local doc = require "crystens.doc"
local options = require "crystens.options"

local M = {}

M.TARGETS = {"formation_energy", "e_above_hull"}
M.COLUMNS = {
  formation_energy = {"formation_energy_per_atom", "formation_energy"},
  e_above_hull = {"energy_above_hull", "e_above_hull"},
}
M.PRETRAINED = "cgcnn-mp"

local Model = {}
Model.__index = Model

local function wrap(c, targets, meta)
  return setmetatable({core = c, targets = targets, meta = meta or {}}, Model)
end

-- A plain array of structures from a Structure, a list (holes skipped, their
-- positions kept in `where`) or a Dataset.
local function structure_list(x, fname)
  if type(x) == "userdata" and x.structures then
    local list, where = x:structures(), {}
    for i = 1, #list do where[i] = i end
    return list, where, #list
  end
  if type(x) == "userdata" and x.lattice then return {x}, {1}, 1, true end
  if type(x) ~= "table" then
    error(("bad argument #1 to '%s' (structures, a list of them or a dataset expected)"):format(fname), 3)
  end
  local list, where, n = {}, {}, 0
  for k in pairs(x) do
    if math.type(k) == "integer" and k > n then n = k end
  end
  for i = 1, n do
    if x[i] then
      list[#list + 1] = x[i]
      where[#list] = i
    end
  end
  return list, where, n
end

local PREDICT_BATCH = 128

function Model:predict(structures)
  local list, where, n, single = structure_list(structures, "predict")
  local out = {}
  for i = 1, n do out[i] = {error = "no structure (a failed reconstruction)"} end
  if #list == 0 then return single and out[1] or out end
  local gs, bad = core.graphs(list, self.core)
  local ok = {}
  for k = 1, #list do
    local reason = bad[k] or self.core:check(gs, k)
    if reason then
      out[where[k]] = {error = (reason:gsub("^cgcnn: ", ""))}
    else
      ok[#ok + 1] = k
    end
  end
  for b = 1, #ok, PREDICT_BATCH do
    local idx = table.move(ok, b, math.min(b + PREDICT_BATCH - 1, #ok), 1, {})
    local y = self.core:predict(gs, idx):totable()
    for r, k in ipairs(idx) do
      local p = {}
      for t, name in ipairs(self.targets) do p[name] = y[r][t] end
      out[where[k]] = p
    end
  end
  return single and out[1] or out
end

function Model:save(path)
  local meta = {targets = table.concat(self.targets, ",")}
  for k, v in pairs(self.meta) do
    if k ~= "targets" and type(v) == "string" then meta[k] = v end
  end
  self.core:save(path, meta)
  return path
end

function Model:known() return self.core:known() end
function Model:config() return self.core:config() end
function Model:nparams() return self.core:nparams() end

function Model:__tostring()
  local c = self.core:config()
  return ("PropertyModel(CGCNN: %d convolutions of %d features, cutoff %g Å, %d neighbours; " ..
          "targets %s; %d parameters)"):format(c.nconv, c.atom_fea, c.cutoff, c.max_nbr,
          table.concat(self.targets, ", "), self.core:nparams())
end

function M.load(path)
  if type(path) ~= "string" then error("bad argument #1 to 'load' (a path expected)", 2) end
  local c, meta = core.load(path)
  local targets = {}
  for name in (meta.targets or ""):gmatch("[^,]+") do targets[#targets + 1] = name end
  if #targets ~= c:config().ntargets then
    error(path .. ": metadata 'targets' names " .. #targets .. " targets, the model has " ..
          c:config().ntargets, 2)
  end
  return wrap(c, targets, meta)
end

function M.pretrained(name)
  name = name or M.PRETRAINED
  local path = config.datadir .. "/models/" .. name .. ".safetensors"
  local f = io.open(path, "rb")
  if not f then error("no pretrained property model '" .. name .. "' (looked for " .. path .. ")", 2) end
  f:close()
  return M.load(path)
end

-- The value of target t for row i of data set ds, or nil.
local function column_of(ds, target)
  local cols = ds.columns or {}
  local have = {}
  for _, c in ipairs(cols) do have[c] = true end
  for _, c in ipairs(M.COLUMNS[target] or {target}) do
    if have[c] then return ds:column(c) end
  end
  return nil
end

-- The set of ids to leave out: a list of ids, or a data set's id column.
local function exclusion(x, id_column)
  local set = {}
  if x == nil then return set end
  if type(x) == "userdata" and x.column then x = x:column(id_column) end
  if type(x) ~= "table" then error("bad option 'exclude' (a list of ids or a dataset expected)", 4) end
  for _, id in ipairs(x) do set[id] = true end
  return set
end

-- Structures and label rows of a list of data sets, less the excluded ids.
local function gather(data, targets, exclude, id_column)
  if type(data) == "userdata" then data = {data} end
  local list, labels, dropped = {}, {}, 0
  for d, ds in ipairs(data) do
    if type(ds) ~= "userdata" or not ds.structures then
      error(("bad data[%d] (a dataset expected)"):format(d), 3)
    end
    local cols = {}
    for t, name in ipairs(targets) do cols[t] = column_of(ds, name) end
    local found = false
    for t = 1, #targets do found = found or cols[t] ~= nil end
    if not found then
      error(("data[%d] (%s) has none of the target columns"):format(d, ds.source or "?"), 3)
    end
    local structs = ds:structures()
    local ids = next(exclude) and ds:column(id_column) or {}
    for i, s in ipairs(structs) do
      if exclude[ids[i]] then
        dropped = dropped + 1
      else
        list[#list + 1] = s
        local row = {}
        for t = 1, #targets do
          local v = cols[t] and cols[t][i]
          row[t] = math.type(v) and v == v and v or false
        end
        labels[#list] = row
      end
    end
  end
  return list, labels, dropped
end

local function mean_std(labels, t)
  local s, s2, n = 0, 0, 0
  for _, row in ipairs(labels) do
    if row[t] then s, s2, n = s + row[t], s2 + row[t] ^ 2, n + 1 end
  end
  if n == 0 then return 0, 1, 0 end
  local m = s / n
  local var = s2 / n - m * m
  return m, var > 1e-12 and math.sqrt(var) or 1, n
end

-- Targets and mask tensors for the rows idx of labels.
local function batch_targets(labels, idx, T)
  local tv, mv = {}, {}
  for r, k in ipairs(idx) do
    local row, trow, mrow = labels[k], {}, {}
    for t = 1, T do
      trow[t] = row[t] or 0
      mrow[t] = row[t] and 1 or 0
    end
    tv[r], mv[r] = trow, mrow
  end
  return tensor.from(tv), tensor.from(mv)
end

local TRAIN = {data = "Dataset|table", targets = "table", epochs = "integer", batch = "integer",
               lr = "number", seed = "integer", id_column = "string",
               log = function(v) if v ~= false and type(v) ~= "function" then return "a function or false" end end,
               exclude = "Dataset|table", cutoff = "number", max_nbr = "integer",
               ngauss = "integer", atom_fea = "integer", nconv = "integer", hidden = "integer",
               weight_decay = "number", describe = "string", max_norm = "number",
               checkpoint = "string", time_limit = "number"}

function M.train(opts)
  opts = options.check("ct.properties.train", opts, TRAIN)
  if not opts.data then
    error("bad argument #1 to 'train' (a table with data = dataset or {datasets} expected)", 2)
  end
  local targets = opts.targets or M.TARGETS
  local epochs, bsize = opts.epochs or 30, opts.batch or 64
  local lr, seed = opts.lr or 2e-3, opts.seed or 0
  local log = opts.log == nil and print or opts.log or function() end
  local clock = os.clock
  local t0 = clock()
  local id_column = opts.id_column or "material_id"
  local list, labels, dropped = gather(opts.data, targets, exclusion(opts.exclude, id_column), id_column)
  local cfg = {ntargets = #targets}
  for _, k in ipairs {"cutoff", "max_nbr", "ngauss", "atom_fea", "nconv", "hidden"} do cfg[k] = opts[k] end
  local c = core.new(cfg, config.datadir .. "/magpie", seed)
  local gs, bad = core.graphs(list, c)
  local rows, nbad = {}, 0
  for k = 1, #list do
    if bad[k] then nbad = nbad + 1 else rows[#rows + 1] = k end
  end
  if #rows == 0 then error("train: no structure gave a graph", 2) end
  local means, stds = {}, {}
  for t = 1, #targets do means[t], stds[t] = mean_std(labels, t) end
  c:set_scale(means, stds)
  c:mark_known(gs)
  c:optimizer{lr = lr, weight_decay = opts.weight_decay or 0}
  log(("properties.train: %d crystals (%d excluded by id, %d without a graph), %d parameters, " ..
       "graphs in %.1f s"):format(#rows, dropped, nbad, c:nparams(), clock() - t0))
  local model = wrap(c, targets, {
    data = opts.describe or "", epochs = tostring(epochs), batch = tostring(bsize), lr = tostring(lr),
    seed = tostring(seed), crystals = tostring(#rows)})
  local rng = tensor.rng(seed)
  local steps_per_epoch = (#rows + bsize - 1) // bsize
  local total, step, seen = epochs * steps_per_epoch, 0, 0
  local t1 = clock()
  for epoch = 1, epochs do
    for i = #rows, 2, -1 do
      local j = rng:int(i)
      rows[i], rows[j] = rows[j], rows[i]
    end
    local sum, nb = 0, 0
    for b = 1, #rows, bsize do
      local idx = table.move(rows, b, math.min(b + bsize - 1, #rows), 1, {})
      -- cosine decay to lr/20 over the run, after a one-epoch warm-up
      local frac = step / total
      local warm = math.min(1, (step + 1) / steps_per_epoch)
      c:set_lr(lr * warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac))))
      local tt, mm = batch_targets(labels, idx, #targets)
      sum, nb = sum + c:train_step(gs, idx, tt, mm, opts.max_norm or 5), nb + 1
      step, seen = step + 1, seen + #idx
    end
    local el = clock() - t1
    log(("epoch %d/%d: L1 %.4f (standardised), %.0f crystals/s"):format(epoch, epochs, sum / nb, seen / el))
    model.meta.seconds = ("%.0f"):format(clock() - t0)
    model.meta.epochs_done = tostring(epoch)
    if opts.checkpoint then model:save(opts.checkpoint) end
    if opts.time_limit and clock() - t0 > opts.time_limit then
      log(("properties.train: stopping after epoch %d: time limit %g s reached"):format(epoch, opts.time_limit))
      break
    end
  end
  model.meta.seconds = ("%.0f"):format(clock() - t0)
  model.seconds = clock() - t0
  model.crystals_per_s = seen / (clock() - t1)
  return model
end

-- Mean absolute errors of model on data set ds, with the mean-value baseline.
function M.evaluate(model, ds, opts)
  opts = options.check("ct.properties.evaluate", opts, {stable = "number"}, 3)
  local pred = model:predict(ds)
  local res = {n = #pred, failed = 0}
  for _, p in ipairs(pred) do
    if p.error then res.failed = res.failed + 1 end
  end
  local threshold = opts.stable or 0.1
  for _, name in ipairs(model.targets) do
    local col = column_of(ds, name)
    if col then
      local err, n, truth, preds, sum = 0, 0, {}, {}, 0
      for i, p in ipairs(pred) do
        local v = col[i]
        if not p.error and math.type(v) and v == v then
          n = n + 1
          err = err + math.abs(p[name] - v)
          truth[n], preds[n], sum = v, p[name], sum + v
        end
      end
      local r = {n = n, mae = n > 0 and err / n or 0 / 0, truth = truth, pred = preds}
      -- the mean-value baseline: predict the test mean for everything (its
      -- best constant in squared error; the reported anchor)
      local mean, base = sum / math.max(n, 1), 0
      for k = 1, n do base = base + math.abs(truth[k] - mean) end
      r.baseline_mae = n > 0 and base / n or 0 / 0
      if name == "e_above_hull" then
        local right, stable = 0, 0
        for k = 1, n do
          if (truth[k] < threshold) == (preds[k] < threshold) then right = right + 1 end
          if truth[k] < threshold then stable = stable + 1 end
        end
        r.stable_threshold = threshold
        r.stable_accuracy = n > 0 and right / n or 0 / 0
        -- the baseline classifier: everything in the larger class
        r.stable_baseline = n > 0 and math.max(stable, n - stable) / n or 0 / 0
      end
      res[name] = r
    end
  end
  return res
end

-- Structures ranked by a predicted property, lowest first.
function M.rank(structures, opts)
  opts = options.check("ct.properties.rank", opts,
                       {model = "table", by = "string", top = "integer"}, 2)
  local model = opts.model or M.pretrained()
  local by = opts.by or "e_above_hull"
  local known = false
  for _, t in ipairs(model.targets) do known = known or t == by end
  if not known then
    error("bad option 'by' (the model predicts " .. table.concat(model.targets, ", ") .. ")", 2)
  end
  local list, where, n = structure_list(structures, "rank")
  local pred = model:predict(list)
  local out, failed = {}, 0
  for k, p in ipairs(pred) do
    if p[by] then out[#out + 1] = {index = where[k], structure = list[k], value = p[by], properties = p} end
    if p.error then failed = failed + 1 end
  end
  table.sort(out, function(a, b)
    if a.value ~= b.value then return a.value < b.value end
    return a.index < b.index
  end)
  local top = opts.top or #out
  for i = #out, top + 1, -1 do out[i] = nil end
  out.skipped = failed + (n - #list)   -- refused, and holes in the list
  return out
end

-- The values of one target over predictions, failures left out.
local function values_of(pred, name)
  local v = {}
  for _, p in ipairs(pred) do
    if p[name] then v[#v + 1] = p[name] end
  end
  return v
end

local function median(xs)
  if #xs == 0 then return 0 / 0 end
  local s = table.move(xs, 1, #xs, 1, {})
  table.sort(s)
  return #s % 2 == 1 and s[(#s + 1) // 2] or (s[#s // 2] + s[#s // 2 + 1]) / 2
end

local function mean(xs)
  local t = 0
  for _, x in ipairs(xs) do t = t + x end
  return #xs > 0 and t / #xs or 0 / 0
end

-- Predicted-property distributions of generated against reference crystals.
function M.distributions(generated, reference, opts)
  opts = options.check("ct.metrics.properties", opts, {model = "table", stable = "number"}, 3)
  local model = opts.model or M.pretrained()
  local ks = require("crystens.metrics_core").ks
  local pg, pr = model:predict(generated), model:predict(reference)
  local function failed(pred)
    local n = 0
    for _, p in ipairs(pred) do
      if p.error then n = n + 1 end
    end
    return n
  end
  local out = {targets = model.targets, n_generated = #pg, n_reference = #pr, predicted = pg,
               failed = {generated = failed(pg), reference = failed(pr)}}
  local threshold = opts.stable or 0.1
  for _, name in ipairs(model.targets) do
    local g, r = values_of(pg, name), values_of(pr, name)
    local row = {generated = g, reference = r, mean_gen = mean(g), mean_ref = mean(r),
                 median_gen = median(g), median_ref = median(r)}
    if #g > 0 and #r > 0 then
      local k = ks(g, r)
      row.ks, row.pvalue = k.statistic, k.pvalue
    end
    if name == "e_above_hull" then
      local function below(xs)
        local n = 0
        for _, x in ipairs(xs) do
          if x < threshold then n = n + 1 end
        end
        return #xs > 0 and n / #xs or 0 / 0
      end
      row.stable_threshold, row.stable_gen, row.stable_ref = threshold, below(g), below(r)
    end
    out[name] = row
  end
  return out
end

doc[M.train] = "properties.train{data=dataset|{datasets}, targets={'formation_energy', " ..
  "'e_above_hull'}, epochs=30, batch=64, lr=2e-3, seed=0, cutoff=8, max_nbr=12, atom_fea=64, " ..
  "nconv=3, hidden=128, ngauss=41, max_norm=5, exclude=ids|dataset, id_column='material_id', " ..
  "checkpoint=path, time_limit=s, log=print} -> " ..
  "model. Train a crystal-graph (CGCNN-family) model on the data sets' label columns " ..
  "(properties.COLUMNS) with AdamW on the L1 loss, cosine learning rate; rows whose id is in " ..
  "exclude (e.g. the test set: the splits of different benchmarks overlap) are left out; the model is saved " ..
  "to checkpoint after every epoch."
doc[M.load] = "properties.load(path) -> model. A model saved by model:save."
doc[M.pretrained] = "properties.pretrained([name='cgcnn-mp']) -> model. The model shipped " ..
  "in share/models (see share/models/PROPERTIES.md for its data and test errors)."
doc[M.evaluate] = "properties.evaluate(model, dataset, [{stable=0.1}]) -> {n, failed, " ..
  "formation_energy={mae, baseline_mae, n, truth, pred}, e_above_hull={..., stable_accuracy, " ..
  "stable_baseline}}. " ..
  "Test errors against the data set's labels, with the mean-value baseline; stable_accuracy " ..
  "is the fraction classed correctly as e_above_hull < stable eV/atom, stable_baseline " ..
  "that of classing every crystal in the larger class."
doc[M.rank] = "properties.rank(structures, [{by='e_above_hull', top=n, model=m}]) -> " ..
  "{{index, structure, value, properties}}. Structures ordered by a predicted property, " ..
  "lowest first (the paper's 'lowest-energy candidates'); those the model cannot judge are " ..
  "left out and counted in .skipped."
doc[M.distributions] = "metrics.properties(generated, reference, [{model=m, stable=0.1}]) -> " ..
  "{formation_energy={ks, pvalue, mean_gen, mean_ref, median_gen, median_ref, generated, " ..
  "reference}, e_above_hull={..., stable_gen, stable_ref}, failed={generated, reference}, " ..
  "predicted=model:predict(generated)}. " ..
  "Distributions of the properties ct.properties predicts (default: the pretrained model) " ..
  "for generated and reference crystals, with their K-S statistics (the paper's Figs. 7-8); " ..
  "stable_* is the fraction predicted below stable eV/atom above the hull."
doc[Model.predict] = "model:predict(structures | dataset | structure) -> {{formation_energy, " ..
  "e_above_hull}} in eV/atom, or {error=reason} for a structure the model cannot judge (an " ..
  "isolated atom, an element absent from training, a hole in the list)."
doc[Model.save] = "model:save(path) -> path. Write the model (safetensors, with its metadata)."
doc[M] = "ct.properties: predicted formation energy and energy above hull (eV/atom) of " ..
  "crystals from a crystal-graph network trained by crystens: pretrained(), load, train, " ..
  "evaluate, rank; model:predict(structures)."

return M
