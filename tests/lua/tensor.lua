-- The tensor module as Lua users see it: construction, views, elements,
-- .npy files, summaries and errors.
local T = require "tap"
local ct = require "crystens"

T.test("from nested tables keeps shape and values", function()
  local t = ct.tensor.from{{1, 2, 3}, {4, 5, 6}}
  T.eq(t:dim(), 2, "dim")
  T.eq(t:size(1), 2, "rows")
  T.eq(t:size(2), 3, "cols")
  T.eq(t:get(2, 3), 6.0, "t[2][3]")
  T.eq(#t, 2, "#t")
end)

T.test("t[i] is a view sharing the parent's bytes", function()
  local t = ct.tensor.new(3, 4)
  local row = t[2]
  row:set(7.5, 3)
  T.eq(t:get(2, 3), 7.5, "write through the view")
  t = nil
  collectgarbage()
  T.eq(row:get(3), 7.5, "the view outlives its parent")
end)

T.test("totable inverts from", function()
  local src = {{{1, -2}, {3.5, 4}}, {{5, 6}, {7, 8}}}
  local back = ct.tensor.from(src):totable()
  for i = 1, 2 do for j = 1, 2 do for k = 1, 2 do
    T.eq(back[i][j][k], src[i][j][k], string.format("[%d][%d][%d]", i, j, k))
  end end end
end)

T.test("save and load .npy round trip", function()
  local dir = T.tmpdir()
  local t = ct.tensor.new(2, 4, 5)
  for i = 1, 2 do for j = 1, 4 do for k = 1, 5 do
    t:set(i * 100 + j * 10 + k + 0.25, i, j, k)
  end end end
  t:save(dir .. "/t.npy")
  local u = ct.tensor.load(dir .. "/t.npy")
  T.eq(table.concat(u:shape(), "x"), "2x4x5", "shape")
  T.eq(u:get(2, 3, 4), 234.25, "element")
  T.rmtree(dir)
end)

T.test("the summary shows shape and min/mean/max", function()
  local s = tostring(ct.tensor.from{1, 2, 3, 6})
  T.truthy(s:find("Tensor 4", 1, true), "shape in '" .. s .. "'")
  T.truthy(s:find("min 1.0", 1, true) and s:find("mean 3.0", 1, true) and s:find("max 6.0", 1, true),
           "stats in '" .. s .. "'")
end)

T.test("bad input raises errors naming the argument", function()
  T.raises(function() ct.tensor.new(2, -1) end, "bad argument #2")
  T.raises(function() ct.tensor.new(1, 2, 3, 4, 5, 6) end, "at most 5 dimensions")
  T.raises(function() ct.tensor.from{{1, 2}, {3}} end, "ragged")
  T.raises(function() ct.tensor.from{"a"} end, "not a number")
  T.raises(function() ct.tensor.load("/nonexistent/x.npy") end, "cannot open")
  T.raises(function() ct.tensor.new(2, 2):get(3, 1) end, "out of range")
  T.raises(function() ct.tensor.new(2, 2):get(1) end, "expected 2 indices")
  T.raises(function() ct.tensor.new(2, 3):reshape{4, 2} end, "cannot reshape")
  T.raises(function() return ct.tensor.new(2)[3] end, "out of range")
  T.raises(function() ct.tensor.new(2):save("/nonexistent/dir/x.npy") end, "cannot write")
end)

T.test("saving over a file replaces it whole and leaves no temporary file", function()
  local dir = T.tmpdir()
  local path = dir .. "/keep.npy"
  ct.tensor.from{1, 2, 3}:save(path)
  ct.tensor.from{9, 9}:save(path)
  T.eq(ct.tensor.load(path):size(1), 2, "new contents")
  local p = io.popen("ls -A '" .. dir .. "'")
  local listing = p:read("a")
  p:close()
  T.eq(listing, "keep.npy\n", "directory listing")
  T.rmtree(dir)
end)

T.done()
