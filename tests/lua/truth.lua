-- What crystens shows is true: the space group a structure reports is the
-- crystal's symmetry (the group a tensor stored is kept apart), symmetry()
-- answers nil with a reason instead of raising, CIF output refuses
-- overlapping atoms, and the report's tables say what their numbers mean.
local T = require "tap"
local ct = require "crystens"

local tmp = T.tmpdir()

-- Rock salt with a given stored group, and a triclinic P1 crystal that
-- claims a high group, as a model's tensor does.
local function rocksalt(a, stored)
  return ct.structure.new {lattice = {a, a, a, 90, 90, 90},
                           species = {11, 11, 11, 11, 17, 17, 17, 17},
                           frac = {{0, 0, 0}, {0, .5, .5}, {.5, 0, .5}, {.5, .5, 0},
                                   {.5, .5, .5}, {.5, 0, 0}, {0, .5, 0}, {0, 0, .5}},
                           spacegroup = stored}
end
local function p1(stored)
  return ct.structure.new {lattice = {4.1, 5.3, 6.2, 81, 97, 104}, species = {11, 17, 8},
                           frac = {{0.1, 0.2, 0.3}, {0.55, 0.71, 0.13}, {0.3, 0.9, 0.6}},
                           spacegroup = stored}
end
-- Two atoms on one site: no space group, and no CIF reader accepts it.
local function overlapping()
  return ct.structure.new {lattice = {5, 5, 5, 90, 90, 90}, species = {30, 30, 28},
                           frac = {{0.25, 0.25, 0.25}, {0.25, 0.25, 0.25}, {0.5, 0.5, 0.7}},
                           name = "Zn2Ni"}
end

T.test("spacegroup is the detected group; the stored one is spacegroup_stored", function()
  local s = p1(93)
  T.eq(s.spacegroup, 1, "spglib's group of a triclinic crystal")
  T.eq(s.spacegroup_stored, 93, "the group the tensor claimed")
  T.eq(rocksalt(5.64).spacegroup, 225, "rock salt")
  T.eq(rocksalt(5.64).spacegroup_stored, nil, "nothing stored")
  T.eq(overlapping().spacegroup, nil, "no group found is nil")
  local text = tostring(s)
  T.truthy(text:find("SG 1 (stored 93)", 1, true), "print shows both: " .. text)
  T.truthy(not text:find("SG 93", 1, true), "never the stored group as the crystal's: " .. text)
  T.truthy(tostring(rocksalt(5.64, 225)):find("SG 225$"), "agreeing groups print once")
  T.truthy(tostring(overlapping()):find("SG none", 1, true), "none found: " .. tostring(overlapping()))
  local c = s:clone()
  T.eq(c.spacegroup, 1, "a clone keeps the detected group")
  T.eq(c.spacegroup_stored, 93, "and the stored one")
end)

T.test("spacegroups, K-S and the report use the detected group", function()
  local gen = {p1(93), p1(178), rocksalt(5.64, 12)}
  local sg = ct.structure.spacegroups(gen)
  T.eq(table.concat(sg, " "), "1 1 225", "structure.spacegroups")
  T.eq(table.concat(ct.structure.spacegroups({overlapping()}), " "), "0", "0 for none")
  local q = ct.report.quantities(gen)
  T.eq(table.concat(q.spacegroup, " "), "1 1 225", "report.quantities")
  -- two claimed-symmetric P1 crystals against P1 crystals: the same distribution
  local ks = ct.metrics.ks({p1(93), p1(178)}, {p1(), p1()})
  T.eq(ks.spacegroup.statistic, 0.0, "K-S of detected groups")
  local r = ct.report({p1(93), p1(178)}, {rocksalt(5.64), p1()},
                      {out = tmp .. "/rep", quiet = true, cdvae = false, pictures = 0})
  T.eq(r.symmetric.generated, 0.0, "no generated crystal is above P1")
  T.eq(r.symmetric.reference, 0.5, "one reference crystal is")
end)

T.test("symmetry() returns nil and spglib's reason where it finds no group", function()
  local res, why = overlapping():symmetry()
  T.eq(res, nil, "no group")
  T.truthy(type(why) == "string" and why:find("spglib", 1, true), "a reason: " .. tostring(why))
  T.eq(rocksalt(5.64):symmetry().number, 225, "a group is still a table")
  T.eq(rocksalt(5.64):symmetry(0.01).symbol, "Fm-3m", "with its symbol")
  T.raises(function() rocksalt(5.64):symmetry(-1) end, "symprec must be positive")
end)

T.test("cif.write refuses overlapping atoms unless forced, naming them", function()
  local bad, good = overlapping(), rocksalt(5.64)
  T.eq(bad:closest_pair(), 0.0, "closest_pair of coincident atoms")
  local d, i, j = good:closest_pair()
  T.near(d, 2.82, 1e-9, "rock salt's Na-Cl distance")
  T.truthy(i < j, "indices in order")
  T.eq(p1():closest_pair() > 0.5, true, "a sane crystal")
  local err = T.raises(function() ct.cif.write({good, false, bad}, tmp .. "/one.cif") end,
                       "structure 3 (Zn2Ni) has atoms 1 (Zn) and 2 (Zn) 0.000 Å apart")
  T.truthy(err:find("force=true", 1, true), "says how to write it anyway")
  T.eq(T.exists(tmp .. "/one.cif"), false, "nothing written")
  T.raises(function() ct.cif.write({good, bad}, tmp .. "/dir/") end, "structure 2")
  T.eq(os.execute("test -e '" .. tmp .. "/dir'"), nil, "not even the folder is made")
  T.eq(ct.cif.write({good, bad}, tmp .. "/forced.cif", {force = true}), 2, "force writes both")
  T.eq(#ct.cif.read(tmp .. "/forced.cif"), 2, "and they read back")
  -- 0.6 Å apart is close but not overlapping
  local close = ct.structure.new {lattice = {5, 5, 5, 90, 90, 90}, species = {1, 1},
                                  frac = {{0, 0, 0}, {0.12, 0, 0}}}
  T.eq(ct.cif.write(close, tmp .. "/close.cif"), 1, "0.6 Å is written")
end)

-- One element on a simple cubic lattice.
local function element(z, a)
  return ct.structure.new {lattice = {a, a, a, 90, 90, 90}, species = {z}, frac = {{0, 0, 0}}}
end

T.test("report and cdvae state the single-element share and the element counts", function()
  local gen = {element(29, 2.6), element(26, 2.5), rocksalt(5.64), false}
  local ref = {rocksalt(5.64), rocksalt(5.5), p1(), element(29, 2.6)}
  local c = ct.metrics.cdvae(gen, ref, {coverage = false, n_eval = 0})
  T.eq(c.single_element, 2 / 4, "two of the four samples are one element")
  T.eq(c.nelem.generated[1], 2 / 3, "two thirds of the built crystals")
  T.eq(c.nelem.generated[2], 1 / 3, "one binary")
  T.eq(c.nelem.reference[3], 1 / 4, "one ternary reference")
  T.truthy(c.conventions.single_element:find("trivially", 1, true), "explained")
  local lines, ok, r = T.capture(ct.report, gen, ref, {out = tmp .. "/rep2", pictures = 0,
                                                      n_eval = 0, coverage = false})
  T.truthy(ok, tostring(r))
  T.eq(r.single_element.generated, 2 / 3, "report: single-element share of the crystals")
  T.eq(r.single_element.reference, 1 / 4, "and of the reference")
  T.eq(r.nelem.reference[2], 1 / 2, "element counts of the reference")
  local text = table.concat(lines, "\n")
  T.truthy(text:find("2 of the 3 generated crystals (0.6667) have a single element", 1, true),
           "printed next to validity:\n" .. text)
  T.truthy(text:find("1: 0.6667 / 0.25, 2: 0.3333 / 0.5, 3: 0 / 0.25", 1, true),
           "the distribution next to the reference:\n" .. text)
  local f = assert(io.open(r.files.index))
  local page = f:read("a")
  f:close()
  T.truthy(page:find("have a single element", 1, true), "the page says it too")
  -- every row of the distributions table has as many cells as its header
  local dist = page:match("<h2>Distributions</h2>(.-)</table>")
  local head = select(2, dist:gsub("<th>", ""))
  T.eq(head, 5, "header cells")
  local rows = 0
  for row in dist:gmatch("<tr>(.-)</tr>") do
    if row:find("<td>", 1, true) then
      rows = rows + 1
      T.eq(select(2, row:gsub("<td>", "")), head, "cells of " .. row:match("<td>(.-)</td>"))
    end
  end
  T.eq(rows, 10, "a row per quantity")
end)

T.rmtree(tmp)
T.done()
