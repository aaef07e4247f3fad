"""Reference CDVAE structure fingerprints from pymatgen, for test_fingerprint.

Prints "ready", or "skip REASON" without pymatgen.  Then reads structures from stdin, one per line: "a b c alpha beta gamma n z1..zn
x1 y1 z1 ... xn yn zn"; writes one line per structure: the 61 mean site
fingerprint values, or "error MESSAGE".  The fingerprint is matminer's
CrystalNNFingerprint.from_preset("ops") averaged over sites, rebuilt from
pymatgen's own CrystalNN, LocalStructOrderParams and cn_opt_params.yaml
(matminer is not packaged in Debian; its featurize is this loop).
"""
import sys
import warnings

warnings.filterwarnings("ignore")

try:
    import numpy as np
    from pymatgen.analysis.local_env import CrystalNN, LocalStructOrderParams, cn_opt_params
    from pymatgen.core import Lattice, Structure
except ImportError as e:
    print("skip", e)
    sys.exit(0)
print("ready")
sys.stdout.flush()

MOTIFS = {
    1: ["sgl_bd"],
    2: ["L-shaped", "water-like", "bent 120 degrees", "bent 150 degrees", "linear"],
    3: ["trigonal planar", "trigonal non-coplanar", "T-shaped"],
    4: ["square co-planar", "tetrahedral", "rectangular see-saw-like", "see-saw-like",
        "trigonal pyramidal"],
    5: ["pentagonal planar", "square pyramidal", "trigonal bipyramidal"],
    6: ["hexagonal planar", "octahedral", "pentagonal pyramidal"],
    7: ["hexagonal pyramidal", "pentagonal bipyramidal"],
    8: ["body-centered cubic", "hexagonal bipyramidal"],
    9: ["q2", "q4", "q6"], 10: ["q2", "q4", "q6"], 11: ["q2", "q4", "q6"],
    12: ["cuboctahedral", "q2", "q4", "q6"],
}


def make_ops():
    ops = {}
    for cn, names in MOTIFS.items():
        ops[cn] = []
        for t in names:
            ot, p = t, None
            if cn in cn_opt_params and t in cn_opt_params[cn]:
                ot = cn_opt_params[cn][t][0]
                if len(cn_opt_params[cn][t]) > 1:
                    p = cn_opt_params[cn][t][1]
            ops[cn].append(LocalStructOrderParams([ot], parameters=[p]))
    return ops


def site_fp(cnn, ops, s, idx):
    nndata = cnn.get_nn_data(s, idx)
    out = []
    for cn in range(1, 25):
        wt = nndata.cn_weights.get(cn, 0)
        out.append(wt)
        for op in ops.get(cn, []):
            if wt == 0:
                out.append(0)
                continue
            neigh = [d["site"] for d in nndata.cn_nninfo[cn]]
            v = op.get_order_parameters([s[idx]] + neigh, 0,
                                        indices_neighs=list(range(1, len(neigh) + 1)))[0]
            out.append(wt * (v or 0))
    return out


def main():
    cnn = CrystalNN()
    ops = make_ops()
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
            fp = np.mean([site_fp(cnn, ops, s, i) for i in range(n)], axis=0)
            print(" ".join(repr(float(x)) for x in fp))
        except Exception as e:  # noqa: BLE001 - report any failure to the C side
            print("error", type(e).__name__, str(e).replace("\n", " "))
        sys.stdout.flush()


main()
