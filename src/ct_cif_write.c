/*
 * ct_cif_write.c - CIF output: P1 blocks with every atom, or symmetrised
 * blocks (space group, operations, asymmetric unit) of a refined cell.
 *
 * The layout follows what pymatgen writes (the benchmark CSVs hold such
 * files), with both the old _symmetry_* and the current _space_group_*
 * tags, so gemmi, pymatgen and VESTA all read it back.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ct_cif.h"
#include "ct_elements.h"
#include "ct_file.h"
#include "ct_symmetry.h"

/* A growing text buffer; failed is set (and text freed) on the first
   allocation failure, after which appends do nothing. */
typedef struct {
    char *text;
    size_t len, cap;
    int failed;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->text ? b->text + b->len : NULL, b->text ? b->cap - b->len : 0,
                          fmt, ap);
        va_end(ap);
        if (n < 0) break;
        if (b->text && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap <= b->len + (size_t)n) cap *= 2;
        char *t = realloc(b->text, cap);
        if (!t) break;
        b->text = t;
        b->cap = cap;
    }
    free(b->text);
    b->text = NULL;
    b->failed = 1;
}

/* Hand over the text, or fail with CT_ENOMEM. */
static char *sb_finish(sbuf *b, ct_error *err)
{
    if (b->failed || !b->text) ct_fail(err, CT_ENOMEM, "out of memory formatting CIF");
    return b->failed ? NULL : b->text;
}

/* data_ names may not hold whitespace; an empty name becomes the formula. */
static void put_header(sbuf *b, const ct_structure *s, const char *name)
{
    char formula[256];
    ct_structure_formula(s, formula, sizeof formula);
    if (!name || !*name) name = formula;
    sb_printf(b, "data_");
    for (const char *p = name; *p; p++)
        sb_printf(b, "%c", (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') ? '_' : *p);
    sb_printf(b, "\n");
}

static void put_cell(sbuf *b, const ct_structure *s)
{
    static const char *const tags[6] = {"_cell_length_a", "_cell_length_b", "_cell_length_c",
                                        "_cell_angle_alpha", "_cell_angle_beta",
                                        "_cell_angle_gamma"};
    for (int i = 0; i < 6; i++) sb_printf(b, "%s   %.8f\n", tags[i], s->cell[i]);
    sb_printf(b, "_cell_volume   %.8f\n", ct_structure_volume(s));
}

/* The sum formula with spaces, "Na4 Cl4", as _chemical_formula_sum wants. */
static void put_formula(sbuf *b, const ct_structure *s)
{
    char f[512], *p = f;
    ct_structure_formula(s, f, sizeof f);
    sb_printf(b, "_chemical_formula_sum   '");
    for (int first = 1; *p; first = 0) {
        size_t n = 1;
        while (p[n] && !(p[n] >= 'A' && p[n] <= 'Z')) n++;
        sb_printf(b, "%s%.*s", first ? "" : " ", (int)n, p);
        p += n;
    }
    sb_printf(b, "'\n");
}

static void put_atom_loop(sbuf *b, const ct_structure *s, const int *which, int n)
{
    sb_printf(b, "loop_\n _atom_site_type_symbol\n _atom_site_label\n"
                 " _atom_site_fract_x\n _atom_site_fract_y\n _atom_site_fract_z\n"
                 " _atom_site_occupancy\n");
    for (int k = 0; k < n; k++) {
        int i = which ? which[k] : k;
        const char *sym = ct_element_symbol(s->z[i]);
        sb_printf(b, "  %s  %s%d  %.8f  %.8f  %.8f  1\n", sym, sym, k, s->frac[i][0],
                  s->frac[i][1], s->frac[i][2]);
    }
}

char *ct_cif_format(const ct_structure *s, ct_error *err)
{
    sbuf b = {0};
    put_header(&b, s, s->name);
    sb_printf(&b, "_symmetry_space_group_name_H-M   'P 1'\n");
    put_cell(&b, s);
    sb_printf(&b, "_symmetry_Int_Tables_number   1\n");
    put_formula(&b, s);
    sb_printf(&b, "loop_\n _symmetry_equiv_pos_site_id\n _symmetry_equiv_pos_as_xyz\n"
                  "  1  'x, y, z'\n");
    put_atom_loop(&b, s, NULL, s->natoms);
    return sb_finish(&b, err);
}

/* Write one row of an operation, "-x+y+1/3", in the usual CIF style. */
static void put_op_row(sbuf *b, const int r[3], double t)
{
    static const char axis[3] = {'x', 'y', 'z'};
    int first = 1;
    for (int j = 0; j < 3; j++) {
        if (!r[j]) continue;
        const char *sign = r[j] < 0 ? "-" : first ? "" : "+";
        if (abs(r[j]) == 1) sb_printf(b, "%s%c", sign, axis[j]);
        else sb_printf(b, "%s%d%c", sign, abs(r[j]), axis[j]);
        first = 0;
    }
    t -= floor(t);
    if (t > 1e-6 && t < 1 - 1e-6) {
        int den = 1;
        while (den < 24 && fabs(t * den - nearbyint(t * den)) > 1e-6) den++;
        sb_printf(b, "+%d/%d", (int)nearbyint(t * den), den);
    }
    if (first && !(t > 1e-6 && t < 1 - 1e-6)) sb_printf(b, "0");
}

char *ct_cif_format_symmetrized(const ct_symmetrized *sym, const char *name, ct_error *err)
{
    sbuf b = {0};
    const ct_structure *s = sym->cell;
    put_header(&b, s, name);
    sb_printf(&b, "_symmetry_space_group_name_H-M   '%s'\n", sym->hm);
    sb_printf(&b, "_space_group_name_H-M_alt   '%s'\n", sym->hm);
    put_cell(&b, s);
    sb_printf(&b, "_symmetry_Int_Tables_number   %d\n", sym->number);
    sb_printf(&b, "_space_group_IT_number   %d\n", sym->number);
    put_formula(&b, s);
    sb_printf(&b, "loop_\n _symmetry_equiv_pos_site_id\n _symmetry_equiv_pos_as_xyz\n");
    for (int k = 0; k < sym->nops; k++) {
        sb_printf(&b, "  %d  '", k + 1);
        for (int i = 0; i < 3; i++) {
            put_op_row(&b, sym->rot[k][i], sym->trans[k][i]);
            sb_printf(&b, i < 2 ? ", " : "'\n");
        }
    }
    put_atom_loop(&b, s, sym->asym, sym->nasym);
    return sb_finish(&b, err);
}

/* Format structure s, symmetrised when symprec > 0. */
static char *format_one(const ct_structure *s, double symprec, ct_error *err)
{
    if (symprec <= 0) return ct_cif_format(s, err);
    ct_symmetrized sym;
    if (ct_symmetry_refine(s, symprec, &sym, err) != CT_OK) return NULL;
    char *text = ct_cif_format_symmetrized(&sym, s->name, err);
    ct_symmetrized_free(&sym);
    return text;
}

int ct_cif_write(ct_structure *const *s, size_t n, const char *path, double symprec,
                 ct_error *err)
{
    ct_file f;
    int rc = ct_file_open(&f, path, err);
    if (rc != CT_OK) return rc;
    for (size_t i = 0; i < n; i++) {
        char *text = format_one(s[i], symprec, err);
        if (!text) {
            ct_file_abort(&f);
            return CT_EINVAL;
        }
        int bad = fputs(text, f.fp) < 0 || (i + 1 < n && fputc('\n', f.fp) < 0);
        free(text);
        if (bad) {
            ct_file_abort(&f);
            return ct_fail(err, CT_EIO, "%s: write failed", path);
        }
    }
    return ct_file_commit(&f, err);
}

/* The file name of structure i of n in a folder: its 1-based number,
   zero-padded to the width of n, then its name with anything but letters,
   digits, '-', '_' and '.' made '_' (so a block name cannot leave dir). */
static void file_name(const ct_structure *s, size_t i, size_t n, char *buf, size_t size)
{
    int width = snprintf(NULL, 0, "%zu", n);
    int len = snprintf(buf, size, "%0*zu", width < 4 ? 4 : width, i + 1);
    const char *name = s->name ? s->name : "";
    if (*name && (size_t)len + 2 < size) buf[len++] = '_';
    for (const char *c = name; *c && (size_t)len + 5 < size && len < 80; c++)
        buf[len++] = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                     (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' ||
                     (*c == '.' && c != name) ? *c : '_';
    snprintf(buf + len, size - (size_t)len, ".cif");
}

int ct_cif_write_dir(ct_structure *const *s, size_t n, const char *dir, double symprec,
                     size_t *written, ct_error *err)
{
    *written = 0;
    struct stat st;
    if (stat(dir, &st) != 0 && mkdir(dir, 0777) != 0)
        return ct_fail(err, CT_EIO, "%s: cannot create the folder: %s", dir, strerror(errno));
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return ct_fail(err, CT_EIO, "%s: not a folder", dir);
    size_t dl = strlen(dir);
    char *path = malloc(dl + 128);
    if (!path) return ct_fail(err, CT_ENOMEM, "out of memory");
    int rc = CT_OK;
    for (size_t i = 0; i < n && rc == CT_OK; i++) {
        if (!s[i]) continue;
        int sep = dl && dir[dl - 1] != '/';
        memcpy(path, dir, dl);
        if (sep) path[dl] = '/';
        file_name(s[i], i, n, path + dl + sep, 120);
        rc = ct_cif_write(s + i, 1, path, symprec, err);
        *written += rc == CT_OK;
    }
    free(path);
    return rc;
}
