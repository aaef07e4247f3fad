-- ct.dataset: CSV files with a cif column, multi-block CIF files, folders
-- of CIFs; filters; skipped rows with reasons; the shipped sample; the
-- benchmark files when ../shared/data is there; the progress bar.
local T = require "tap"
local ct = require "crystens"

local srcdir = os.getenv("top_srcdir") or "."
local sample = srcdir .. "/share/sample/mpts_52_val_sample.csv"
local shared = srcdir .. "/../shared/data"
local have_shared = io.open(shared .. "/mpts_52/test.csv") ~= nil
local tmp = T.tmpdir()

local write, slurp = T.write, T.slurp

-- A small valid CIF of n carbon atoms on a line (P1).
local function carbon_cif(name, n, extra)
  local lines = {"data_" .. name, "_cell_length_a 4", "_cell_length_b 4",
                 "_cell_length_c " .. (2 * n), "loop_", "_atom_site_label",
                 "_atom_site_type_symbol", "_atom_site_fract_x", "_atom_site_fract_y",
                 "_atom_site_fract_z", "_atom_site_occupancy"}
  for i = 1, n do
    lines[#lines + 1] = ("C%d C 0 0 %.6f %s"):format(i, (i - 1) / n, extra or "1")
  end
  return table.concat(lines, "\n") .. "\n"
end

-- CSV field quoting as RFC 4180 wants it.
local function q(s) return '"' .. s:gsub('"', '""') .. '"' end

T.test("the shipped sample loads: 200 structures with their properties", function()
  local ds = ct.dataset.load(sample)
  T.eq(#ds, 200, "structures")
  T.eq(#ds.skipped, 0, "skipped")
  -- the ids, found independently by scanning the text for record starts
  local ids = {}
  for id in slurp(sample):gmatch("\n%d+,(mp%-%d+),") do ids[#ids + 1] = id end
  T.eq(#ids, 200, "ids in the text")
  local col = ds:column("material_id")
  for i = 1, #ds do T.eq(col[i], ids[i], "material_id of row " .. i) end
  local s = ds[1]
  T.eq(s.properties.material_id, ids[1], "properties of ds[1]")
  T.eq(math.type(s.properties.year), "integer", "numbers read as numbers")
  T.eq(s.properties.row, 1, "source row")
  T.eq(s.formula, "C6Cr1Cs1Mn1N6", "formula of the first row, in Hill order")
  T.eq(ds[201], nil, "past the end")
  local text = tostring(ds)
  T.truthy(text:find("200 structures", 1, true) and text:find("material_id", 1, true), text)
  T.truthy(tostring(s):find("^Structure C6Cr1Cs1Mn1N6  a=7%.6630"), tostring(s))
end)

T.test("filters: max_atoms, size, elements, limit", function()
  local all = ct.dataset.load(sample)
  local small = ct.dataset.load(sample, {max_atoms = 10})
  local n = 0
  for i = 1, #all do if all[i].natoms <= 10 then n = n + 1 end end
  T.eq(#small, n, "structures of at most 10 atoms")
  T.eq(#small + #small.skipped, #all, "the rest are skipped")
  T.truthy(small.skipped[1].reason:find("max_atoms 10", 1, true), small.skipped[1].reason)
  T.eq(#ct.dataset.load(sample, {size = 22}), n, "size=22 holds 10 atoms")
  local oxides = ct.dataset.load(sample, {elements = {"O", "Mg", 14, "Al", "Fe", "Ca"}})
  for i = 1, #oxides do
    for _, z in ipairs(oxides[i].species) do
      T.truthy(z == 8 or z == 12 or z == 14 or z == 13 or z == 26 or z == 20, "element")
    end
  end
  T.eq(#ct.dataset.load(sample, {limit = 7}), 7, "limit")
end)

T.test("CSV rows that give no structure are skipped with their reasons", function()
  local rows = {
    {"good", carbon_cif("good", 3)},
    {"garbage", "\1\2\3\255\254 binary garbage"},
    {"truncated", carbon_cif("trunc", 3):sub(1, 60) .. "\n_atom_site_label\n'C1"},
    {"nocell", (carbon_cif("nocell", 2):gsub("_cell_length_%a [^\n]*\n", ""))},
    {"disorder", carbon_cif("disorder", 2, "0.5")},
    {"big", carbon_cif("big", 53)},
    {"good2", carbon_cif("good2", 52)},
  }
  local lines = {"id,cif,note"}
  for _, r in ipairs(rows) do lines[#lines + 1] = r[1] .. "," .. q(r[2]) .. ',"a, b"' end
  local path = write(tmp .. "/rows.csv", table.concat(lines, "\r\n") .. "\r\n")
  local ds = ct.dataset.load(path, {size = 64})
  T.eq(#ds, 2, "good rows")
  T.eq(ds[2].natoms, 52, "the 52-atom row is kept")
  T.eq(ds[1].properties.note, "a, b", "quoted comma kept in a property")
  local want = {[2] = "expected block header", [3] = "rows.csv", [4] = "no unit cell",
                [5] = "partial occupancy 0.5", [6] = "53 atoms"}
  T.eq(#ds.skipped, 5, "skipped rows")
  for _, k in ipairs(ds.skipped) do
    T.truthy(want[k.row], "row " .. k.row .. " skipped")
    T.truthy(k.reason:find(want[k.row], 1, true), k.reason)
    T.truthy(k.where:find("rows.csv:", 1, true), k.where)
  end
end)

T.test("a multi-block CIF: good blocks load, a bad block is skipped by name", function()
  local path = write(tmp .. "/multi.cif", carbon_cif("one", 2) .. carbon_cif("two", 2, "0.3") ..
                     carbon_cif("three", 4))
  local ds = ct.dataset.load(path)
  T.eq(#ds, 2, "structures")
  T.eq(ds[2].name, "three", "second structure")
  T.eq(ds[1].properties.file, "multi.cif", "file property")
  T.truthy(ds.skipped[1].reason:find("block two: site C1: partial occupancy", 1, true),
           ds.skipped[1].reason)
end)

T.test("a folder of CIFs: files in name order, unreadable ones skipped", function()
  local dir = tmp .. "/folder"
  os.execute("mkdir -p '" .. dir .. "'")
  write(dir .. "/b.cif", carbon_cif("b", 2))
  write(dir .. "/a.CIF", carbon_cif("a", 1))
  write(dir .. "/c.cif", "")
  write(dir .. "/d.cif", "\0\0\0")
  write(dir .. "/notes.txt", "not a CIF")
  local ds = ct.dataset.load(dir)
  T.eq(#ds, 2, "structures")
  T.eq(ds[1].name, "a", "sorted by file name")
  T.eq(#ds.skipped, 2, "skipped files")
  T.truthy(ds.skipped[1].where:find("c.cif", 1, true) and
           ds.skipped[1].reason:find("no data blocks", 1, true), ds.skipped[1].reason)
  T.truthy(ds.skipped[2].reason:find("binary", 1, true), ds.skipped[2].reason)
end)

T.test("sources that cannot be read at all raise errors naming them", function()
  local empty = tmp .. "/empty"
  os.execute("mkdir -p '" .. empty .. "'")
  write(empty .. "/readme.txt", "no CIFs here")
  T.raises(function() ct.dataset.load(empty) end, "no .cif files")
  T.raises(function() ct.dataset.load(tmp .. "/nothing.csv") end, "nothing.csv: cannot open")
  T.raises(function() ct.dataset.load(write(tmp .. "/e.csv", "")) end, "e.csv: empty CSV")
  T.raises(function() ct.dataset.load(write(tmp .. "/n.csv", "a,b\n1,2\n")) end,
           "no column 'cif'")
  T.raises(function() ct.dataset.load(write(tmp .. "/t.csv", 'cif\n"data_x\n')) end,
           "never closed")
  T.raises(function() ct.dataset.load(write(tmp .. "/g.cif", "\0garbage")) end, "binary")
  T.raises(function() ct.dataset.load(sample, {elements = {"Qq"}}) end, "not an element")
  T.raises(function() ct.dataset.load(sample, 5) end, "bad argument #2")
end)

T.test("progress: a bar on stderr when forced, silence otherwise", function()
  local exe = os.getenv("CRYSTENS")
  if not exe then return end
  local code = "local b = ct.progress.new('work', 3) for i = 1, 3 do b:update(i, 'x') end " ..
               "io.stdout:write(string.format('%.3f', b:finish()))"
  local function run(env)
    local out = tmp .. "/out.txt"
    os.execute(env .. " '" .. exe .. "' -e \"" .. code .. "\" 2>" .. out .. " >/dev/null")
    return slurp(out)
  end
  local on, off = run("CRYSTENS_PROGRESS=1"), run("CRYSTENS_PROGRESS=0")
  T.truthy(on:find("work", 1, true) and on:find("3/3", 1, true), "bar drawn: " .. on)
  T.eq(off, "", "no bar")
  local b = ct.progress.new("quiet", 10)
  T.eq(b:update(5), b, "update returns the bar")
  T.truthy(b:finish() >= 0, "finish returns the elapsed time")
end)

if have_shared then
  T.test("mpts_52/test.csv: all 8096 CIFs load in seconds", function()
    local t0 = os.clock()
    local ds = ct.dataset.load(shared .. "/mpts_52/test.csv")
    local dt = os.clock() - t0
    print(("# mpts_52/test.csv: %d structures in %.2f s CPU"):format(#ds, dt))
    T.eq(#ds, 8096, "structures")
    T.eq(#ds.skipped, 0, "skipped")
    T.truthy(dt < 10, "loading took " .. dt .. " s")
  end)

  T.test("spglib agrees with mp_20_biternary's spacegroup.number column", function()
    local ds = ct.dataset.load(shared .. "/mp_20_biternary/test.csv")
    local want = ds:column("spacegroup.number")
    local agree, n = 0, 0
    for i = 1, #ds, 10 do   -- every 10th row keeps spglib's cost to a second or two
      n = n + 1
      if ds[i].spacegroup == want[i] then agree = agree + 1 end
    end
    print(("# spglib (symprec 0.1) agrees with spacegroup.number on %d of %d rows (%.1f%%)")
          :format(agree, n, 100 * agree / n))
    T.truthy(agree / n > 0.95, "agreement " .. agree .. "/" .. n)
  end)
else
  T.skip("mpts_52/test.csv loads", "../shared/data not found")
  T.skip("spglib vs mp_20_biternary", "../shared/data not found")
end

T.rmtree(tmp)
T.done()
