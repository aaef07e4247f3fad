/*
 * lua_kmeans.c - the crystens.kmeans module: ct.kmeans(values, k_or_opts).
 *
 * The module table is callable (its metatable's __call forwards to
 * kmeans.cluster), so ct.kmeans(values, 3) reads as the operation it is.
 * Values come as a Lua array of numbers, an array of equal-length arrays
 * (points of d dimensions), or a 1-D or 2-D tensor; they are copied into a
 * userdata buffer, which the collector reclaims even when a check fails.
 */
#include <math.h>

#include "ct_kmeans.h"
#include "lua_ct.h"

#define RESULT_MT "crystens.kmeans.result"

/* Copy the values at idx into a new double buffer (left on the stack). */
static double *check_values(lua_State *L, int idx, int *n, int *d)
{
    ct_tensor *t = ctL_totensor(L, idx);
    if (t) {
        if (t->ndim != 1 && t->ndim != 2)
            luaL_argerror(L, idx, lua_pushfstring(L, "expected 1-D or 2-D tensor (n values or "
                                                  "n×d points), got %d-D", t->ndim));
        if (t->shape[0] > INT32_MAX / 64 || (t->ndim == 2 && t->shape[1] > 4096))
            luaL_argerror(L, idx, "tensor too large");
        *n = (int)t->shape[0];
        *d = t->ndim == 2 ? (int)t->shape[1] : 1;
        if (*n == 0 || *d == 0) luaL_argerror(L, idx, "empty input");
        double *x = lua_newuserdatauv(L, t->numel * sizeof *x, 0);
        for (size_t i = 0; i < t->numel; i++) x[i] = (double)t->data[i];
        return x;
    }
    if (!lua_istable(L, idx)) luaL_typeerror(L, idx, "array of numbers, array of arrays or tensor");
    lua_Integer len = luaL_len(L, idx);
    if (len == 0) luaL_argerror(L, idx, "empty input");
    if (len > INT32_MAX / 64) luaL_argerror(L, idx, "too many values");
    *n = (int)len;
    *d = 1;
    if (lua_geti(L, idx, 1) == LUA_TTABLE) {
        lua_Integer dl = luaL_len(L, -1);
        if (dl < 1 || dl > 4096) luaL_argerror(L, idx, "point 1 must hold 1 to 4096 numbers");
        *d = (int)dl;
    }
    lua_pop(L, 1);
    double *x = lua_newuserdatauv(L, (size_t)*n * *d * sizeof *x, 0);
    for (int i = 0; i < *n; i++) {
        int type = lua_geti(L, idx, i + 1);
        if (*d == 1 && type != LUA_TTABLE) {
            int isnum;
            x[i] = lua_tonumberx(L, -1, &isnum);
            if (!isnum) luaL_argerror(L, idx, lua_pushfstring(L, "value %d is not a number", i + 1));
        } else {
            if (type != LUA_TTABLE || luaL_len(L, -1) != *d)
                luaL_argerror(L, idx, lua_pushfstring(L, "point %d is not an array of %d numbers",
                                                      i + 1, *d));
            for (int j = 0; j < *d; j++) {
                int isnum;
                lua_geti(L, -1, j + 1);
                x[(size_t)i * *d + j] = lua_tonumberx(L, -1, &isnum);
                if (!isnum)
                    luaL_argerror(L, idx, lua_pushfstring(L, "point %d, coordinate %d is not a "
                                                          "number", i + 1, j + 1));
                lua_pop(L, 1);
            }
        }
        lua_pop(L, 1);
    }
    return x;
}

/* Raise for the first NaN or infinite value. */
static void check_finite(lua_State *L, int idx, const double *x, int n, int d)
{
    for (size_t i = 0; i < (size_t)n * d; i++)
        if (!isfinite(x[i]))
            luaL_argerror(L, idx, lua_pushfstring(L, "value %d is %s", (int)(i / d) + 1,
                                                  isnan(x[i]) ? "NaN" : "infinite"));
}

static const char *const option_names[] = {
    "k", "auto", "seed", "max_k", "periodic", "restarts", "max_iter", "exact", "integer",
    "sep", "noise", NULL
};

/* Option name as a finite number >= lo. */
static double opt_num(ctL_Opts *o, const char *name, double def, double lo)
{
    double v = ctL_opt_number(o, name, def);
    if (ctL_opt_given(o, name) && (!(v >= lo) || !isfinite(v))) ctL_opt_error(o, name, "must be a finite number >= %f", lo);
    return v;
}

/* Return k if it is a valid number of clusters for n values, else raise. */
static int check_k(lua_State *L, lua_Integer k, int n)
{
    if (k < 1) luaL_argerror(L, 2, lua_pushfstring(L, "k must be at least 1, got %I", k));
    if (k > n)
        luaL_argerror(L, 2, lua_pushfstring(L, "k = %I exceeds the number of values (%d)", k, n));
    if (k > CT_KMEANS_MAXK)
        luaL_argerror(L, 2, lua_pushfstring(L, "k must be at most %d", CT_KMEANS_MAXK));
    return (int)k;
}

/* Read argument 2 (nil, k, or an options table) into p. */
static void check_params(lua_State *L, int n, ct_kmeans_params *p)
{
    ct_kmeans_params_init(p);
    if (lua_isnoneornil(L, 2)) return;
    if (!lua_istable(L, 2)) {
        int isint;
        lua_Integer k = lua_tointegerx(L, 2, &isint);
        if (!isint) luaL_typeerror(L, 2, "integer k or options table");
        p->k = check_k(L, k, n);
        return;
    }
    ctL_Opts o;
    ctL_optoptions(L, &o, 2, "ct.kmeans", option_names);
    int automatic = ctL_opt_boolean(&o, "auto", 0);
    if (ctL_opt_given(&o, "k") && automatic)
        luaL_argerror(L, 2, "give k or auto = true, not both");
    if (ctL_opt_given(&o, "k")) p->k = check_k(L, ctL_opt_integer(&o, "k", 0), n);
    p->seed = (uint64_t)ctL_opt_integer(&o, "seed", 1);
    p->max_k = (int)ctL_opt_range(&o, "max_k", 0, 1, CT_KMEANS_MAXK);
    p->restarts = (int)ctL_opt_range(&o, "restarts", p->restarts, 1, 100000);
    p->max_iter = (int)ctL_opt_range(&o, "max_iter", p->max_iter, 1, 10000000);
    p->periodic = ctL_opt_boolean(&o, "periodic", 0);
    p->exact = ctL_opt_boolean(&o, "exact", 1);
    p->integer = ctL_opt_boolean(&o, "integer", 0);
    p->sep = opt_num(&o, "sep", p->sep, 1e-300);
    p->noise = opt_num(&o, "noise", p->noise, 0);
}

/* The result box: its __gc frees the arrays if building the table fails. */
static int result_gc(lua_State *L)
{
    ct_kmeans_result_free(luaL_checkudata(L, 1, RESULT_MT));
    return 0;
}

/* Push {[k] = a[k]} for the entries of a that were evaluated. */
static void push_per_k(lua_State *L, const double *a, int max_k)
{
    lua_createtable(L, max_k, 0);
    for (int k = 1; k <= max_k; k++)
        if (!isnan(a[k])) {
            lua_pushnumber(L, a[k]);
            lua_rawseti(L, -2, k);
        }
}

#define RESULT(type, field) CTL_FIELD(ct_kmeans_result, type, field)
static const ctL_Field result_fields[] = {
    RESULT(CTL_F_INT, k), RESULT(CTL_F_DOUBLE, inertia), RESULT(CTL_F_DOUBLE, sep),
    RESULT(CTL_F_DOUBLE, noise), {NULL, 0, 0}
};

static void push_result(lua_State *L, const ct_kmeans_result *r)
{
    lua_createtable(L, 0, 10);
    lua_createtable(L, r->n, 0);
    for (int i = 0; i < r->n; i++) {
        lua_pushinteger(L, r->labels[i] + 1);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "labels");
    lua_createtable(L, r->k, 0);
    for (int j = 0; j < r->k; j++) {
        const double *c = r->centroids + (size_t)j * r->d;
        if (r->d == 1) {
            lua_pushnumber(L, c[0]);
        } else {
            lua_createtable(L, r->d, 0);
            for (int t = 0; t < r->d; t++) {
                lua_pushnumber(L, c[t]);
                lua_rawseti(L, -2, t + 1);
            }
        }
        lua_rawseti(L, -2, j + 1);
    }
    lua_setfield(L, -2, "centroids");
    ctL_setfields(L, r, result_fields);
    push_per_k(L, r->scores, r->max_k);
    lua_setfield(L, -2, "scores");
    push_per_k(L, r->inertias, r->max_k);
    lua_setfield(L, -2, "inertias");
    lua_pushstring(L, r->criterion);
    lua_setfield(L, -2, "criterion");
}

static int k_cluster(lua_State *L)
{
    int n, d;
    lua_settop(L, 2);   /* the buffer goes above an absent argument 2 */
    double *x = check_values(L, 1, &n, &d);                  /* +buffer */
    check_finite(L, 1, x, n, d);
    ct_kmeans_params p;
    check_params(L, n, &p);
    if (p.periodic && d != 1)
        luaL_argerror(L, 2, lua_pushfstring(L, "periodic needs 1-D values, got %d-D points", d));
    ct_kmeans_result *r = ctL_newudata(L, sizeof *r, 0, RESULT_MT);  /* +box */
    ct_error err;
    int rc = ct_kmeans(x, n, d, &p, r, &err);
    if (rc != CT_OK) return ctL_raise(L, &err, rc);
    push_result(L, r);                                         /* +table */
    ct_kmeans_result_free(r);
    return 1;
}

/* __call(module, values, k_or_opts): drop the module and cluster. */
static int k_call(lua_State *L)
{
    lua_remove(L, 1);
    return k_cluster(L);
}

#define CLUSTER_DOC \
    "kmeans(values, k_or_opts) -> result. Cluster values (a Lua array of numbers, an array " \
    "of equal-length arrays, or a 1-D or 2-D tensor) into k groups, or choose k " \
    "automatically (no second argument, or {auto=true}). Returns {labels (1-based, clusters " \
    "in ascending centroid order), centroids, k, inertia, scores={[K]=score}, inertias=" \
    "{[K]=inertia}, criterion, sep, noise}. 1-D values are clustered exactly by dynamic " \
    "programming; n-D points by Lloyd's algorithm from k-means++ seeds (restarts, seed). " \
    "Options: k, auto, max_k (default 16), seed (1), restarts (10), max_iter (300), " \
    "periodic (1-D values on a circle of period 1: 0.99 and 0.01 are 0.02 apart), exact " \
    "(false: Lloyd for 1-D too), integer, sep (4), noise. Automatic K (criterion " \
    "\"separation\"): the largest K whose neighbouring centroids are all more than sep " \
    "times s_K apart, s_K = max(pooled within-cluster std, noise); scores[K] is that ratio " \
    "(plot it to see why K matters). With integer=true the centroids must also round to " \
    "distinct integers (atomic numbers: 12.2 12.6 12.4 12.5 7.7 7.4 8.4 8.5 -> K = 2). " \
    "Noisy data need noise (the expected noise std) or integer, or single values split off; " \
    "the default noise only absorbs rounding."

static const ctL_Reg kmeans_funcs[] = {
    {"cluster", k_cluster, CLUSTER_DOC},
    {NULL, NULL, NULL}
};

int luaopen_crystens_kmeans(lua_State *L)
{
    ctL_newclass(L, RESULT_MT, NULL, result_gc, NULL);
    ctL_newlib(L, kmeans_funcs, "crystens.kmeans: " CLUSTER_DOC
               " The module is callable: ct.kmeans(values, k) is ct.kmeans.cluster(values, k).");
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, k_call);
    lua_setfield(L, -2, "__call");
    lua_setmetatable(L, -2);
    return 1;
}
