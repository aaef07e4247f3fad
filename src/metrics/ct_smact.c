/*
 * ct_smact.c - SMACT 2.2's compositional validity: tables, formula parsing
 * and the search for a neutral, electronegativity-ordered combination.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_elements.h"
#include "ct_file.h"
#include "ct_smact.h"

/* Most oxidation states one element has in the table (Os and Ir have 10). */
#define MAX_STATES 16

struct ct_smact {
    int nstates[CT_SMACT_MAXZ + 1];
    int states[CT_SMACT_MAXZ + 1][MAX_STATES];
    double chi[CT_SMACT_MAXZ + 1];     /* NaN where SMACT has None */
    unsigned char known[CT_SMACT_MAXZ + 1];
};

/* SMACT's elements are the periodic table's, symbols from ct_elements. */
_Static_assert(CT_SMACT_MAXZ == CT_NAMED_Z, "SMACT's tables reach Og");

/* smact.metals at tag v2.2: Ge, Sb and Po are in; Pm, Lr, B, Si, As, Te out. */
static const char *const metals[] = {
    "Li", "Be", "Na", "Mg", "Al", "K", "Ca", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co",
    "Ni", "Cu", "Zn", "Ga", "Ge", "Rb", "Sr", "Y", "Zr", "Nb", "Mo", "Tc", "Ru", "Rh",
    "Pd", "Ag", "Cd", "In", "Sn", "Sb", "Cs", "Ba", "La", "Ce", "Pr", "Nd", "Sm", "Eu",
    "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W", "Re", "Os", "Ir",
    "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Po", "Fr", "Ra", "Ac", "Th", "Pa", "U", "Np",
    "Pu", "Am", "Cm", "Bk", "Cf", "Es", "Fm", "Md", "No"
};

const char *ct_smact_symbol(int z)
{
    return ct_element_any_symbol(z);
}

int ct_smact_symbol_z(const char *s, size_t len)
{
    for (int z = 1; z <= CT_SMACT_MAXZ; z++) {
        const char *sym = ct_element_any_symbol(z);
        if (strlen(sym) == len && memcmp(sym, s, len) == 0) return z;
    }
    return 0;
}

int ct_smact_is_metal(int z)
{
    const char *sym = ct_smact_symbol(z);
    for (size_t i = 0; sym && i < CT_COUNTOF(metals); i++)
        if (strcmp(metals[i], sym) == 0) return 1;
    return 0;
}

/* ---- loading the tables ------------------------------------------------- */

/* Split line into at most max whitespace-separated words (in place). */
static int split_words(char *line, char **words, int max)
{
    int n = 0;
    char *save;
    for (char *tok = strtok_r(line, " \t\r", &save); tok; tok = strtok_r(NULL, " \t\r", &save)) {
        if (n == max) return max + 1;
        words[n++] = tok;
    }
    return n;
}

/* Read path and call parse_line(tab, words, nwords) on each line that is not
   blank or a # comment; report the first bad line by file and number. */
static int read_table(ct_smact *tab, const char *dir, const char *name,
                      int (*parse_line)(ct_smact *, char **, int), ct_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t size;
    char *text = ct_file_read_all(path, (size_t)1 << 20, &size, err);
    if (!text) return CT_EIO;
    int lineno = 0, st = CT_OK;
    for (char *line = text, *next; line && st == CT_OK; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        lineno++;
        char *words[24];
        int nw = line[0] == '#' ? 0 : split_words(line, words, 20);
        if (nw > 0 && !parse_line(tab, words, nw)) st = CT_EFORMAT;
    }
    free(text);
    if (st != CT_OK) return ct_fail(err, st, "%s:%d: malformed line", path, lineno);
    return CT_OK;
}

/* "Fe -2 -1 +1 ...": the symbol and its oxidation states. */
static int parse_states_line(ct_smact *tab, char **w, int nw)
{
    int z = ct_smact_symbol_z(w[0], strlen(w[0]));
    if (!z || nw - 1 > MAX_STATES) return 0;
    for (int i = 1; i < nw; i++) {
        char *end;
        long v = strtol(w[i], &end, 10);
        if (*end || v < -8 || v > 8) return 0;
        tab->states[z][i - 1] = (int)v;
    }
    tab->nstates[z] = nw - 1;
    return 1;
}

/* "Symbol Name Z Mass r_cov e_affinity p_eig s_eig Abundance el_neg ...":
   the Z must match the symbol; el_neg (the tenth column) may be None. */
static int parse_element_line(ct_smact *tab, char **w, int nw)
{
    if (nw < 10) return 0;
    int z = ct_smact_symbol_z(w[0], strlen(w[0]));
    if (!z || atoi(w[2]) != z) return 0;
    if (strcmp(w[9], "None") != 0) {
        char *end;
        tab->chi[z] = strtod(w[9], &end);
        if (*end) return 0;
    }
    tab->known[z] = 1;
    return 1;
}

ct_smact *ct_smact_load(const char *dir, ct_error *err)
{
    ct_smact *tab = calloc(1, sizeof *tab);
    if (!tab) {
        ct_fail(err, CT_ENOMEM, "out of memory loading SMACT tables");
        return NULL;
    }
    for (int z = 0; z <= CT_SMACT_MAXZ; z++) tab->chi[z] = (double)NAN;
    if (read_table(tab, dir, "oxidation_states.txt", parse_states_line, err) != CT_OK ||
        read_table(tab, dir, "element_data.txt", parse_element_line, err) != CT_OK) {
        free(tab);
        return NULL;
    }
    return tab;
}

void ct_smact_free(ct_smact *tab)
{
    free(tab);
}

int ct_smact_states(const ct_smact *tab, int z, const int **states)
{
    if (z < 1 || z > CT_SMACT_MAXZ) return 0;
    *states = tab->states[z];
    return tab->nstates[z];
}

double ct_smact_electroneg(const ct_smact *tab, int z)
{
    return z >= 1 && z <= CT_SMACT_MAXZ ? tab->chi[z] : (double)NAN;
}

int ct_smact_known(const ct_smact *tab, int z)
{
    return z >= 1 && z <= CT_SMACT_MAXZ && tab->known[z];
}

const char *ct_smact_verdict_name(ct_smact_verdict v)
{
    switch (v) {
    case CT_SMACT_SINGLE: return "single element";
    case CT_SMACT_ALLOY: return "alloy";
    case CT_SMACT_BALANCED: return "charge balanced";
    case CT_SMACT_UNBALANCED: return "no neutral combination";
    case CT_SMACT_ELECTRONEG: return "electronegativity";
    case CT_SMACT_UNKNOWN: return "element outside SMACT";
    case CT_SMACT_TOO_MANY: return "too many combinations";
    }
    return "?";
}

/* ---- formulas ----------------------------------------------------------- */

int ct_smact_parse_formula(const char *formula, int max, int *z, int64_t *count, int *n,
                           ct_error *err)
{
    const char *p = formula;
    *n = 0;
    while (*p) {
        if (isspace((unsigned char)*p)) {
            p++;
            continue;
        }
        if (!isupper((unsigned char)*p))
            return ct_fail(err, CT_EFORMAT, "formula '%s': unexpected '%c' at position %d",
                           formula, *p, (int)(p - formula) + 1);
        size_t len = islower((unsigned char)p[1]) ? 2 : 1;
        int zz = ct_smact_symbol_z(p, len);
        if (!zz)
            return ct_fail(err, CT_EFORMAT, "formula '%s': unknown element '%.*s'", formula,
                           (int)len, p);
        p += len;
        int64_t c = 1;
        if (isdigit((unsigned char)*p)) {
            char *end;
            errno = 0;
            long long v = strtoll(p, &end, 10);
            if (errno || v < 1 || v > (1LL << 40))
                return ct_fail(err, CT_EFORMAT, "formula '%s': bad count after %s", formula,
                               ct_smact_symbol(zz));
            c = v;
            p = end;
        }
        if (*n == max)
            return ct_fail(err, CT_EINVAL, "formula '%s': more than %d elements", formula, max);
        z[*n] = zz;
        count[(*n)++] = c;
    }
    if (*n == 0) return ct_fail(err, CT_EFORMAT, "formula '%s' names no element", formula);
    return CT_OK;
}

/* ---- the search --------------------------------------------------------- */

/* A composition merged, sorted by Z and gcd-reduced, with its search state. */
typedef struct {
    const ct_smact *tab;
    int n;
    int z[CT_SMACT_MAXZ];
    int64_t count[CT_SMACT_MAXZ];
    double chi[CT_SMACT_MAXZ];
    int64_t lo[CT_SMACT_MAXZ + 1], hi[CT_SMACT_MAXZ + 1];  /* charge range of elements k.. */
    int ox[CT_SMACT_MAXZ];
    int prune_pauling;      /* every chi known: a failing pair fails every completion */
    long nodes;
} search;

/* Fill s from the (z, count) pairs; fail on a bad Z or count. */
static int normalise(search *s, int n, const int *z, const int64_t *count, ct_error *err)
{
    int64_t total[CT_SMACT_MAXZ + 1] = {0};
    for (int i = 0; i < n; i++) {
        if (z[i] < 1 || z[i] > CT_SMACT_MAXZ)
            return ct_fail(err, CT_EINVAL, "atomic number %d out of range 1..%d", z[i],
                           CT_SMACT_MAXZ);
        if (count[i] < 1 || count[i] > ((int64_t)1 << 40))
            return ct_fail(err, CT_EINVAL, "count %lld of element %s is not in 1..2^40",
                           (long long)count[i], ct_smact_symbol(z[i]));
        total[z[i]] += count[i];
    }
    int64_t g = 0;
    s->n = 0;
    for (int zz = 1; zz <= CT_SMACT_MAXZ; zz++) {
        if (!total[zz]) continue;
        s->z[s->n] = zz;
        s->count[s->n++] = total[zz];
        g = ct_gcd(g, total[zz]);
    }
    for (int i = 0; i < s->n; i++) s->count[i] /= g;
    return CT_OK;
}

/* SMACT 2.2's eneg_states_test over the pairs of ox[0..n) (i < j in Z order),
   with a missing chi handled as Python does: a comparison with None raises
   TypeError, which CDVAE turns into a pass; a same-sign pair with a None
   fails.  Return 1 if the combination passes. */
static int pauling_passes(const double *chi, const int *ox, int n)
{
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            int missing = isnan(chi[i]) || isnan(chi[j]);
            if (ox[i] > 0 && ox[j] < 0) {
                if (missing) return 1;
                if (chi[i] >= chi[j]) return 0;
            } else if (ox[i] < 0 && ox[j] > 0) {
                if (missing) return 1;
                if (chi[i] <= chi[j]) return 0;
            } else if (missing) {
                return 0;
            }
        }
    return 1;
}

/* Return 1 if element k's state breaks the Pauling order with an earlier one. */
static int pair_fails(const search *s, int k)
{
    for (int i = 0; i < k; i++) {
        if (s->ox[i] > 0 && s->ox[k] < 0 && s->chi[i] >= s->chi[k]) return 1;
        if (s->ox[i] < 0 && s->ox[k] > 0 && s->chi[i] <= s->chi[k]) return 1;
    }
    return 0;
}

/* Depth-first over elements k..n-1 with partial charge q: return 1 if a
   completion is neutral (and, if pauling, passes the test), 0 if none,
   CT_SMACT_TOO_MANY at the node cap or CT_EINTR on an interrupt. */
static int dfs(search *s, int k, int64_t q, int pauling)
{
    if (++s->nodes > CT_SMACT_MAX_NODES) return CT_SMACT_TOO_MANY;
    if ((s->nodes & 0xffff) == 0 && ct_interrupted()) return CT_EINTR;
    if (k == s->n) return q == 0 && (!pauling || pauling_passes(s->chi, s->ox, s->n));
    const int *st = s->tab->states[s->z[k]];
    for (int i = 0; i < s->tab->nstates[s->z[k]]; i++) {
        int64_t qk = q + st[i] * s->count[k];
        if (qk + s->lo[k + 1] > 0 || qk + s->hi[k + 1] < 0) continue;
        s->ox[k] = st[i];
        if (pauling && s->prune_pauling && pair_fails(s, k)) continue;
        int r = dfs(s, k + 1, qk, pauling);
        if (r != 0) return r;
    }
    return 0;
}

/* Prepare the per-element data and the charge bounds of every suffix. */
static void prepare(search *s, const ct_smact *tab)
{
    s->tab = tab;
    s->prune_pauling = 1;
    s->lo[s->n] = s->hi[s->n] = 0;
    for (int k = s->n - 1; k >= 0; k--) {
        const int *st = tab->states[s->z[k]];
        int ns = tab->nstates[s->z[k]];
        s->chi[k] = tab->chi[s->z[k]];
        if (isnan(s->chi[k])) s->prune_pauling = 0;
        int64_t mn = ns ? st[0] : 0, mx = ns ? st[0] : 0;
        for (int i = 1; i < ns; i++) mn = st[i] < mn ? st[i] : mn, mx = st[i] > mx ? st[i] : mx;
        s->lo[k] = s->lo[k + 1] + mn * s->count[k];
        s->hi[k] = s->hi[k + 1] + mx * s->count[k];
    }
}

/* Rule 4: search with the Pauling test, and if nothing passes, search again
   without it to tell an unbalanced composition from an ill-ordered one. */
static int search_states(search *s, ct_smact_verdict *verdict, ct_error *err)
{
    for (int k = 0; k < s->n; k++)
        if (s->tab->nstates[s->z[k]] == 0) {
            *verdict = CT_SMACT_UNBALANCED;   /* He, Ne, Ar: no combination */
            return CT_OK;
        }
    s->nodes = 0;
    int r = dfs(s, 0, 0, 1);
    if (r == 0) {
        s->nodes = 0;
        r = dfs(s, 0, 0, 0);
        if (r >= 0) {
            *verdict = r ? CT_SMACT_ELECTRONEG : CT_SMACT_UNBALANCED;
            return CT_OK;
        }
    }
    if (r == CT_EINTR) return ct_fail(err, CT_EINTR, "interrupted");
    *verdict = r == CT_SMACT_TOO_MANY ? CT_SMACT_TOO_MANY : CT_SMACT_BALANCED;
    return CT_OK;
}

/* Rules 1-3, which need no search: return their verdict, or 0 if none applies. */
static int simple_rules(const search *s, const ct_smact *tab)
{
    int all_metals = 1;
    for (int k = 0; k < s->n; k++) {
        if (!tab->known[s->z[k]]) return CT_SMACT_UNKNOWN;
        all_metals &= ct_smact_is_metal(s->z[k]);
    }
    if (s->n == 1) return CT_SMACT_SINGLE;
    return all_metals ? CT_SMACT_ALLOY : 0;
}

int ct_smact_valid(const ct_smact *tab, int n, const int *z, const int64_t *count,
                   ct_smact_verdict *verdict, ct_error *err)
{
    if (n < 1) return ct_fail(err, CT_EINVAL, "empty composition");
    search *s = malloc(sizeof *s);
    if (!s) return ct_fail(err, CT_ENOMEM, "out of memory");
    int st = normalise(s, n, z, count, err);
    int rule = st == CT_OK ? simple_rules(s, tab) : 0;
    if (rule) {
        *verdict = (ct_smact_verdict)rule;
    } else if (st == CT_OK) {
        prepare(s, tab);
        st = search_states(s, verdict, err);
    }
    free(s);
    return st;
}
