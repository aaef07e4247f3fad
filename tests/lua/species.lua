-- The periodic species encoding (ct_crystens.h): row 12 holds the
-- long-form periodic-table column, exact tensors decode unchanged, the
-- scaler and the consistency projection carry the new row, and under the
-- same noise reconstruction names more elements right than from Z alone.
local T = require "tap"
local ct = require "crystens"

local srcdir = os.getenv("top_srcdir") or "."
local ds = ct.dataset.load(srcdir .. "/share/sample/mpts_52_val_sample.csv", {max_atoms = 20})

T.test("row 12 holds the periodic-table column of each atom", function()
  -- independent table: first Z of each block of the 32-column table
  local function column(z)
    local blocks = {{1, 1, 1}, {2, 2, 32}, {3, 4, 1}, {5, 10, 27}, {11, 12, 1}, {13, 18, 27},
                    {19, 20, 1}, {21, 30, 17}, {31, 36, 27}, {37, 38, 1}, {39, 48, 17},
                    {49, 54, 27}, {55, 56, 1}, {57, 70, 3}, {71, 80, 17}, {81, 86, 27},
                    {87, 88, 1}, {89, 102, 3}, {103, 103, 17}}
    for _, b in ipairs(blocks) do if z >= b[1] and z <= b[2] then return b[3] + z - b[1] end end
  end
  local checked = 0
  for i = 1, #ds do
    local p = ct.crystens.prepare(ds[i])
    local t = ct.crystens.encode(ds[i], {size = 32, species = "periodic"})
    for j, z in ipairs(p.species) do
      T.eq(t:get(1, 12, 12 + j), column(z), "column of Z=" .. z)
      T.eq(t:get(4, 12 + j, 12), column(z), "its transposed copy")
      checked = checked + 1
    end
  end
  T.truthy(checked > 500, "atoms checked: " .. checked)
end)

T.test("exact tensors of either encoding reconstruct to the same crystal", function()
  local tz = ct.crystens.encode(ds, {size = 32})
  local tp = ct.crystens.encode(ds, {size = 32, species = "periodic"})
  local sz, sp = ct.crystens.decode(tz), ct.crystens.decode(tp)
  for i = 1, #ds do
    T.truthy(sz[i] and sp[i], "item " .. i .. " reconstructs")
    T.eq(table.concat(sp[i].species, " "), table.concat(sz[i].species, " "), "species of " .. i)
  end
  local _, d = ct.crystens.decode(tp[1])
  T.truthy(d.periodic and d.species_per_atom, "read per atom from (Z, column)")
end)

T.test("the scaler and the projection carry the column", function()
  local tp = ct.crystens.encode(ds, {size = 32, species = "periodic"})
  local sc = ct.crystens.scaler(tp)
  local st = sc:state()
  T.truthy(st.column and st.column[1] == 1 and st.column[2] > 20, "column range fitted")
  T.truthy((sc:unscale(sc:scale(tp)) - tp):abs():stats().max < 1e-3, "scale round trip")
  T.truthy(ct.crystens.scaler(st):state().column, "state round trip keeps the column")
  local s = sc:scale(tp)
  T.truthy((sc:project(s) - s):abs():stats().max < 2e-5, "a fixed point of the projection")
  T.eq(ct.crystens.scaler(ct.crystens.encode(ds, {size = 32})):state().column, nil,
       "no column in the paper's encoding")
  T.raises(function() ct.crystens.encode(ds[1], {species = "mendeleev"}) end,
           "bad option 'species' to 'ct.crystens.encode' (invalid value 'mendeleev'; expected 'z' or 'periodic')")
end)

T.test("under equal noise the column names more elements right than Z alone", function()
  local seed = T.seed()
  local function accuracy(species, sigma)
    local raw = ct.crystens.encode(ds, {size = 32, species = species})
    local sc = ct.crystens.scaler(raw)
    local x = sc:scale(raw)
    -- the same noise on every value, then consistent again: one error per atom
    x = sc:project(x + ct.tensor.randn(x:shape(), ct.tensor.rng(seed)) * sigma)
    local out = ct.crystens.decode(sc:unscale(x), {species = "atom", min_distance = 0})
    local right, total = 0, 0
    for i = 1, #ds do
      local want = ct.crystens.prepare(ds[i]).species
      if out[i] and out[i].natoms == #want then
        for j, z in ipairs(out[i].species) do right = right + (z == want[j] and 1 or 0) end
      end
      total = total + #want
    end
    return right / total
  end
  local az, ap = accuracy("z", 0.05), accuracy("periodic", 0.05)
  print(("# elements named right at scaled noise 0.05: Z %.3f, periodic %.3f"):format(az, ap))
  T.truthy(ap > az + 0.2, "periodic " .. ap .. " vs Z " .. az)
end)

T.test("species spread around one element are grouped into that element", function()
  -- the first crystal with at least 6 atoms of its most common element
  local pick, zmaj
  for i = 1, #ds do
    local p, count = ct.crystens.prepare(ds[i]), {}
    for _, z in ipairs(p.species) do count[z] = (count[z] or 0) + 1 end
    for z, c in pairs(count) do if c >= 6 and not pick then pick, zmaj = i, z end end
  end
  T.truthy(pick, "a crystal to perturb")
  local t = ct.crystens.encode(ds[pick], {size = 32, species = "periodic"})
  local p = ct.crystens.prepare(ds[pick])
  local function set8(r, j, v)
    for l = 1, 4 do t:set(v, l, r, 12 + j); t:set(v, l, 12 + j, r) end
  end
  -- every atom of the major element pushed towards one neighbour or the other
  local k = 0
  for j, z in ipairs(p.species) do
    if z == zmaj then
      k = k + 1
      local s = k % 2 == 1 and 1 or -1
      set8(1, j, z + s * 1.2)
      set8(12, j, t:get(1, 12, 12 + j) + s * 0.7)
    end
  end
  local plain = ct.crystens.decode(t, {species_tol = 0, min_distance = 0})
  local grouped = ct.crystens.decode(t, {min_distance = 0})
  local function count_major(s)
    local n = 0
    for _, z in ipairs(s.species) do n = n + (z == zmaj and 1 or 0) end
    return n
  end
  T.truthy(count_major(plain) < k, "alone, the pushed atoms name neighbours (" .. count_major(plain) .. " of " .. k .. ")")
  T.eq(count_major(grouped), k, "grouped, every one names the element")
  T.eq(table.concat(grouped.species, " "), table.concat(p.species, " "), "the whole composition")
  T.raises(function() ct.crystens.decode(t, {species_tol = -1}) end,
           "bad option 'species_tol' to 'ct.crystens.decode' (must lie in [0, 100))")
end)

T.done()
