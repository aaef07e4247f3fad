#!/usr/bin/python3
"""bench/encode_pymatgen.py - the reference for bench/encode.lua: parse each
CIF of a CSV's `cif` column with pymatgen and compute its distance matrix.

    /usr/bin/python3 bench/encode_pymatgen.py CSV [ROWS]

Prints "N structures T s" (wall time of the parse + distance work only)."""
import csv
import sys
import time
import warnings

warnings.filterwarnings("ignore")
from pymatgen.io.cif import CifParser  # noqa: E402

rows = list(csv.DictReader(open(sys.argv[1], newline="")))
rows = rows[: int(sys.argv[2])] if len(sys.argv) > 2 else rows
start = time.perf_counter()
for r in rows:
    s = CifParser.from_string(r["cif"]).get_structures(primitive=False)[0]
    s.distance_matrix
print(len(rows), "structures", "%.3f" % (time.perf_counter() - start), "s")
