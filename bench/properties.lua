-- bench/properties.lua - training and prediction speed of the crystal-graph
-- property model (ct.properties, default size: 3 convolutions of 64
-- features, 12 neighbours within 8 Å), in crystals/s on the CPU.
--
--   crystens bench/properties.lua [EPOCHS=2]
--
-- Data: the shipped sample (200 mpts_52 crystals, 24 atoms on average).
-- Wall time and CPU time (all threads together) are both given: on a busy
-- machine the CPU figure is the steadier one, and with CT_NUM_THREADS=1
-- OPENBLAS_NUM_THREADS=1 it is one core's throughput.  Graph building is
-- timed apart from the training steps.
local ct = require "crystens"

local epochs = tonumber(arg[1]) or 2
local ds = ct.dataset.load(ct.datadir .. "/sample/mpts_52_val_sample.csv", {progress = false})

local function timed(fn)
  local clock, c0 = ct.progress.new("bench"), os.clock()
  local r = fn()
  return r, clock:elapsed(), os.clock() - c0
end

local m, wall, cpu = timed(function()
  return ct.properties.train{data = ds, epochs = epochs, batch = 64, log = false}
end)
print(("train: %d crystals × %d epochs in %.1f s wall, %.1f s CPU (graphs included); " ..
       "training steps alone %.0f crystals/s of CPU"):format(#ds, epochs, wall, cpu, m.crystals_per_s))
print(("train: %.0f crystals/s wall, %.0f crystals/s CPU, overall"):format(#ds * epochs / wall, #ds * epochs / cpu))
local _, pw, pc = timed(function() return m:predict(ds) end)
print(("predict (graphs included): %.0f crystals/s wall, %.0f crystals/s CPU"):format(#ds / pw, #ds / pc))
