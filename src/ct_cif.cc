// ct_cif.cc - CIF reading through gemmi: the only C++ in crystens.
//
// gemmi parses the text into a document of blocks; everything after that
// (cell, sites, symmetry expansion, checks) is done here block by block, so
// one bad block costs only itself.  gemmi throws (std::runtime_error, PEGTL
// parse errors, std::out_of_range); every extern "C" entry point catches
// std::exception and ... and returns a status, as ct_common.h requires.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include <gemmi/cif.hpp>       // cif::Document, cif::Block, parse_input
#include <gemmi/numb.hpp>      // cif::as_number: "5.6402(3)" -> 5.6402
#include <gemmi/symmetry.hpp>  // Op, parse_triplet, find_spacegroup_by_*

extern "C" {
#include "ct_cif.h"
#include "ct_elements.h"
#include "ct_file.h"
}

namespace cif = gemmi::cif;

namespace {

// Why a block gives no structure; caught per block.
struct BlockError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

[[noreturn]] __attribute__((format(printf, 1, 2)))
void block_fail(const char *fmt, ...)
{
    char buf[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    throw BlockError(buf);
}

// The first of tags present in the block with a non-null value, or NULL.
const std::string *first_value(const cif::Block &b, std::initializer_list<const char *> tags)
{
    for (const char *t : tags)
        if (const std::string *v = b.find_value(t))
            if (!cif::is_null(*v)) return v;
    return nullptr;
}

// A CIF number, 5.6402(3) -> 5.6402; NaN for '?', '.', text, and for
// numbers out of double's range (1e400): nothing downstream wants infinity.
double numb(const std::string &v)
{
    double x = cif::as_number(v);
    return std::isfinite(x) ? x : NAN;
}

// Angles default to 90 degrees, as the CIF dictionary says; lengths do not.
void read_cell(const cif::Block &b, double cell[6])
{
    static const char *const tags[6] = {"_cell_length_a", "_cell_length_b", "_cell_length_c",
                                        "_cell_angle_alpha", "_cell_angle_beta",
                                        "_cell_angle_gamma"};
    for (int i = 0; i < 6; i++) {
        const std::string *v = first_value(b, {tags[i]});
        if (!v) {
            if (i < 3) block_fail("no unit cell (%s missing)", tags[i]);
            cell[i] = 90.0;
            continue;
        }
        cell[i] = numb(*v);
        if (std::isnan(cell[i]))
            block_fail("%s is not a finite number: '%s'", tags[i], v->c_str());
        // Lengths of 1e10 or 1e-200 A parse, and give NaN densities later.
        if (i < 3 && !(cell[i] >= CT_CIF_MIN_LENGTH && cell[i] <= CT_CIF_MAX_LENGTH))
            block_fail("%s is %g A (cells of %g to %g A are read)", tags[i], cell[i],
                       CT_CIF_MIN_LENGTH, CT_CIF_MAX_LENGTH);
    }
}

// The declared space-group number, 0 if the block states none.
int declared_number(const cif::Block &b)
{
    const std::string *v = first_value(b, {"_space_group_IT_number",
                                           "_symmetry_Int_Tables_number",
                                           "_space_group.IT_number"});
    if (!v) return 0;
    double n = numb(*v);
    return n >= 1 && n <= 230 && n == std::floor(n) ? (int)n : 0;
}

// A symmetry operation "x-y, -y, -z+2/3" through gemmi's parser, checked
// first: gemmi multiplies the numbers it reads in int without checking, so
// long numbers or sums overflow; the operation must be a symmetry (|det| 1).
gemmi::Op parse_op(const std::string &xyz)
{
    size_t digits = 0;
    for (char c : xyz) {
        digits = c >= '0' && c <= '9' ? digits + 1 : 0;
        if (digits > 3 || xyz.size() > 200)
            block_fail("bad symmetry operation '%.80s' (numbers or text too long)", xyz.c_str());
    }
    gemmi::Op op;
    try {
        op = gemmi::parse_triplet(xyz);
    } catch (std::exception &e) {
        block_fail("bad symmetry operation '%s' (%s)", xyz.c_str(), e.what());
    }
    const auto &r = op.rot;
    double d = (double)gemmi::Op::DEN;
    double det = ((double)r[0][0] * ((double)r[1][1] * r[2][2] - (double)r[1][2] * r[2][1]) -
                  (double)r[0][1] * ((double)r[1][0] * r[2][2] - (double)r[1][2] * r[2][0]) +
                  (double)r[0][2] * ((double)r[1][0] * r[2][1] - (double)r[1][1] * r[2][0])) /
                 (d * d * d);
    if (std::fabs(det) != 1)
        block_fail("bad symmetry operation '%s' (determinant %g, not 1 or -1)", xyz.c_str(), det);
    return op;
}

// The operations a block lists, else those of its H-M symbol or number,
// else the identity (P1).  *declared gets the group number it names.
std::vector<gemmi::Op> read_ops(cif::Block &b, const double cell[6], int *declared)
{
    *declared = declared_number(b);
    std::vector<gemmi::Op> ops;
    for (const char *tag : {"_space_group_symop_operation_xyz", "_symmetry_equiv_pos_as_xyz",
                            "_space_group_symop.operation_xyz"}) {
        cif::Column col = b.find_values(tag);
        if (!col) continue;
        for (const std::string &raw : col) {
            ops.push_back(parse_op(cif::as_string(raw)));
        }
        if (ops.size() > 192) block_fail("%zu symmetry operations (at most 192)", ops.size());
        return ops;
    }
    const gemmi::SpaceGroup *sg = nullptr;
    if (const std::string *hm = first_value(b, {"_space_group_name_H-M_alt",
                                                "_symmetry_space_group_name_H-M",
                                                "_space_group.name_H-M_alt"})) {
        std::string name = cif::as_string(*hm);
        sg = gemmi::find_spacegroup_by_name(name, cell[3], cell[5]);
        if (!sg) block_fail("unknown space group '%s'", name.c_str());
    } else if (*declared) {
        sg = gemmi::find_spacegroup_by_number(*declared);
    }
    if (!sg) return {gemmi::Op::identity()};
    if (!*declared) *declared = sg->number;
    return sg->operations().all_ops_sorted();
}

struct Site {
    int z;
    double f[3];
    std::string label;
};

double site_number(cif::Table::Row &row, int col, const char *what, const std::string &label)
{
    double x = numb(row[col]);
    if (std::isnan(x))
        block_fail("site %s: %s is not a finite number: '%s'", label.c_str(), what,
                   row[col].c_str());
    return x;
}

// "Wat5 as O" for each site whose element was guessed (see
// ct_element_cif), in order, each label once.
using Guesses = std::vector<std::string>;

std::vector<Site> read_sites(cif::Block &b, Guesses &guesses)
{
    enum { kX, kY, kZ, kLabel, kSymbol, kOcc };
    cif::Table t = b.find("_atom_site_", {"fract_x", "fract_y", "fract_z", "?label",
                                          "?type_symbol", "?occupancy"});
    if (!t.ok() || t.length() == 0)
        block_fail("no atom sites with fractional coordinates (_atom_site_fract_x)");
    // Every site gives at least one atom unless two coincide: refuse a loop
    // that could not fit in a structure before reading it.
    if (t.length() > CT_STRUCTURE_MAXATOMS)
        block_fail("%zu atom sites (a structure holds at most %d atoms)", t.length(),
                   CT_STRUCTURE_MAXATOMS);
    std::vector<Site> sites;
    int n = 0;
    for (auto row : t) {
        n++;
        Site s;
        s.label = row.has2(kLabel) ? row.str(kLabel) : "#" + std::to_string(n);
        bool from_label = !row.has2(kSymbol);
        std::string sym = !from_label ? row.str(kSymbol) : row.has2(kLabel) ? s.label : "";
        int guessed;
        s.z = ct_element_cif(sym.c_str(), from_label, &guessed);
        if (s.z < 0)
            block_fail("site %s: element '%s' (Z = %d) is past those crystens knows (H to %s)",
                       s.label.c_str(), sym.c_str(), -s.z, ct_element_symbol(CT_MAX_Z));
        if (!s.z) block_fail("site %s: unknown element '%s'", s.label.c_str(), sym.c_str());
        if (guessed) {
            std::string g = sym + " as " + ct_element_symbol(s.z);
            if (std::find(guesses.begin(), guesses.end(), g) == guesses.end()) guesses.push_back(g);
        }
        s.f[0] = site_number(row, kX, "fract_x", s.label);
        s.f[1] = site_number(row, kY, "fract_y", s.label);
        s.f[2] = site_number(row, kZ, "fract_z", s.label);
        if (row.has2(kOcc)) {
            double occ = site_number(row, kOcc, "occupancy", s.label);
            if (occ < 0.999)
                block_fail("site %s: partial occupancy %g (disordered sites are not supported)",
                           s.label.c_str(), occ);
            if (occ > 1.001) block_fail("site %s: occupancy %g exceeds 1", s.label.c_str(), occ);
        }
        sites.push_back(s);
    }
    return sites;
}

// Squared Cartesian length of the fractional difference a - b, wrapped into
// [-0.5, 0.5): exact for the tiny distances the merge test asks about.
double close_d2(const double a[3], const double b[3], const double m[3][3])
{
    double d[3], c[3] = {0, 0, 0};
    for (int k = 0; k < 3; k++) d[k] = a[k] - b[k] - std::nearbyint(a[k] - b[k]);
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 3; i++) c[k] += d[i] * m[i][k];
    return c[0] * c[0] + c[1] * c[1] + c[2] * c[2];
}

// The atoms placed so far, binned on a periodic grid whose bins are at
// least CT_CIF_MERGE_TOL wide along each axis: two atoms closer than that
// lie in the same or neighbouring bins, so a new image is compared with
// the atoms of 27 bins, not all of them, and expansion stays linear in
// the number of atoms.  Only occupied bins are stored.
class AtomGrid {
public:
    explicit AtomGrid(const double m[3][3])
    {
        double vol = std::fabs(dot(m[0], cross(m[1], m[2]).data()));
        for (int k = 0; k < 3; k++) {
            // The spacing of the lattice planes across axis k.
            std::array<double, 3> c = cross(m[(k + 1) % 3], m[(k + 2) % 3]);
            double width = vol / std::sqrt(dot(c.data(), c.data()));
            double g = std::floor(width / CT_CIF_MERGE_TOL);
            // NaN when the volume overflows (lengths of 1e200 Å): one bin.
            n_[k] = !(g >= 1) ? 1 : g > kMaxBins ? kMaxBins : (int)g;
        }
    }

    // Call f(i) for every atom i near fractional position p (in [0, 1)).
    template <typename F> void near(const std::array<double, 3> &p, F f) const
    {
        int lo[3], cnt[3];
        for (int k = 0; k < 3; k++) {
            cnt[k] = n_[k] < 3 ? n_[k] : 3;   // fewer bins than neighbours
            lo[k] = n_[k] < 3 ? 0 : bin(p[k], k) - 1;
        }
        for (int i = 0; i < cnt[0]; i++)
            for (int j = 0; j < cnt[1]; j++)
                for (int k = 0; k < cnt[2]; k++) {
                    auto it = bins_.find(key(lo[0] + i, lo[1] + j, lo[2] + k));
                    if (it == bins_.end()) continue;
                    for (size_t a : it->second) f(a);
                }
    }

    void add(const std::array<double, 3> &p, size_t i)
    {
        bins_[key(bin(p[0], 0), bin(p[1], 1), bin(p[2], 2))].push_back(i);
    }

private:
    static constexpr int kMaxBins = 1 << 20;
    int n_[3];
    std::unordered_map<uint64_t, std::vector<size_t>> bins_;

    static double dot(const double *a, const double *b)
    {
        return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    }
    static std::array<double, 3> cross(const double *a, const double *b)
    {
        return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
    }
    int bin(double x, int k) const
    {
        int b = (int)(x * n_[k]);
        return b < n_[k] ? b : n_[k] - 1;
    }
    // Bin indices wrap around: -1 is the last bin.
    uint64_t key(int i, int j, int k) const
    {
        auto wrap = [](int b, int n) { return (uint64_t)((b % n + n) % n); };
        return (wrap(i, n_[0]) * (uint64_t)n_[1] + wrap(j, n_[1])) * (uint64_t)n_[2] +
               wrap(k, n_[2]);
    }
};

// Apply every operation to every site; images within CT_CIF_MERGE_TOL of
// an atom already placed are that atom (same element) or an error.
void expand(const std::vector<Site> &sites, const std::vector<gemmi::Op> &ops,
            const double m[3][3], std::vector<int> &z, std::vector<std::array<double, 3>> &f)
{
    const double tol2 = CT_CIF_MERGE_TOL * CT_CIF_MERGE_TOL;
    std::vector<size_t> owner;
    AtomGrid grid(m);
    for (size_t s = 0; s < sites.size(); s++) {
        for (size_t o = 0; o <= ops.size(); o++) {
            std::array<double, 3> p = {sites[s].f[0], sites[s].f[1], sites[s].f[2]};
            if (o > 0) p = ops[o - 1].apply_to_xyz(p);
            for (double &x : p) {
                if (!std::isfinite(x))
                    block_fail("site %s: a symmetry image is off the number line",
                               sites[s].label.c_str());
                x = ct_wrap01(x);
            }
            bool merged = false;
            grid.near(p, [&](size_t a) {
                if (merged || close_d2(p.data(), f[a].data(), m) >= tol2) return;
                if (z[a] != sites[s].z)
                    block_fail("sites %s and %s overlap (different elements closer than %g A)",
                               sites[owner[a]].label.c_str(), sites[s].label.c_str(),
                               CT_CIF_MERGE_TOL);
                merged = true;
            });
            if (merged) continue;
            if (f.size() >= CT_STRUCTURE_MAXATOMS)
                block_fail("more than %d atoms in the cell", CT_STRUCTURE_MAXATOMS);
            grid.add(p, f.size());
            z.push_back(sites[s].z);
            f.push_back(p);
            owner.push_back(s);
        }
    }
}

ct_structure *block_structure(cif::Block &b, Guesses &guesses)
{
    double cell[6], m[3][3];
    ct_error err;
    read_cell(b, cell);
    if (ct_cell_to_matrix(cell, m, &err) != CT_OK) throw BlockError(err.msg);
    int declared;
    std::vector<gemmi::Op> ops = read_ops(b, cell, &declared);
    std::vector<Site> sites = read_sites(b, guesses);
    std::vector<int> z;
    std::vector<std::array<double, 3>> f;
    expand(sites, ops, m, z, f);
    ct_structure *s = ct_structure_new(cell, (int)z.size(), z.data(),
                                       reinterpret_cast<const double (*)[3]>(f.data()), &err);
    if (!s) throw BlockError(err.msg);
    s->declared_spacegroup = declared;
    if (ct_structure_set_name(s, b.name.c_str(), &err) != CT_OK) {
        ct_structure_free(s);
        throw BlockError(err.msg);
    }
    return s;
}

// Append to a malloc'd C array, growing it by doubling (ct_reserve).
template <typename T> void push_c(T *&arr, size_t &n, T v)
{
    void *p = arr;
    if (!ct_reserve(&p, n, sizeof(T))) throw std::bad_alloc();
    arr = static_cast<T *>(p);
    arr[n++] = v;
}

char *dup_or_throw(const char *s)
{
    char *d = strdup(s);
    if (!d) throw std::bad_alloc();
    return d;
}

void add_failure(ct_cif_result *out, const std::string &block, const char *reason)
{
    ct_cif_failure f = {nullptr, nullptr};
    try {
        f.block = dup_or_throw(block.c_str());
        f.reason = dup_or_throw(reason);
        push_c(out->failed, out->nfailed, f);
    } catch (...) {
        std::free(f.block);
        std::free(f.reason);
        throw;
    }
}

void add_warning(ct_cif_result *out, const std::string &text)
{
    char *w = dup_or_throw(text.c_str());
    try {
        push_c(out->warnings, out->nwarnings, w);
    } catch (...) {
        std::free(w);
        throw;
    }
}

// One warning per block whose elements were guessed, naming a few labels.
std::string guess_warning(const std::string &block, const Guesses &g, bool labels)
{
    std::string w = "block " + block + (labels ? ": elements guessed from atom labels "
                                                 "(no _atom_site_type_symbol): "
                                               : ": elements guessed: ");
    for (size_t i = 0; i < g.size() && i < 4; i++) w += (i ? ", " : "") + g[i];
    if (g.size() > 4) w += ", and " + std::to_string(g.size() - 4) + " more";
    return w;
}

void parse_document(const char *text, size_t len, const char *source, ct_cif_result *out)
{
    cif::Document doc;
    tao::pegtl::memory_input<> in(text, len, source);
    cif::parse_input(doc, in);
    for (cif::Block &b : doc.blocks) {
        ct_structure *s = nullptr;
        Guesses guesses;
        try {
            s = block_structure(b, guesses);
        } catch (std::bad_alloc &) {
            throw;
        } catch (std::exception &e) {   // ours, or gemmi's on a malformed item
            add_failure(out, b.name, e.what());
            continue;
        }
        try {
            push_c(out->items, out->n, s);
        } catch (...) {
            ct_structure_free(s);
            throw;
        }
        if (!guesses.empty())
            add_warning(out, guess_warning(b.name, guesses,
                                           !b.find_values("_atom_site_type_symbol")));
    }
}

}  // namespace

extern "C" void ct_cif_result_free(ct_cif_result *r)
{
    for (size_t i = 0; i < r->n; i++) ct_structure_free(r->items[i]);
    for (size_t i = 0; i < r->nfailed; i++) {
        std::free(r->failed[i].block);
        std::free(r->failed[i].reason);
    }
    for (size_t i = 0; i < r->nwarnings; i++) std::free(r->warnings[i]);
    std::free(r->items);
    std::free(r->failed);
    std::free(r->warnings);
    std::memset(r, 0, sizeof *r);
}

extern "C" int ct_cif_parse(const char *text, size_t len, const char *source,
                            ct_cif_result *out, ct_error *err)
{
    std::memset(out, 0, sizeof *out);
    if (!source) source = "string";
    try {
        if (std::memchr(text, '\0', len))
            return ct_fail(err, CT_EFORMAT, "%s: not a CIF file (binary data)", source);
        // A UTF-8 byte order mark, as some Windows editors write, is no CIF text.
        if (len >= 3 && std::memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
            text += 3;
            len -= 3;
        }
        parse_document(text, len, source, out);
        if (out->n + out->nfailed == 0) {
            ct_cif_result_free(out);
            return ct_fail(err, CT_EFORMAT, "%s: no data blocks (empty or not a CIF file)",
                           source);
        }
        return CT_OK;
    } catch (std::bad_alloc &) {
        ct_cif_result_free(out);
        return ct_fail(err, CT_ENOMEM, "%s: out of memory", source);
    } catch (std::exception &e) {
        ct_cif_result_free(out);
        return ct_fail(err, CT_EFORMAT, "%s", e.what());
    } catch (...) {
        ct_cif_result_free(out);
        return ct_fail(err, CT_EFORMAT, "%s: unreadable CIF", source);
    }
}

extern "C" int ct_cif_read(const char *path, ct_cif_result *out, ct_error *err)
{
    std::memset(out, 0, sizeof *out);
    size_t len;
    char *text = ct_file_read_text(path, CT_CIF_MAX_FILE, CT_FILE_MAX_LINE, &len, err);
    if (!text) return CT_EIO;
    int rc = ct_cif_parse(text, len, path, out, err);
    std::free(text);
    return rc;
}
