#!/usr/bin/python3
"""Score generated crystals (CIF files) independently of crystens' own code.

usage: score_cifs.py GENERATED... --reference REF.csv [options]
       (GENERATED: directories of .cif files, globs or files)

Reads every generated CIF with pymatgen, finds its space group with spglib
(through pymatgen), and applies the CDVAE evaluation rules (spec:
metrics.md) with code of its own: structural validity (0.5 Å, 0.1 Å^3),
SMACT 2.2 compositional validity from share/smact/, the magpie composition
fingerprint from share/magpie/ scaled with CDVAE's constants, matminer's
CrystalNN "ops" structure fingerprint rebuilt from pymatgen
(tools/crystalnn_fp.py), coverage (COV-R/COV-P) and the 1-D Wasserstein
distances of density and number of elements.  Each measure is printed next
to its goal from issue 14 and written to --json.

Definitions where CDVAE has none:
  read          pymatgen's CifParser builds an ordered structure from the
                file's first data block; any other outcome is a failure,
                listed with its reason and kept in every denominator,
                as are the samples that wrote no file (--n-total).
  coincident    a crystal has coincident atoms if two of its distinct sites
                are closer than 0.1 Å (minimum image), or if two atom rows
                of its CIF sit within pymatgen's site tolerance (1e-4 in
                fractional coordinates) so that pymatgen merges them into
                one site with occupancy > 1 and refuses the file (such a
                file is also a read failure).
  single        one distinct element.  SMACT counts it compositionally
                valid, as CDVAE does; it is reported separately too.
  valid         structurally and compositionally valid, and the structure
                fingerprint could be computed (CDVAE's rule) within
                --fp-timeout seconds.  A cell under 0.1 Å^3 is "not
                constructed" (CDVAE): structurally invalid, no group, no
                fingerprint, its composition still judged.  Departing from
                CDVAE, a cell under 1 Å^3 per atom gets no fingerprint
                either (so is not valid): CrystalNN does not finish there.
  spglib        SpacegroupAnalyzer(symprec=--symprec Å, angle tolerance 5°)
                on every read crystal; "no group" when spglib fails or the
                cell is not constructed; unread files count in neither.
  coverage      by default over the valid generated crystals only (the
                crystal-text-llm convention the issue's table uses), with
                their number as COV-P's denominator; cov_p_all divides the
                same hits by all samples.  --cov-over all follows CDVAE:
                every read crystal with fingerprints takes part and COV-P
                divides by all samples.
  W1            scipy.stats.wasserstein_distance between up to --n-sample
                (1,000) valid generated crystals drawn with --seed and all
                reference crystals with <= --max-atoms sites.
  novelty       share of the valid generated crystals whose reduced
                formula is absent from every --train CSV (also given over
                distinct formulas).
Reference crystals are parsed from their CIF text without reduction (as
DiffCSP does); COV uses --n-ref of them drawn with --seed (all if 0).
"""
import argparse
import csv
import glob
import hashlib
import json
import math
import multiprocessing
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
import warnings
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

warnings.filterwarnings("ignore")

try:
    import numpy as np
    from pymatgen.core import Composition, Element
    from pymatgen.io.cif import CifParser, CifWriter
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer
    from scipy.spatial.distance import cdist
    from scipy.stats import wasserstein_distance

    from crystalnn_fp import StructureFingerprint
except ImportError as exc:
    sys.exit("score_cifs.py: needs /usr/bin/python3 with python3-pymatgen and python3-scipy "
             "(%s)" % exc)

csv.field_size_limit(1 << 30)

STRUCT_CUTOFF = 0.5        # Å, CDVAE structure_validity
VOLUME_CUTOFF = 0.1        # Å^3
COINCIDENT_CUTOFF = 0.1    # Å, this script's definition
# Below this volume per atom CrystalNN's neighbour search (7 Å, doubled until
# the Voronoi cell closes) gathers so many images that it does not end in
# hours, inside C code a timeout cannot interrupt; real solids have > 5 Å^3.
MIN_VOLUME_PER_ATOM = 1.0  # Å^3
COV_STRUCT, COV_COMP = 0.4, 10.0   # CDVAE's MP-20 thresholds

# SMACT 2.2's smact.metals (the alloy rule): Ge, Sb, Po in; Pm, Lr out.
SMACT_METALS = set("""Li Be Na Mg Al K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge Rb Sr Y Zr Nb
Mo Tc Ru Rh Pd Ag Cd In Sn Sb Cs Ba La Ce Pr Nd Sm Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re
Os Ir Pt Au Hg Tl Pb Bi Po Fr Ra Ac Th Pa U Np Pu Am Cm Bk Cf Es Fm Md No""".split())

MAGPIE_PROPS = ["Number", "MendeleevNumber", "AtomicWeight", "MeltingT", "Column", "Row",
                "CovalentRadius", "Electronegativity", "NsValence", "NpValence", "NdValence",
                "NfValence", "NValence", "NsUnfilled", "NpUnfilled", "NdUnfilled",
                "NfUnfilled", "NUnfilled", "GSvolume_pa", "GSbandgap", "GSmagmom",
                "SpaceGroupNumber"]

# The goals of issue 14 ("What it must show"): (key, label, comparison, goal).
GOALS = [
    ("struct_valid", "structurally valid", ">=", 0.95),
    ("comp_valid", "compositionally valid (SMACT)", None, None),
    ("valid", "valid (both)", None, None),
    ("single_element", "single-element crystals", "<=", 0.05),
    ("valid_multi", "valid and >= 2 elements", ">=", 0.70),
    ("mean_n_elements", "mean number of elements (read)", None, None),
    ("w1_n_elements", "W1(number of elements)", "<", 0.5),
    ("w1_density", "W1(density)", "<", 0.5),
    ("cov_r", "COV-R", ">=", 0.60),
    ("cov_p", "COV-P", ">=", 0.80),
    ("spglib_above_p1", "spglib above P1", ">=", 0.40),
    ("spglib_p1", "spglib P1", None, None),
    ("spglib_no_group", "spglib finds no group", None, None),
    ("coincident", "crystals with coincident atoms", "==", 0),
    ("novel", "valid compositions absent from training", ">=", 0.80),
]
RATES = {"struct_valid", "comp_valid", "valid", "single_element", "valid_multi", "cov_r",
         "cov_p", "spglib_above_p1", "spglib_p1", "spglib_no_group", "novel"}


def default_datadir():
    """share/ in a source tree (tools/..), pkgdatadir when installed (tools/..)."""
    for d in (os.path.join(HERE, "..", "share"), os.path.join(HERE, "..")):
        if os.path.isfile(os.path.join(d, "smact", "oxidation_states.txt")):
            return os.path.normpath(d)
    return os.path.normpath(os.path.join(HERE, "..", "share"))


# ---- SMACT 2.2 compositional validity (metrics.md 4.4) -----------------------

def load_smact(datadir):
    """({symbol: [oxidation states]}, {symbol: Pauling chi or None})."""
    ox, chi = {}, {}
    path = os.path.join(datadir, "smact", "oxidation_states.txt")
    with open(path) as f:
        for line in f:
            w = line.split()
            if w and not w[0].startswith("#"):
                ox[w[0]] = [int(x) for x in w[1:]]
    path = os.path.join(datadir, "smact", "element_data.txt")
    with open(path) as f:
        for line in f:
            w = line.split()
            if w and not w[0].startswith("#"):
                chi[w[0]] = None if w[9] == "None" else float(w[9])
    return ox, chi


def pauling_passes(ox, chi):
    """SMACT 2.2 eneg_states_test over pairs i < j (Z order), with CDVAE's
    handling of a missing chi: an opposite-sign pair raises TypeError, which
    CDVAE turns into a pass; a same-sign pair with a None fails."""
    n = len(ox)
    for i in range(n):
        for j in range(i + 1, n):
            missing = chi[i] is None or chi[j] is None
            if ox[i] > 0 and ox[j] < 0:
                if missing:
                    return True
                if chi[i] >= chi[j]:
                    return False
            elif ox[i] < 0 and ox[j] > 0:
                if missing:
                    return True
                if chi[i] <= chi[j]:
                    return False
            elif missing:
                return False
    return True


def smact_valid(symbols, counts, smact):
    """CDVAE's smact_validity: symbols sorted by Z, counts divided by their gcd."""
    ox_table, chi_table = smact
    if len(set(symbols)) == 1:
        return True
    if all(s in SMACT_METALS for s in symbols):
        return True
    if any(s not in ox_table for s in symbols):
        return False
    chi = [chi_table.get(s) for s in symbols]
    states = [ox_table[s] for s in symbols]
    # Depth-first over the cartesian product, pruned where the remaining
    # elements cannot bring the charge back to 0 and, when every chi is
    # known, where a cation already is not less electronegative than an
    # anion: the same answer as enumerating every combination, without
    # the 9^n cost on many-element crystals.
    n = len(symbols)
    lo, hi = [0] * (n + 1), [0] * (n + 1)
    for k in range(n - 1, -1, -1):
        if not states[k]:
            return False
        lo[k] = lo[k + 1] + min(states[k]) * counts[k]
        hi[k] = hi[k + 1] + max(states[k]) * counts[k]
    prune = all(c is not None for c in chi)
    ox = [0] * n

    def search(k, q):
        if k == n:
            return q == 0 and pauling_passes(ox, chi)
        for o in states[k]:
            qk = q + o * counts[k]
            if qk + lo[k + 1] > 0 or qk + hi[k + 1] < 0:
                continue
            if prune and any((ox[i] > 0 and o < 0 and chi[i] >= chi[k])
                             or (ox[i] < 0 and o > 0 and chi[i] <= chi[k]) for i in range(k)):
                continue
            ox[k] = o
            if search(k + 1, qk):
                return True
        return False

    return search(0, 0)


# ---- magpie composition fingerprint (metrics.md 4.5) -------------------------

def load_magpie(datadir):
    """(tables: list of 22 arrays indexed by Z, scaler means, scaler stds)."""
    tables = []
    for p in MAGPIE_PROPS:
        vals = [math.nan]
        with open(os.path.join(datadir, "magpie", p + ".table")) as f:
            for line in f:
                t = line.strip()
                vals.append(math.nan if t == "Missing" or not t else float(t))
        tables.append(np.array(vals))
    means, stds = np.zeros(132), np.ones(132)
    with open(os.path.join(datadir, "magpie", "cdvae_comp_scaler.csv")) as f:
        for row in csv.DictReader(f):
            means[int(row["index"])] = float(row["mean"])
            stds[int(row["index"])] = float(row["std"])
    return tables, means, stds


def magpie_fp(zs, amounts, magpie):
    """matminer 0.7.3 ElementProperty("magpie") (NaNs kept), then CDVAE's scaler
    with NaN set to 0."""
    tables, means, stds = magpie
    w = np.asarray(amounts, dtype=float)
    out = []
    for tab in tables:
        x = np.array([tab[z] if z < len(tab) else math.nan for z in zs])
        mean = np.average(x, weights=w)
        top = np.isclose(w, w.max())
        out += [np.min(x), np.max(x), np.max(x) - np.min(x), mean,
                np.average(np.abs(x - mean), weights=w), np.min(x[top])]
    z = (np.array(out) - means) / stds
    z[np.isnan(z)] = 0.0
    return z


# ---- one crystal --------------------------------------------------------------

W = {}  # per-process state, set by init_worker


class FingerprintTimeout(Exception):
    pass


def on_alarm(signum, frame):
    raise FingerprintTimeout()


def init_worker(datadir, symprec, fp_timeout):
    W["smact"] = load_smact(datadir)
    W["magpie"] = load_magpie(datadir)
    W["symprec"] = symprec
    W["fp_timeout"] = fp_timeout
    signal.signal(signal.SIGALRM, on_alarm)
    W["fingerprint"] = None   # built on first use: it reads YAML files


def read_cif(text):
    """(structure, None) or (None, reason, merged) where merged tells that
    pymatgen refused the file because atom rows coincide."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            parser = CifParser.from_string(text)
            s = parser.get_structures(primitive=False)[0]
        except Exception as e:  # noqa: BLE001 - every failure is reported with its reason
            msgs = " ".join(str(c.message) for c in caught)
            merged = "sum to > 1" in msgs or "sum to more than 1" in msgs
            reason = ("coincident atom rows (pymatgen merges them: occupancy > 1)" if merged
                      else "%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else ""))
            return None, reason, merged
    if not s.is_ordered:
        return None, "disordered sites (partial occupancy)", False
    if len(s) == 0:
        return None, "no atoms", False
    return s, None, False


def analyse(task):
    """Everything about one crystal; task = (index, name, text, path, fp,
    max_sites) where fp is "valid" (fingerprints when valid), "all", or ""
    (none); a crystal with more than max_sites sites (if not None) is only
    counted."""
    index, name, text, path, want_fp, max_sites = task
    r = {"index": index, "name": name, "read": False}
    try:
        if path is not None and text is None:
            with open(path, "rb") as f:
                raw = f.read()
            text = raw.decode("utf-8", errors="replace")
        s, reason, merged = read_cif(text)
    except OSError as e:
        s, reason, merged = None, "%s: %s" % (type(e).__name__, e), False
    if s is None:
        r.update(reason=reason, coincident=merged, struct_valid=False, comp_valid=False,
                 valid=False)
        return r
    r["read"] = True
    n = len(s)
    r["n_sites"] = n
    if max_sites is not None and n > max_sites:
        return r
    try:
        return describe(r, s, want_fp)
    except Exception as e:  # noqa: BLE001 - one odd crystal must not stop the run
        r.update(reason="analysis failed: %s: %s" % (type(e).__name__, e), read=False,
                 coincident=False, struct_valid=False, comp_valid=False, valid=False)
        return r


def describe(r, s, want_fp):
    """Fill r with the measures of the structure s (see analyse)."""
    n = len(s)
    vol = float(s.volume)
    comp = s.composition
    els = sorted(comp.elements, key=lambda e: e.Z)
    zs = [e.Z for e in els]
    counts = [int(round(comp[e])) for e in els]
    g = 0
    for c in counts:
        g = math.gcd(g, c)
    red = [c // g for c in counts]
    constructed = vol >= VOLUME_CUTOFF   # CDVAE: no distances, density or fingerprint
    if n > 1 and constructed:
        dm = s.distance_matrix.copy()
        np.fill_diagonal(dm, np.inf)
        mind = float(dm.min())
    else:
        mind = math.inf
    struct_valid = mind >= STRUCT_CUTOFF and vol >= VOLUME_CUTOFF
    comp_valid = smact_valid([e.symbol for e in els], red, W["smact"])
    sg, sg_err = None, None
    try:
        if not constructed:
            raise ValueError("volume %.3g Å^3 < %g" % (vol, VOLUME_CUTOFF))
        sg = SpacegroupAnalyzer(s, symprec=W["symprec"]).get_space_group_number()
    except Exception as e:  # noqa: BLE001 - spglib finding no group is a result
        sg_err = "%s: %s" % (type(e).__name__, e)
    r.update(n_sites=n, volume=vol, density=float(s.density) if constructed else None,
             n_elements=len(els), formula=comp.reduced_formula,
             min_dist=None if n == 1 or not constructed else mind,
             coincident=mind < COINCIDENT_CUTOFF, struct_valid=bool(struct_valid),
             comp_valid=bool(comp_valid), spacegroup=sg)
    if sg_err:
        r["spacegroup_error"] = sg_err
    if want_fp == "all" or (want_fp == "valid" and struct_valid and comp_valid):
        r["comp_fp"] = magpie_fp(zs, counts, W["magpie"]).tolist()
        try:
            if not constructed or vol / n < MIN_VOLUME_PER_ATOM:
                raise ValueError("volume per atom %.3g Å^3 < %g: not fingerprinted"
                                 % (vol / n, MIN_VOLUME_PER_ATOM))
            if W["fingerprint"] is None:
                W["fingerprint"] = StructureFingerprint()
            # an absurd cell can keep CrystalNN busy for hours
            signal.alarm(W["fp_timeout"])
            try:
                fp = W["fingerprint"](s)
            finally:
                signal.alarm(0)
            if not np.all(np.isfinite(fp)):
                raise ValueError("non-finite fingerprint")
            r["struct_fp"] = fp.tolist()
        except FingerprintTimeout:
            r["fp_error"] = "timeout after %d s" % W["fp_timeout"]
        except Exception as e:  # noqa: BLE001 - CDVAE marks such a crystal invalid
            r["fp_error"] = "%s: %s" % (type(e).__name__, e)
    r["valid"] = bool(struct_valid and comp_valid and "struct_fp" in r) if want_fp else None
    return r


# ---- driving ------------------------------------------------------------------

class Progress:
    def __init__(self, label, total, quiet):
        self.label, self.total, self.quiet = label, total, quiet
        self.t0 = self.last = time.time()

    def step(self, done):
        now = time.time()
        if self.quiet or (now - self.last < 5 and done < self.total):
            return
        self.last = now
        print("score_cifs: %s %d/%d (%.0f s)" % (self.label, done, self.total, now - self.t0),
              file=sys.stderr, flush=True)


def run_pool(pool, tasks, label, quiet, chunksize=1):
    out = [None] * len(tasks)
    prog = Progress(label, len(tasks), quiet)
    for k, r in enumerate(pool.imap_unordered(analyse, tasks, chunksize=chunksize)):
        out[r["index"]] = r
        prog.step(k + 1)
    return out


def read_csv_cifs(path, what):
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        sys.exit("score_cifs.py: %s %s: %s" % (what, path, e.strerror))
    if rows and "cif" not in rows[0]:
        sys.exit("score_cifs.py: %s %s: no 'cif' column" % (what, path))
    return rows


FORMULA_SUM = re.compile(r"_chemical_formula_sum\s+(?:'([^']*)'|\"([^\"]*)\"|(\S+))")


def formula_of(text):
    """Reduced formula from the CIF's _chemical_formula_sum, else a full parse."""
    m = FORMULA_SUM.search(text)
    if m:
        try:
            return Composition(next(g for g in m.groups() if g)).reduced_formula
        except Exception:  # noqa: BLE001 - fall back to reading the structure
            pass
    s, _, _ = read_cif(text)
    return s.composition.reduced_formula if s is not None else None


def generated_files(specs):
    """The files of each directory (*.cif), glob or file name, in order."""
    files = []
    for spec in specs:
        if os.path.isdir(spec):
            found = sorted(glob.glob(os.path.join(spec, "*.cif")))
        else:
            found = sorted(glob.glob(spec))
        if not found:
            sys.exit("score_cifs.py: no CIF files match '%s'" % spec)
        files += found
    return files


def write_self_check(texts, directory):
    """Write the reference crystals' CIF texts, read back by pymatgen, as files."""
    for k, text in enumerate(texts):
        s, reason, _ = read_cif(text) if text else (None, "not kept in the cache", 0)
        if s is None:
            sys.exit("score_cifs.py: self-check crystal unreadable: %s" % reason)
        CifWriter(s).write_file(os.path.join(directory, "real_%04d.cif" % k))


def atoms_in_formula_sum(text):
    """Atoms in _chemical_formula_sum ('Nd4 Sc4 O12': 20), a cheap bound that lets
    the reference skip parsing crystals too large; 0 when absent or unusual,
    so that the crystal is parsed and counted exactly."""
    m = FORMULA_SUM.search(text)
    if not m:
        return 0
    total = 0
    for tok in next(g for g in m.groups() if g).split():
        mm = re.fullmatch(r"[A-Z][a-z]?(\d*\.?\d*)", tok)
        if not mm:
            return 0
        try:
            total += float(mm.group(1)) if mm.group(1) else 1
        except ValueError:
            return 0
    return total


def cache_key(args, ref_path):
    """What the cached reference depends on: the CSV, the code, the options."""
    h = hashlib.sha256()
    for p in (ref_path, os.path.join(HERE, "crystalnn_fp.py"), os.path.abspath(__file__)):
        with open(p, "rb") as f:
            h.update(f.read())
    h.update(("%d %d %d %r %s" % (args.max_atoms, args.n_ref, args.seed, args.symprec,
                                  os.path.abspath(args.datadir))).encode())
    return h.hexdigest()


CACHE_FIELDS = ("name", "n_sites", "density", "n_elements", "spacegroup", "cif")


def load_cache(path, key):
    """(ref, unreadable, pick, (struct fps, comp fps)) if path holds key's data."""
    try:
        with open(path) as f:
            c = json.load(f)
    except (OSError, ValueError):
        return None
    if c.get("key") != key:
        return None
    ref = [dict(zip(CACHE_FIELDS, row), read=True) for row in c["ref"]]
    return (ref, c["unreadable"], c["pick"],
            (np.array(c["struct_fp"]).reshape(-1, 61), np.array(c["comp_fp"]).reshape(-1, 132)))


def save_cache(path, key, ref, unreadable, pick, ref_fp):
    write_json(path, {"key": key, "unreadable": unreadable, "pick": pick,
                      "ref": [[r.get(k) for k in CACHE_FIELDS] for r in ref],
                      "struct_fp": ref_fp[0].tolist(), "comp_fp": ref_fp[1].tolist()})


def rate(k, n):
    return k / n if n else None


def fmt(key, v):
    if v is None:
        return "n/a"
    if key in RATES:
        return "%.1f %%" % (100 * v)
    if isinstance(v, int):
        return str(v)
    return "%.3f" % v


def met(cmp, v, goal):
    if cmp is None:
        return ""
    if v is None:
        return "not measured"
    ok = {">=": v >= goal, "<=": v <= goal, "<": v < goal, "==": v == goal}[cmp]
    return "met" if ok else "SHORT of goal"


def finite(x):
    """x with every NaN or infinity replaced by None (JSON has neither)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [finite(v) for v in x]
    return x


def write_json(path, data):
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".score_cifs.")
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)   # mkstemp's 0600 is for secrets
    with os.fdopen(fd, "w") as f:
        json.dump(finite(data), f, indent=1, allow_nan=False)
        f.write("\n")
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("generated", nargs="*",
                    help="directories of generated .cif files, globs or files")
    ap.add_argument("--reference", required=True, help="benchmark CSV with a 'cif' column")
    ap.add_argument("--max-atoms", type=int, default=20,
                    help="keep reference crystals with at most this many sites (20)")
    ap.add_argument("--train", action="append", default=[],
                    help="training CSV for novelty (repeatable)")
    ap.add_argument("--json", help="write all numbers here")
    ap.add_argument("--symprec", type=float, default=0.1, help="spglib tolerance in Å (0.1)")
    ap.add_argument("--n-ref", type=int, default=1000,
                    help="reference crystals drawn for coverage (1000; 0 = all)")
    ap.add_argument("--n-sample", type=int, default=1000,
                    help="valid generated crystals drawn for W1 (1000, as CDVAE)")
    ap.add_argument("--seed", type=int, default=0, help="seed of every draw (0)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes")
    ap.add_argument("--datadir", default=default_datadir(),
                    help="crystens' share/ (smact/, magpie/)")
    ap.add_argument("--ref-cache", help="JSON file keeping the parsed reference and its fingerprints between runs "
                    "(keyed by the CSV's content, --max-atoms, --n-ref, --seed)")
    ap.add_argument("--self-check", type=int, metavar="N",
                    help="score N crystals drawn from --reference (written as CIFs) "
                    "instead of GENERATED")
    ap.add_argument("--n-total", type=int, metavar="N",
                    help="samples generated, when failed ones wrote no file: the missing "
                    "count as unreadable (default: the number of files)")
    ap.add_argument("--fp-timeout", type=int, default=300, metavar="S",
                    help="seconds allowed for one structure fingerprint; a crystal over it "
                    "counts as without fingerprint, so not valid (300)")
    ap.add_argument("--cov-over", choices=("valid", "all"), default="valid",
                    help="generated crystals that coverage compares: the valid ones (default, "
                    "COV-P over their number) or, as CDVAE, every read one (COV-P over all)")
    ap.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = ap.parse_args()
    if bool(args.generated) == (args.self_check is not None):
        ap.error("give GENERATED or --self-check N (one of them)")
    for opt in ("max_atoms", "jobs"):
        if getattr(args, opt) < 1:
            ap.error("--%s must be >= 1" % opt.replace("_", "-"))
    if args.n_ref < 0 or args.n_sample < 1 or args.symprec <= 0 or args.fp_timeout < 1:
        ap.error("--n-ref must be >= 0, --n-sample >= 1, --symprec > 0 and --fp-timeout >= 1")
    for p in (os.path.join(args.datadir, "smact", "oxidation_states.txt"),
              os.path.join(args.datadir, "magpie", "cdvae_comp_scaler.csv")):
        if not os.path.isfile(p):
            sys.exit("score_cifs.py: --datadir %s: no %s" % (args.datadir, p))

    t_start = time.time()
    timing = {}
    ref_rows = read_csv_cifs(args.reference, "--reference")
    key = cache_key(args, args.reference) if args.ref_cache else None
    cached = load_cache(args.ref_cache, key) if args.ref_cache else None
    tmpdir = None
    pool = multiprocessing.Pool(args.jobs, initializer=init_worker,
                                initargs=(args.datadir, args.symprec, args.fp_timeout))
    try:
        t = time.time()
        if cached:
            ref, ref_unreadable, pick, ref_fp = cached
        else:
            tasks = []
            for i, row in enumerate(ref_rows):
                if atoms_in_formula_sum(row["cif"]) <= args.max_atoms:
                    tasks.append((len(tasks), "row %d" % (i + 1), row["cif"], None, "",
                                  args.max_atoms))
            ref_all = run_pool(pool, tasks, "reference (parse)", args.quiet, chunksize=16)
            ref = [r for r in ref_all if r["read"] and r["n_sites"] <= args.max_atoms]
            ref_unreadable = sum(1 for r in ref_all if not r["read"])
            for r in ref:
                r["cif"] = tasks[r["index"]][2]
            pick = list(range(len(ref)))
            if args.n_ref and args.n_ref < len(ref):
                pick = sorted(random.Random(args.seed).sample(pick, args.n_ref))
        if not ref:
            sys.exit("score_cifs.py: --reference %s: no readable crystal with <= %d sites"
                     % (args.reference, args.max_atoms))
        timing["reference_parse_s"] = time.time() - t

        if args.self_check is not None:
            # real crystals not drawn for coverage (where enough remain), so
            # that coverage is not matched against the crystals themselves
            tmpdir = tempfile.mkdtemp(prefix="score_cifs.")
            taken = set(pick)
            pool_idx = [i for i in range(len(ref)) if i not in taken]
            if len(pool_idx) < args.self_check:
                pool_idx = list(range(len(ref)))
            chosen = random.Random(args.seed + 1).sample(pool_idx,
                                                         min(args.self_check, len(pool_idx)))
            write_self_check([ref[i]["cif"] if "cif" in ref[i] else None for i in chosen],
                             tmpdir)
            args.generated = [tmpdir]
        files = generated_files(args.generated)
        if args.n_total is not None and args.n_total < len(files):
            sys.exit("score_cifs.py: --n-total %d is less than the %d files found"
                     % (args.n_total, len(files)))

        t = time.time()
        gen = run_pool(pool, [(i, os.path.basename(p), None, p, args.cov_over, None)
                              for i, p in enumerate(files)], "generated", args.quiet)
        for _ in range(len(files), args.n_total or 0):
            gen.append({"index": len(gen), "name": None, "read": False, "coincident": False,
                        "reason": "no file (not written: the sample failed)",
                        "struct_valid": False, "comp_valid": False, "valid": False})
        timing["generated_s"] = time.time() - t

        t = time.time()
        if not cached:
            fps = run_pool(pool, [(k, ref[i]["name"], ref[i]["cif"], None, "all", None)
                                  for k, i in enumerate(pick)],
                           "reference (fingerprints)", args.quiet)
            fps = [r for r in fps if "struct_fp" in r]
            ref_fp = (np.array([r["struct_fp"] for r in fps]).reshape(-1, 61),
                      np.array([r["comp_fp"] for r in fps]).reshape(-1, 132))
            if args.ref_cache:
                save_cache(args.ref_cache, key, ref, ref_unreadable, pick, ref_fp)
        timing["reference_fingerprints_s"] = time.time() - t

        t = time.time()
        train_formulas = set()
        for tp in args.train:
            rows = read_csv_cifs(tp, "--train")
            train_formulas.update(pool.map(formula_of, [r["cif"] for r in rows], chunksize=64))
        train_formulas.discard(None)
        timing["train_s"] = time.time() - t
    finally:
        pool.close()
        pool.join()
        if tmpdir:
            shutil.rmtree(tmpdir)

    # ---- the measures ---------------------------------------------------------
    n = len(gen)
    rd = [r for r in gen if r["read"]]
    valid = [r for r in gen if r["valid"]]
    m = {"n_files": n, "n_read": len(rd)}
    m["struct_valid"] = rate(sum(r["struct_valid"] for r in gen), n)
    m["comp_valid"] = rate(sum(r["comp_valid"] for r in gen), n)
    m["valid"] = rate(len(valid), n)
    m["single_element"] = rate(sum(1 for r in rd if r["n_elements"] == 1), n)
    m["valid_multi"] = rate(sum(1 for r in valid if r["n_elements"] >= 2), n)
    m["mean_n_elements"] = float(np.mean([r["n_elements"] for r in rd])) if rd else None
    m["mean_n_elements_valid"] = (float(np.mean([r["n_elements"] for r in valid]))
                                  if valid else None)
    m["ref_mean_n_elements"] = float(np.mean([r["n_elements"] for r in ref]))
    sample = valid
    if len(valid) > args.n_sample:
        sample = random.Random(args.seed).sample(valid, args.n_sample)
    m["w1_sample_size"] = len(sample)
    if sample:
        m["w1_n_elements"] = float(wasserstein_distance([r["n_elements"] for r in sample],
                                                        [r["n_elements"] for r in ref]))
        m["w1_density"] = float(wasserstein_distance([r["density"] for r in sample],
                                                     [r["density"] for r in ref]))
    else:
        m["w1_n_elements"] = m["w1_density"] = None
    # coverage (metrics.md 4.5); the two minima are taken independently
    covered = valid if args.cov_over == "valid" else [r for r in gen if "struct_fp" in r]
    m["cov_over"] = args.cov_over
    m["cov_n_generated"], m["cov_n_reference"] = len(covered), len(ref_fp[0])
    if covered and len(ref_fp[0]):
        ds = cdist(np.array([r["struct_fp"] for r in covered]), ref_fp[0])
        dc = cdist(np.array([r["comp_fp"] for r in covered]), ref_fp[1])
        hit_r = (ds.min(axis=0) <= COV_STRUCT) & (dc.min(axis=0) <= COV_COMP)
        hit_p = (ds.min(axis=1) <= COV_STRUCT) & (dc.min(axis=1) <= COV_COMP)
        m["cov_r"] = float(hit_r.mean())
        m["cov_p"] = float(hit_p.mean()) if args.cov_over == "valid" else float(hit_p.sum() / n)
        m["cov_p_all"] = float(hit_p.sum() / n)
        m["amsd_r"], m["amcd_r"] = float(ds.min(axis=0).mean()), float(dc.min(axis=0).mean())
        m["amsd_p"], m["amcd_p"] = float(ds.min(axis=1).mean()), float(dc.min(axis=1).mean())
    else:
        m["cov_r"] = m["cov_p"] = m["cov_p_all"] = None
    sgs = Counter(r["spacegroup"] for r in rd)
    m["spglib_above_p1"] = rate(sum(c for g, c in sgs.items() if g is not None and g > 1), n)
    m["spglib_p1"] = rate(sgs.get(1, 0), n)
    m["spglib_no_group"] = rate(sgs.get(None, 0), n)
    m["spglib_above_p1_valid"] = rate(sum(1 for r in valid if (r["spacegroup"] or 0) > 1),
                                      len(valid))
    m["ref_spglib_above_p1"] = rate(sum(1 for r in ref if (r["spacegroup"] or 0) > 1), len(ref))
    m["coincident"] = sum(1 for r in gen if r["coincident"])
    m["fingerprint_failures"] = sum(1 for r in gen if "fp_error" in r)
    if args.train:
        forms = [r["formula"] for r in valid]
        m["novel"] = rate(sum(1 for f in forms if f not in train_formulas), len(forms))
        m["novel_distinct"] = rate(len(set(forms) - train_formulas), len(set(forms)))
        m["train_formulas"] = len(train_formulas)
    else:
        m["novel"] = m["novel_distinct"] = None
    timing["total_s"] = time.time() - t_start

    # ---- report ---------------------------------------------------------------
    ref_values = {"mean_n_elements": m["ref_mean_n_elements"],
                  "spglib_above_p1": m["ref_spglib_above_p1"]}
    print("score_cifs: %d files (%d read) in %s; reference %s: %d crystals with <= %d sites "
          "(%d unreadable rows), %d fingerprinted for coverage"
          % (n, len(rd), (args.generated[0] + (" (+%d more)" % (len(args.generated) - 1)
                                  if len(args.generated) > 1 else "")) if tmpdir is None else "self-check sample",
             args.reference, len(ref), args.max_atoms, ref_unreadable, len(ref_fp[0])))
    print("%-42s %10s  %-8s %s" % ("measure", "value", "goal", ""))
    for key, label, cmp, goal in GOALS:
        v = m.get(key)
        g = "" if cmp is None else "%s %s" % (cmp, fmt(key, goal))
        extra = met(cmp, v, goal)
        if key in ("cov_r", "cov_p"):
            label += " (valid only)" if args.cov_over == "valid" else " (all read, CDVAE)"
        if key in ref_values:
            extra = (extra + "  " if extra else "") + "reference %s" % fmt(key, ref_values[key])
        print("%-42s %10s  %-8s %s" % (label, fmt(key, v), g, extra))
    if m["cov_p_all"] is not None:
        print("  COV-P over all %d files (CDVAE's denominator): %.1f %%; "
              "W1 over %d valid crystals" % (n, 100 * m["cov_p_all"], m["w1_sample_size"]))
    top = sorted(((g, c) for g, c in sgs.items() if g is not None), key=lambda x: -x[1])
    print("space groups (read crystals): " + ", ".join("%d: %d" % gc for gc in top[:15])
          + (", ..." if len(top) > 15 else "")
          + ("; no group: %d" % sgs[None] if sgs.get(None) else ""))
    fails = [r for r in gen if not r["read"]]
    if fails:
        reasons = Counter(r["reason"] for r in fails)
        print("unreadable: %d (%s)" % (len(fails), "; ".join("%d × %s" % (c, why)
                                                            for why, c in reasons.most_common())))
    print("time: %.0f s (generated %.0f s, reference %.0f + %.0f s, %d processes)"
          % (timing["total_s"], timing["generated_s"], timing["reference_parse_s"],
             timing["reference_fingerprints_s"], args.jobs))

    if args.json:
        per_file = []
        for r in gen:
            per_file.append({k: v for k, v in r.items()
                             if k not in ("struct_fp", "comp_fp", "index")})
        write_json(args.json, {
            "generated": args.generated if tmpdir is None else None,
            "self_check": args.self_check,
            "reference": args.reference, "max_atoms": args.max_atoms,
            "n_reference": len(ref), "reference_unreadable": ref_unreadable,
            "train": args.train, "symprec": args.symprec, "seed": args.seed,
            "n_ref": args.n_ref, "n_sample": args.n_sample,
            "thresholds": {"struct": COV_STRUCT, "comp": COV_COMP,
                           "struct_valid_A": STRUCT_CUTOFF, "volume_A3": VOLUME_CUTOFF,
                           "coincident_A": COINCIDENT_CUTOFF},
            "measures": m,
            "goals": {key: {"cmp": cmp, "goal": goal, "status": met(cmp, m.get(key), goal)}
                      for key, _, cmp, goal in GOALS if cmp},
            "spacegroups": {("none" if g is None else str(g)): c for g, c in sgs.items()},
            "unreadable": [{"name": r["name"], "reason": r["reason"]} for r in fails],
            "timing_s": timing, "jobs": args.jobs,
            "files": per_file})


if __name__ == "__main__":
    main()
