-- bench/picture.lua - structure pictures (s:save_png) per second: drawing
-- and PNG compression of 512×512 pictures, and a grid of them.
--
--   crystens bench/picture.lua [CSV] [N]
--
-- Default CSV: ../shared/data/mpts_52/test.csv (1 to 52 atoms a cell),
-- first N = 100 structures; the sample set in share/ if that is missing.
-- Wall times, one run; pictures go to a temporary folder.
local ct = require "crystens"

local srcdir = os.getenv("top_srcdir") or "."
local path = arg[1] or (srcdir .. "/../shared/data/mpts_52/test.csv")
if not io.open(path) then path = srcdir .. "/share/sample/mpts_52_val_sample.csv" end
local N = tonumber(arg[2]) or 100

local ds = ct.dataset.load(path, {progress = false})
local list, atoms = {}, 0
for i = 1, math.min(N, #ds) do
  list[i] = ds[i]
  atoms = atoms + list[i].natoms
end
local dir = io.popen("mktemp -d"):read("l")

-- Wall and CPU seconds of fn (CPU time is the fairer figure on a busy
-- machine for the single-threaded loop).
local function wall(fn)
  local clock, c0 = ct.progress.new("bench"), os.clock()
  fn()
  return clock:elapsed(), os.clock() - c0
end

local t, cpu = wall(function()
  for i, s in ipairs(list) do s:save_png(("%s/%03d.png"):format(dir, i), {size = 512}) end
end)
print(("%-40s %4d pictures  %5.1f atoms avg  %6.1f ms/picture wall, %6.1f CPU"):format(
  "s:save_png, 512×512, one at a time", #list, atoms / #list, 1000 * t / #list, 1000 * cpu / #list))
local big = {}
for i = 1, math.min(#list, 30) do big[i] = list[i] end
t = wall(function() ct.picture.grid(big, dir .. "/grid.png", {size = 256, cols = 6}) end)
print(("%-40s %4d tiles    %7.1f ms/tile wall (threads: %s)"):format(
  "ct.picture.grid, 256-pixel tiles", #big, 1000 * t / #big, os.getenv("CT_NUM_THREADS") or "all"))
os.execute("rm -rf '" .. dir .. "'")
