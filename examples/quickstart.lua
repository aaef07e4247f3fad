-- quickstart.lua: the README's main job.  Run it with
--   src/crystens examples/quickstart.lua [output-folder]
-- It writes its results under the output folder (default: quickstart-out).
local ct = require "crystens"

local out = arg and arg[1] or "quickstart-out"
os.execute("mkdir -p '" .. out .. "'")

print(("crystens %s, data in %s"):format(ct.version, ct.datadir))

-- A CrysTens-shaped batch: 4 layers of 64x64 per crystal.
local batch = ct.tensor.new(2, 4, 64, 64)
for i = 1, 2 do
  for j = 1, 64 do batch[i][1]:set(j * i, j, j) end
end
print("batch:", batch)
local path = out .. "/batch.npy"
batch:save(path)
local back = ct.tensor.load(path)
assert(back:get(2, 1, 64, 64) == 128, "round trip through .npy")
print("wrote " .. path .. " (NumPy: np.load('" .. path .. "'))")
