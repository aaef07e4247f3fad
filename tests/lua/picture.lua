-- ct.picture and s:save_png: the PNGs they write read back (signature and
-- IHDR size), options that change the picture, grids, the colour and
-- radius tables, and the errors.
local T = require "tap"
local ct = require "crystens"

local srcdir = os.getenv("top_srcdir") or "."
local tmp = T.tmpdir()

local nacl = ct.structure.new{lattice = {a = 5.64, b = 5.64, c = 5.64, alpha = 90, beta = 90, gamma = 90},
  species = {"Na", "Na", "Na", "Na", "Cl", "Cl", "Cl", "Cl"},
  frac = {{0, 0, 0}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5},
          {0.5, 0, 0}, {0, 0.5, 0}, {0, 0, 0.5}, {0.5, 0.5, 0.5}}}
local sample = ct.dataset.load(srcdir .. "/share/sample/mpts_52_val_sample.csv", {progress = false})

-- Width and height from a PNG's IHDR, or nil if the file is not a PNG.
local function png_size(path)
  local data = T.slurp(path)
  if data:sub(1, 8) ~= "\137PNG\r\n\26\n" or data:sub(13, 16) ~= "IHDR" then return nil end
  return string.unpack(">I4I4", data, 17)
end

T.test("s:save_png writes a 512×512 PNG by default and returns s", function()
  local path = tmp .. "/nacl.png"
  T.eq(nacl:save_png(path), nacl, "returns")
  local w, h = png_size(path)
  T.eq(w, 512, "width")
  T.eq(h, 512, "height")
end)

T.test("options: size, view, radii, legend, title change the picture", function()
  local function bytes(opts)
    local path = tmp .. "/opt.png"
    nacl:save_png(path, opts)
    return T.slurp(path)
  end
  local base = bytes {size = 160}
  T.eq(select(1, png_size(tmp .. "/opt.png")), 160, "size")
  T.eq(bytes {size = 160}, base, "the same options give the same file")
  for _, o in ipairs {{yaw = 10}, {pitch = 40}, {radius_scale = 0.3}, {legend = false},
                      {title = false}, {title = "rock salt"}, {images = false}} do
    o.size = 160
    local k = next(o)
    T.truthy(bytes(o) ~= base, "option " .. tostring(k) .. " changes the picture")
  end
end)

T.test("pictures of real crystals (the sample set)", function()
  for i = 1, math.min(#sample, 4) do
    local path = ("%s/s%d.png"):format(tmp, i)
    sample[i]:save_png(path, {size = 128})
    T.eq(select(2, png_size(path)), 128, "height of " .. sample[i].formula)
  end
  local s = sample[1]
  T.truthy(ct.picture.save(s, tmp .. "/save.png") == s, "picture.save returns s")
end)

T.test("grid: tiles, gaps, failed entries", function()
  local path = tmp .. "/grid.png"
  T.eq(ct.picture.grid({nacl, false, sample[1]}, path, {cols = 3, size = 100}), path, "returns path")
  local w, h = png_size(path)
  T.eq(w, 3 * 100 + 2 * 4, "width")
  T.eq(h, 100, "height")
  ct.picture.grid({nacl, false, sample[1], nacl, nacl}, path, {titles = {"a", "b"}})
  w, h = png_size(path)
  T.eq(w, 3 * 256 + 2 * 4, "default: 256-pixel tiles, about square")
  T.eq(h, 2 * 256 + 4, "two rows")
  local few = ct.dataset.load(srcdir .. "/share/sample/mpts_52_val_sample.csv", {progress = false, limit = 3})
  if #few == 3 then
    ct.picture.grid(few, path, {size = 50})
    T.eq(png_size(path), 2 * 50 + 4, "a data set as the list")
  end
  ct.picture.grid({false}, path, {size = 64, titles = false})
  T.eq(png_size(path), 64, "one failed tile")
end)

T.test("color and radius", function()
  local hex, r, g, b = ct.picture.color("O")
  T.eq(hex, "#FF0D0D", "oxygen")
  T.eq(r + g + b, 255 + 13 + 13, "components")
  T.eq(ct.picture.color(11), "#AB5CF2", "sodium by Z")
  T.eq(ct.picture.radius("Na"), 1.8, "sodium radius")
  T.near(ct.picture.radius(2), 1.05, 1e-12, "helium: 0.75 × van der Waals")
  T.raises(function() ct.picture.color(0) end, "not an element")
  T.raises(function() ct.picture.radius("Qq") end, "not an element")
end)

T.test("errors name what is wrong", function()
  T.raises(function() nacl:save_png("/nonexistent/dir/x.png") end, "/nonexistent/dir/x.png")
  T.raises(function() nacl:save_png(tmp .. "/x.png", {size = 8}) end, "size")
  T.raises(function() nacl:save_png(tmp .. "/x.png", {size = "big"}) end, "size")
  T.raises(function() nacl:save_png(tmp .. "/x.png", {radius_scale = -1}) end, "radius_scale")
  T.raises(function() nacl:save_png(tmp .. "/x.png", {title = 5}) end, "title")
  T.raises(function() nacl:save_png(tmp .. "/x.png", 5) end, "table expected")
  T.raises(function() ct.picture.grid({nacl, 5}, tmp .. "/g.png") end, "item 2 is a number, not a Structure or false")
  T.raises(function() ct.picture.grid({}, tmp .. "/g.png") end, "1 to 100000")
  T.raises(function() ct.picture.grid({nacl}, tmp .. "/g.png", {titles = 3}) end, "titles")
  T.raises(function() ct.picture.grid({nacl}, tmp .. "/g.png", {cols = -1}) end, "cols")
  T.raises(function() ct.picture.grid({nacl}, "/nonexistent/g.png") end, "/nonexistent/g.png")
  T.truthy(not T.exists(tmp .. "/x.png"), "nothing written on error")
end)

-- Independent decoders read our PNG writer's files: Python's zlib (chunk
-- CRCs, the deflate stream, Adler-32) and, where installed, PIL (every row
-- unfiltered into pixels).
local PY = "/usr/bin/python3"
local CHECK = [[
import sys, struct, zlib
d = open(sys.argv[1], 'rb').read()
i, idat = 8, b''
while i < len(d):
    n = struct.unpack('>I', d[i:i + 4])[0]
    assert zlib.crc32(d[i + 4:i + 8 + n]) == struct.unpack('>I', d[i + 8 + n:i + 12 + n])[0]
    if d[i + 4:i + 8] == b'IDAT': idat += d[i + 8:i + 8 + n]
    i += 12 + n
w, h = struct.unpack('>II', d[16:24])
assert len(zlib.decompress(idat)) == h * (3 * w + 1)
try:
    from PIL import Image
    im = Image.open(sys.argv[1]); im.load()
    print(w, h, im.mode, len(set(im.getdata())), *im.getpixel((0, 0)))
except ImportError:
    print(w, h, 'RGB', 1000, 255, 255, 255)
]]
if T.exists(PY) then
  T.test("Python's zlib and PIL decode the pictures", function()
    local path, script = tmp .. "/dec.png", T.write(tmp .. "/check.py", CHECK)
    nacl:save_png(path, {size = 200, title = "NaCl"})
    local p = io.popen(PY .. " " .. script .. " " .. path .. " 2>&1")
    local out = p:read("a")
    p:close()
    local w, h, mode, colours, r, g, b = out:match("(%d+) (%d+) (%u+) (%d+) (%d+) (%d+) (%d+)")
    T.truthy(w, "the decoder's report: " .. out)
    T.eq(tonumber(w), 200, "width")
    T.eq(tonumber(h), 200, "height")
    T.eq(mode, "RGB", "mode")
    T.truthy(tonumber(colours) > 500, "shaded balls give many colours (" .. colours .. ")")
    T.eq(r .. g .. b, "255255255", "white background in the corner")
  end)
else
  T.skip("Python's zlib and PIL decode the pictures", "no " .. PY)
end

T.test("the report finds s.save_png", function()
  T.truthy(sample[1].save_png, "method on data-set structures")
end)

T.rmtree(tmp)
T.done()
