"""CDVAE's structure fingerprint rebuilt from pymatgen alone.

matminer's CrystalNNFingerprint.from_preset("ops"), averaged over the sites
of a cell, is what CDVAE's coverage metrics compare (spec: metrics.md 4.5).
matminer is not packaged in Debian; its featurize is the loop in site_fp
over pymatgen's CrystalNN, LocalStructOrderParams and cn_opt_params.yaml,
so this module gives the same 61 numbers per site.  Shared by
tests/fingerprint_ref.py (the oracle of crystens' C fingerprint) and
tools/score_cifs.py (the independent scorer).
"""
import numpy as np
from pymatgen.analysis.local_env import CrystalNN, LocalStructOrderParams, cn_opt_params

# matminer's "ops" preset: the motif names per coordination number.
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
    """The order-parameter calculators per CN, with cn_opt_params' settings."""
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
    """The 61 fingerprint values of site idx of structure s."""
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


class StructureFingerprint:
    """Callable: structure -> its 61-vector (mean over sites), as CDVAE builds it.

    CrystalNN and the order parameters are built once, since making them
    reads YAML files."""

    def __init__(self):
        self.cnn = CrystalNN()
        self.ops = make_ops()

    def __call__(self, s):
        return np.mean([site_fp(self.cnn, self.ops, s, i) for i in range(len(s))], axis=0)
