/*
 * lua_metrics.c - the crystens.metrics_core module: the C measures under
 * ct.metrics (lua/crystens/metrics.lua merges them into its own table and
 * adds the policy: where the SMACT tables live, shared histogram bins).
 *
 * Samples are Lua arrays of numbers or 1-D tensors; they are copied into
 * double buffers held by userdata, so an error half-way leaks nothing.
 * A SmactTable userdata owns one ct_smact; __gc releases it.
 */
#include <math.h>

#include "ct_smact.h"
#include "ct_stats.h"
#include "lua_ct.h"

/* Push a buffer of n doubles owned by the collector and return it. */
static double *new_buffer(lua_State *L, size_t n)
{
    return lua_newuserdatauv(L, (n ? n : 1) * sizeof(double), 0);
}

/* Copy the sample at idx (array of numbers or 1-D tensor) into a buffer
   pushed on the stack; return it and its length in *n. */
static double *check_sample(lua_State *L, int idx, size_t *n)
{
    ct_tensor *t = ctL_totensor(L, idx);
    if (t) {
        if (t->ndim != 1) {
            char shape[64];
            ct_tensor_shape_str(t, shape, sizeof shape);
            luaL_argerror(L, idx, lua_pushfstring(L, "expected 1-D tensor, got %d-D %s",
                                                  t->ndim, shape));
        }
        double *x = new_buffer(L, t->numel);
        for (size_t i = 0; i < t->numel; i++) x[i] = (double)t->data[i];
        *n = t->numel;
        return x;
    }
    luaL_argexpected(L, lua_istable(L, idx), idx, "array of numbers or 1-D tensor");
    lua_Integer len = luaL_len(L, idx);
    double *x = new_buffer(L, (size_t)len);
    for (lua_Integer i = 1; i <= len; i++) {
        int isnum;
        lua_geti(L, idx, i);
        x[i - 1] = lua_tonumberx(L, -1, &isnum);
        if (!isnum)
            luaL_argerror(L, idx, lua_pushfstring(L, "item %d is a %s, not a number", (int)i,
                                                  luaL_typename(L, -1)));
        lua_pop(L, 1);
    }
    *n = (size_t)len;
    return x;
}

static int m_ks(lua_State *L)
{
    size_t na, nb;
    double *a = check_sample(L, 1, &na), *b = check_sample(L, 2, &nb);
    ct_error err;
    ct_ks_result r;
    int st = ct_stats_ks(a, na, b, nb, &r, &err);
    if (st != CT_OK) return ctL_raise(L, &err, st);
    static const ctL_Field fields[] = {CTL_FIELD(ct_ks_result, CTL_F_DOUBLE, statistic),
                                       CTL_FIELD(ct_ks_result, CTL_F_DOUBLE, pvalue), {NULL, 0, 0}};
    ctL_pushfields(L, &r, fields);
    return 1;
}

static int m_wasserstein(lua_State *L)
{
    size_t na, nb;
    double *a = check_sample(L, 1, &na), *b = check_sample(L, 2, &nb);
    ct_error err;
    double w;
    int st = ct_stats_wasserstein(a, na, b, nb, &w, &err);
    if (st != CT_OK) return ctL_raise(L, &err, st);
    lua_pushnumber(L, w);
    return 1;
}

static int m_shared_range(lua_State *L)
{
    size_t na, nb;
    double *a = check_sample(L, 1, &na), *b = check_sample(L, 2, &nb);
    ct_error err;
    double lo, hi;
    int st = ct_stats_shared_range(a, na, b, nb, &lo, &hi, &err);
    if (st != CT_OK) return ctL_raise(L, &err, st);
    lua_pushnumber(L, lo);
    lua_pushnumber(L, hi);
    return 2;
}

static int m_edges(lua_State *L)
{
    double lo = luaL_checknumber(L, 1), hi = luaL_checknumber(L, 2);
    lua_Integer nbins = luaL_checkinteger(L, 3);
    luaL_argcheck(L, nbins >= 1 && nbins <= 100000, 3, "expected 1 to 100000 bins");
    luaL_argcheck(L, lo < hi, 2, "upper end must exceed the lower");
    double *e = new_buffer(L, (size_t)nbins + 1);
    ct_stats_edges(lo, hi, (int)nbins, e);
    ctL_pushnumbers(L, e, (size_t)nbins + 1);
    return 1;
}

static int m_histogram(lua_State *L)
{
    size_t n, ne;
    double *x = check_sample(L, 1, &n), *edges = check_sample(L, 2, &ne);
    luaL_argcheck(L, ne >= 2 && ne <= 100001, 2, "expected 2 to 100001 bin edges");
    int nbins = (int)ne - 1;
    size_t *counts = lua_newuserdatauv(L, (size_t)nbins * sizeof *counts, 0);
    ct_error err;
    int st = ct_stats_histogram(x, n, edges, nbins, counts, &err);
    if (st != CT_OK) return ctL_raise(L, &err, st);
    lua_createtable(L, nbins, 0);
    for (int k = 0; k < nbins; k++) {
        lua_pushinteger(L, (lua_Integer)counts[k]);
        lua_rawseti(L, -2, k + 1);
    }
    return 1;
}

/* ---- SMACT ---------------------------------------------------------------- */

static ct_smact *check_smact(lua_State *L, int idx)
{
    return ctL_checkbox(L, idx, CTL_SMACT, "SMACT table");
}

static int smact_gc(lua_State *L)
{
    ct_smact_free(ctL_takebox(L, 1, CTL_SMACT));
    return 0;
}

static void *smact_load(const char *dir, ct_error *err)
{
    return ct_smact_load(dir, err);
}

static int m_smact_load(lua_State *L)
{
    ctL_loadbox(L, CTL_SMACT, smact_load);
    return 1;
}

/* Read item i of the composition table at idx: a {Z, count} pair or a bare
   atomic number (one atom). */
static void composition_item(lua_State *L, int idx, lua_Integer i, int *z, int64_t *count)
{
    int isnum, isnum2;
    if (lua_geti(L, idx, i) == LUA_TTABLE) {
        lua_geti(L, -1, 1);
        lua_geti(L, -2, 2);
        *z = (int)lua_tointegerx(L, -2, &isnum);
        *count = (int64_t)lua_tointegerx(L, -1, &isnum2);
        if (!isnum || !isnum2)
            luaL_argerror(L, idx, lua_pushfstring(L, "item %d is not a {Z, count} pair of "
                                                  "integers", (int)i));
        lua_pop(L, 3);
        return;
    }
    *z = (int)lua_tointegerx(L, -1, &isnum);
    *count = 1;
    if (!isnum)
        luaL_argerror(L, idx, lua_pushfstring(L, "item %d is neither an atomic number nor a "
                                              "{Z, count} pair", (int)i));
    lua_pop(L, 1);
}

/* Read the composition at idx into collector-owned arrays; return n. */
static int check_composition(lua_State *L, int idx, int **z, int64_t **count)
{
    ct_error err;
    int n;
    if (lua_type(L, idx) == LUA_TSTRING) {
        size_t len;
        const char *f = lua_tolstring(L, idx, &len);
        int max = (int)(len < 4096 ? len + 1 : 4096);
        *z = lua_newuserdatauv(L, (size_t)max * sizeof **z, 0);
        *count = lua_newuserdatauv(L, (size_t)max * sizeof **count, 0);
        int rc = ct_smact_parse_formula(f, max, *z, *count, &n, &err);
        if (rc != CT_OK) ctL_argraise(L, idx, &err, rc);
        return n;
    }
    luaL_argexpected(L, lua_istable(L, idx), idx, "formula string or composition table");
    lua_Integer len = luaL_len(L, idx);
    luaL_argcheck(L, len >= 1 && len <= 1000000, idx, "empty composition");
    *z = lua_newuserdatauv(L, (size_t)len * sizeof **z, 0);
    *count = lua_newuserdatauv(L, (size_t)len * sizeof **count, 0);
    for (lua_Integer i = 1; i <= len; i++) composition_item(L, idx, i, *z + i - 1, *count + i - 1);
    return (int)len;
}

static int smact_valid(lua_State *L)
{
    ct_smact *tab = check_smact(L, 1);
    int *z;
    int64_t *count;
    int n = check_composition(L, 2, &z, &count);
    ct_error err;
    ct_smact_verdict v;
    int st = ct_smact_valid(tab, n, z, count, &v, &err);
    if (st != CT_OK) return ctL_argraise(L, 2, &err, st);
    lua_pushboolean(L, v > 0);
    lua_pushstring(L, ct_smact_verdict_name(v));
    return 2;
}

static int smact_states(lua_State *L)
{
    ct_smact *tab = check_smact(L, 1);
    lua_Integer z = luaL_checkinteger(L, 2);
    luaL_argcheck(L, z >= 1 && z <= CT_SMACT_MAXZ, 2, "atomic number out of range 1..118");
    const int *st;
    int n = ct_smact_states(tab, (int)z, &st);
    ctL_pushints(L, st, (size_t)n);
    return 1;
}

static int smact_electroneg(lua_State *L)
{
    ct_smact *tab = check_smact(L, 1);
    lua_Integer z = luaL_checkinteger(L, 2);
    luaL_argcheck(L, z >= 1 && z <= CT_SMACT_MAXZ, 2, "atomic number out of range 1..118");
    double chi = ct_smact_electroneg(tab, (int)z);
    if (isnan(chi)) lua_pushnil(L);
    else lua_pushnumber(L, chi);
    return 1;
}

static int m_parse_formula(lua_State *L)
{
    luaL_checkstring(L, 1);
    int *z;
    int64_t *count;
    int n = check_composition(L, 1, &z, &count);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_createtable(L, 2, 0);
        lua_pushinteger(L, z[i]);
        lua_rawseti(L, -2, 1);
        lua_pushinteger(L, (lua_Integer)count[i]);
        lua_rawseti(L, -2, 2);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int m_symbol(lua_State *L)
{
    lua_Integer z = luaL_checkinteger(L, 1);
    const char *s = ct_smact_symbol((int)z);
    luaL_argcheck(L, s != NULL, 1, "atomic number out of range 1..118");
    lua_pushstring(L, s);
    return 1;
}

static const ctL_Reg smact_methods[] = {
    {"valid", smact_valid,
     "tab:valid(composition) -> valid, reason. Apply SMACT 2.2's compositional validity "
     "(metrics.md 4.4) to a formula (\"NaCl2\"), a list of {Z, count} pairs, or a list of "
     "atomic numbers one per atom. reason is \"single element\", \"alloy\", \"charge "
     "balanced\", \"no neutral combination\", \"electronegativity\", \"element outside "
     "SMACT\" (Z > 103) or \"too many combinations\" (the search cap)."},
    {"states", smact_states,
     "tab:states(Z) -> array. SMACT 2.2's default oxidation states of element Z."},
    {"electroneg", smact_electroneg,
     "tab:electroneg(Z) -> number or nil. SMACT's Pauling electronegativity of Z (nil "
     "where SMACT has None)."},
    {NULL, NULL, NULL}
};

static const ctL_Reg metrics_funcs[] = {
    {"ks", m_ks,
     "ks(a, b) -> {statistic, pvalue}. Two-sample Kolmogorov-Smirnov test of two samples "
     "(arrays of numbers or 1-D tensors): D = sup |F_a - F_b| as scipy's ks_2samp, and "
     "the asymptotic p-value (Stephens' approximation)."},
    {"wasserstein", m_wasserstein,
     "wasserstein(a, b) -> number. Wasserstein-1 distance between the empirical "
     "distributions of two samples, the integral of |F_a - F_b| "
     "(scipy.stats.wasserstein_distance)."},
    {"shared_range", m_shared_range,
     "shared_range(a, b) -> lo, hi. The range covering both samples (width 1 around a "
     "constant sample)."},
    {"edges", m_edges,
     "edges(lo, hi, nbins) -> array. The nbins + 1 edges of nbins equal bins over [lo, hi]."},
    {"histogram", m_histogram,
     "histogram(x, edges) -> array of counts. Count x into bins edges[k] <= v < edges[k+1], "
     "the last bin closed (numpy's rule); values outside are left out."},
    {"smact_load", m_smact_load,
     "smact_load(dir) -> SmactTable. Load SMACT's oxidation_states.txt and "
     "element_data.txt from dir (ct.metrics.smact_valid loads the installed ones)."},
    {"parse_formula", m_parse_formula,
     "parse_formula(s) -> array of {Z, count}. Parse a formula such as \"NaCl2\" or "
     "\"Ga4 Te4\" (no parentheses), repeats kept in order."},
    {"symbol", m_symbol, "symbol(Z) -> string. The element symbol of Z (1..118)."},
    {NULL, NULL, NULL}
};

int luaopen_crystens_metrics_core(lua_State *L)
{
    ctL_newclass(L, CTL_SMACT, smact_methods, smact_gc, NULL);
    ctL_newlib(L, metrics_funcs, "The C measures of ct.metrics (K-S, Wasserstein-1, "
                                 "histograms, SMACT validity); use ct.metrics.");
    return 1;
}
