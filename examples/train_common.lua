-- train_common.lua: what examples/train_{gan,wgan,diffusion}.lua share —
-- command-line options, the shipped sample encoded at S, training with a
-- checkpoint and log under --out, and sampling (reconstructed to CIF) at the end.
local ct = require "crystens"

local M = {}

-- Parse --key value pairs over defaults (numbers stay numbers).
function M.options(defaults)
  local o = {}
  for k, v in pairs(defaults) do o[k] = v end
  local i = 1
  while arg[i] do
    local key = arg[i]:match("^%-%-(%w+)$")
    if not key or o[key] == nil or arg[i + 1] == nil then
      local keys = {}
      for k in pairs(defaults) do keys[#keys + 1] = "--" .. k end
      table.sort(keys)
      error("usage: " .. arg[0] .. " [" .. table.concat(keys, " V] [") .. " V] (at '" .. arg[i] .. "')", 0)
    end
    local v = arg[i + 1]
    if type(o[key]) == "number" then v = math.tointeger(tonumber(v)) or error("--" .. key .. " wants an integer", 0) end
    o[key] = v
    i = i + 2
  end
  ct.file.mkdirs(o.out)
  return o
end

-- The crystals of one or more data files (comma-separated; "sample": the
-- shipped sample) that fit in an S×S tensor, encoded (raw units) with the
-- given species encoding ("z", the paper's, by default).
function M.data(size, paths, species)
  if paths == nil or paths == "sample" then paths = ct.datadir .. "/sample/mpts_52_val_sample.csv" end
  local crystals, max_atoms = {}, ct.crystens.layout.max_atoms(size)
  for path in paths:gmatch("[^,]+") do
    local ds = ct.dataset.load(path, {max_atoms = max_atoms})
    local before = #crystals
    for i = 1, #ds do if ds[i].natoms <= max_atoms then crystals[#crystals + 1] = ds[i] end end
    print(("%d crystals of %s fit at S=%d"):format(#crystals - before, path, size))
  end
  local data = ct.crystens.encode(crystals, {size = size, species = species or "z"})
  print(("training on %d crystals: %s"):format(#crystals, tostring(data)))
  return data
end

-- Train (resuming from --out/ckpt.safetensors when it exists), plot the
-- losses, sample o.samples tensors with sample_opts and save them.
function M.run(model, o, sample_opts)
  print(("%s: %d parameters"):format(model.kind, model:nparams()))
  local r = ct.train{model = model, data = M.data(model.config.size, o.data, o.species), steps = o.steps, batch = o.batch,
                     seed = 1, checkpoint = o.out .. "/ckpt.safetensors", every = 100,
                     log = o.out .. "/log.csv", decay = o.decay}
  -- a rerun with nothing left to train ran no step (ct.train said so)
  if r.losses then
    local losses = {}
    for k, v in pairs(r.losses) do losses[#losses + 1] = ("%s %.4g"):format(k, v) end
    table.sort(losses)
    print(("trained steps %d to %d at %.1f samples/s; last losses: %s"):format(r.start + 1, r.steps,
          r.samples_per_s, table.concat(losses, ", ")))
  end
  ct.train.plot(o.out .. "/log.csv", o.out .. "/loss.svg")
  local x = model:sample(o.samples, sample_opts)
  x:save(o.out .. "/samples.npy")
  x[1]:save_png(o.out .. "/sample_1.png")
  local st = x:stats()
  print(("sampled %s (raw units: min %.3g, mean %.3g, max %.3g)"):format(tostring(x), st.min, st.mean, st.max))
  -- reconstruction: generated tensors back to crystals, written as CIF
  local structures = ct.crystens.decode(x)
  local kept = {}
  for _, s in ipairs(structures) do if s then kept[#kept + 1] = s end end
  print(("%d of %d samples reconstruct to crystals%s"):format(#kept, #structures,
        kept[1] and (", e.g. " .. tostring(kept[1])) or ""))
  local cif = {}   -- cif.write refuses crystals with overlapping atoms
  for _, s in ipairs(kept) do if (s:closest_pair() or math.huge) >= 0.5 then cif[#cif + 1] = s end end
  if cif[1] then ct.cif.write(cif, o.out .. "/samples.cif") end
  print("wrote " .. o.out .. "/{ckpt.safetensors, log.csv, loss.svg, samples.npy, sample_1.png" ..
        (cif[1] and ", samples.cif}" or "}") .. (#cif < #kept and
        (" (%d crystals with overlapping atoms left out of the CIF)"):format(#kept - #cif) or ""))
  if o.export and o.export ~= "" then
    model:export(o.export)
    print("exported the sampling weights to " .. o.export)
  end
  return x
end

return M
