"""Reference CDVAE structure fingerprints from pymatgen, for test_fingerprint.

Prints "ready", or "skip REASON" without pymatgen.  Then reads structures from stdin, one per line: "a b c alpha beta gamma n z1..zn
x1 y1 z1 ... xn yn zn"; writes one line per structure: the 61 mean site
fingerprint values, or "error MESSAGE".  The fingerprint is matminer's
CrystalNNFingerprint.from_preset("ops") averaged over sites, rebuilt from
pymatgen's own CrystalNN, LocalStructOrderParams and cn_opt_params.yaml
by tools/crystalnn_fp.py (matminer is not packaged in Debian).
"""
import os
import sys
import warnings

warnings.filterwarnings("ignore")

try:
    import numpy as np
    from pymatgen.core import Lattice, Structure
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
    from crystalnn_fp import StructureFingerprint
except ImportError as e:
    print("skip", e)
    sys.exit(0)
print("ready")
sys.stdout.flush()


def main():
    fingerprint = StructureFingerprint()
    for line in sys.stdin:
        v = line.split()
        if not v:
            continue
        cell = [float(x) for x in v[:6]]
        n = int(v[6])
        z = [int(x) for x in v[7:7 + n]]
        f = np.array([float(x) for x in v[7 + n:7 + 4 * n]]).reshape(n, 3)
        try:
            s = Structure(Lattice.from_parameters(*cell), z, f)
            fp = fingerprint(s)
            print(" ".join(repr(float(x)) for x in fp))
        except Exception as e:  # noqa: BLE001 - report any failure to the C side
            print("error", type(e).__name__, str(e).replace("\n", " "))
        sys.stdout.flush()


main()
