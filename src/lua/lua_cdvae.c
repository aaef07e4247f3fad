/*
 * lua_cdvae.c - the crystens.cdvae_core module: the C half of the CDVAE
 * protocol and the symmetry / uniqueness / novelty measures, which
 * lua/crystens/metrics_cdvae.lua adds to ct.metrics with their policy
 * (thresholds per data set, sampling, conventions).
 *
 * Lists are Lua arrays of Structures (false where a crystal could not be
 * built) or Datasets.  A Fingerprints userdata holds n vectors of one
 * dimension as doubles with a mask of the crystals that have one; a
 * MagpieTable owns a ct_magpie.  Per-structure work runs over threads.
 */
#include <math.h>
#include <string.h>

#include "ct_coverage.h"
#include "ct_magpie.h"
#include "ct_match.h"
#include "ct_parallel.h"
#include "ct_smact.h"
#include "ct_symmetry.h"
#include "ct_validity.h"
#include "lua_structure.h"

#define CTL_MAGPIE "crystens.MagpieTable"
#define CTL_FINGERPRINTS "crystens.Fingerprints"
/* Fingerprints live in the userdata itself, so the collector sees their
   bytes and there is nothing to free. */
typedef struct {
    size_t n;
    int dim;
    unsigned char *ok;      /* n: has a fingerprint (after v) */
    double v[];             /* n × dim */
} ud_fp;

/* ---- Arguments ---------------------------------------------------------------- */

static ct_magpie *check_magpie(lua_State *L, int idx)
{
    return ctL_checkbox(L, idx, CTL_MAGPIE, "Magpie table");
}

static ud_fp *check_fp(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, CTL_FINGERPRINTS);
}

/* Push a Fingerprints userdata of n × dim zeros, none marked present. */
static ud_fp *new_fp(lua_State *L, size_t n, int dim)
{
    size_t nv = n * (size_t)dim;
    ud_fp *u = ctL_newudata(L, sizeof *u + nv * sizeof *u->v + n, 0, CTL_FINGERPRINTS);
    u->n = n;
    u->dim = dim;
    u->ok = (unsigned char *)(u->v + nv);
    return u;
}

static void push_bools(lua_State *L, const unsigned char *b, size_t n)
{
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushboolean(L, b[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* ---- Per-crystal assessment ------------------------------------------------------ */

typedef struct {
    ct_structure *const *s;
    const ct_smact *smact;     /* NULL: skip compositional validity */
    const ct_magpie *magpie;
    double cutoff;
    unsigned char *built, *struct_ok, *comp_ok;
    double *min_distance, *density;
    int *nelem, *verdict;
    ud_fp *comp_fp;
} assess_job;

static void assess_one(assess_job *job, size_t i)
{
    const ct_structure *s = job->s[i];
    ct_error err;
    int valid = 0, z[CT_MAGPIE_MAXZ], nel = 0;
    int64_t count[CT_MAGPIE_MAXZ];
    job->built[i] = 1;
    ct_validity_structural(s, job->cutoff, &valid, &job->min_distance[i], &err);
    job->struct_ok[i] = (unsigned char)valid;
    job->density[i] = ct_structure_density(s);
    for (int a = 0; a < s->natoms; a++) {
        int k = 0;
        while (k < nel && z[k] != s->z[a]) k++;
        if (k == nel) {
            z[nel] = s->z[a];
            count[nel++] = 0;
        }
        count[k]++;
    }
    job->nelem[i] = nel;
    if (job->smact) {
        ct_smact_verdict v = CT_SMACT_TOO_MANY;
        if (ct_smact_valid(job->smact, nel, z, count, &v, &err) != CT_OK) v = CT_SMACT_TOO_MANY;
        job->verdict[i] = v;
        job->comp_ok[i] = v > 0;
    }
    ud_fp *fp = job->comp_fp;
    fp->ok[i] = ct_magpie_structure(job->magpie, s, fp->v + i * (size_t)fp->dim, &err) == CT_OK;
}

static void assess_share(void *ctx, size_t begin, size_t end)
{
    assess_job *job = ctx;
    for (size_t i = begin; i < end && !ct_interrupted(); i++)
        if (job->s[i]) assess_one(job, i);
}

static int c_assess(lua_State *L)
{
    size_t n;
    lua_settop(L, 4);   /* the optional arguments stay below what is pushed */
    ct_structure **arr = ctL_checkstructures(L, 1, &n, NULL, 1);
    const ct_smact *smact = NULL;
    if (!lua_isnoneornil(L, 2)) smact = ctL_checkbox(L, 2, CTL_SMACT, "SMACT table");
    ct_magpie *magpie = check_magpie(L, 3);
    double cutoff = luaL_optnumber(L, 4, CT_VALIDITY_CUTOFF);
    size_t m = n ? n : 1;
    unsigned char *flags = lua_newuserdatauv(L, 3 * m, 0);
    double *dbl = lua_newuserdatauv(L, 2 * m * sizeof *dbl, 0);
    int *ints = lua_newuserdatauv(L, 2 * m * sizeof *ints, 0);
    memset(flags, 0, 3 * m);
    for (size_t i = 0; i < 2 * m; i++) dbl[i] = NAN;
    memset(ints, 0, 2 * m * sizeof *ints);
    lua_createtable(L, 0, 9);
    int res = lua_gettop(L);
    assess_job job = {arr, smact, magpie, cutoff, flags, flags + m, flags + 2 * m, dbl,
                      dbl + m, ints, ints + m, new_fp(L, n, CT_MAGPIE_DIM)};
    lua_setfield(L, res, "comp_fp");
    ct_parallel_for(n, ct_num_threads(n, 64), assess_share, &job);
    if (ct_interrupted()) return ctL_raise(L, NULL, CT_EINTR);
    push_bools(L, job.built, n);
    lua_setfield(L, res, "built");
    push_bools(L, job.struct_ok, n);
    lua_setfield(L, res, "struct_valid");
    ctL_pushnumbers(L, job.min_distance, n);
    lua_setfield(L, res, "min_distance");
    ctL_pushnumbers(L, job.density, n);
    lua_setfield(L, res, "density");
    ctL_pushints(L, job.nelem, n);
    lua_setfield(L, res, "nelem");
    if (smact) {
        push_bools(L, job.comp_ok, n);
        lua_setfield(L, res, "comp_valid");
        lua_createtable(L, (int)n, 0);
        for (size_t i = 0; i < n; i++) {
            lua_pushstring(L, arr[i] ? ct_smact_verdict_name(job.verdict[i]) : "not built");
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        lua_setfield(L, res, "comp_reason");
    }
    lua_pushvalue(L, res);
    return 1;
}

/* ---- Fingerprints ------------------------------------------------------------------ */

static void *magpie_load(const char *dir, ct_error *err)
{
    return ct_magpie_load(dir, err);
}

static int c_magpie_load(lua_State *L)
{
    ctL_loadbox(L, CTL_MAGPIE, magpie_load);
    return 1;
}

static int magpie_gc(lua_State *L)
{
    ct_magpie_free(ctL_takebox(L, 1, CTL_MAGPIE));
    return 0;
}

/* tab:features(z_list, amounts, [scaled]) -> array of 132 numbers. */
static int magpie_features(lua_State *L)
{
    ct_magpie *mp = check_magpie(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_Integer n = luaL_len(L, 2);
    luaL_argcheck(L, n >= 1 && n <= CT_MAGPIE_MAXZ, 2, "expected 1 to 118 elements");
    luaL_argcheck(L, luaL_len(L, 3) == n, 3, "expected one amount per element");
    int z[CT_MAGPIE_MAXZ];
    double amount[CT_MAGPIE_MAXZ], out[CT_MAGPIE_DIM];
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 2, i);
        lua_geti(L, 3, i);
        z[i - 1] = (int)luaL_checkinteger(L, -2);
        amount[i - 1] = luaL_checknumber(L, -1);
        lua_pop(L, 2);
    }
    ct_error err;
    if (ct_magpie_features(mp, (int)n, z, amount, out, &err) != CT_OK)
        return ctL_argraise(L, 2, &err, CT_EINVAL);
    if (lua_toboolean(L, 4)) ct_magpie_scale(mp, out);
    ctL_pushnumbers(L, out, CT_MAGPIE_DIM);
    return 1;
}

static int fp_len(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)check_fp(L, 1)->n);
    return 1;
}

static int fp_get(lua_State *L)
{
    ud_fp *u = check_fp(L, 1);
    lua_Integer i = luaL_checkinteger(L, 2);
    luaL_argcheck(L, i >= 1 && (size_t)i <= u->n, 2, "index out of range");
    if (!u->ok[i - 1]) return 0;
    ctL_pushnumbers(L, u->v + (size_t)(i - 1) * u->dim, (size_t)u->dim);
    return 1;
}

static int fp_dim(lua_State *L)
{
    lua_pushinteger(L, check_fp(L, 1)->dim);
    return 1;
}

/* fingerprints(list, n, dim): list[i] an array of dim numbers, or
   false/nil where the crystal has none. */
static int c_fingerprints(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer n = luaL_checkinteger(L, 2), dim = luaL_checkinteger(L, 3);
    luaL_argcheck(L, n >= 0 && n <= 100000000, 2, "bad count");
    luaL_argcheck(L, dim >= 0 && dim <= 100000, 3, "bad dimension");
    ud_fp *u = new_fp(L, (size_t)n, (int)dim);
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_geti(L, 1, i) == LUA_TTABLE) {
            if (luaL_len(L, -1) != dim)
                luaL_argerror(L, 1, lua_pushfstring(L, "fingerprint %I has %I numbers, not %I",
                                                    i, luaL_len(L, -1), dim));
            for (lua_Integer k = 1; k <= dim; k++) {
                lua_geti(L, -1, k);
                int isnum;
                u->v[(size_t)(i - 1) * (size_t)dim + (size_t)(k - 1)] = lua_tonumberx(L, -1, &isnum);
                if (!isnum)
                    luaL_argerror(L, 1, lua_pushfstring(L, "fingerprint %I: item %I is not a "
                                                        "number", i, k));
                lua_pop(L, 1);
            }
            u->ok[i - 1] = 1;
        } else if (lua_toboolean(L, -1)) {
            luaL_argerror(L, 1, lua_pushfstring(L, "fingerprint %I is a %s, not an array or "
                                                "false", i, luaL_typename(L, -1)));
        }
        lua_pop(L, 1);
    }
    return 1;
}

/* coverage(gen_s, gen_c, ref_s, ref_c, n_total, delta_s, delta_c) */
static int c_coverage(lua_State *L)
{
    ud_fp *gs = check_fp(L, 1), *gc = check_fp(L, 2), *rs = check_fp(L, 3), *rc = check_fp(L, 4);
    lua_Integer n_total = luaL_checkinteger(L, 5);
    double ds = luaL_checknumber(L, 6), dc = luaL_checknumber(L, 7);
    luaL_argcheck(L, gs->n == gc->n, 2, "not as many as the structure fingerprints");
    luaL_argcheck(L, rs->n == rc->n, 4, "not as many as the structure fingerprints");
    luaL_argcheck(L, n_total >= (lua_Integer)gs->n, 5, "below the generated count");
    size_t ng = gs->n, nr = rs->n;
    unsigned char *gok = lua_newuserdatauv(L, ng + nr + 2, 0), *rok = gok + ng + 1;
    for (size_t i = 0; i < ng; i++) gok[i] = gs->ok[i] && gc->ok[i];
    for (size_t i = 0; i < nr; i++) rok[i] = rs->ok[i] && rc->ok[i];
    ct_coverage_set g = {ng, gs->dim, gc->dim, gs->v, gc->v, gok};
    ct_coverage_set r = {nr, rs->dim, rc->dim, rs->v, rc->v, rok};
    ct_coverage_result out;
    ct_error err;
    int st = ct_coverage(&g, &r, (size_t)n_total, ds, dc, &out, &err);
    if (st != CT_OK) return ctL_raise(L, &err, st);
#define COV(type, field) CTL_FIELD(ct_coverage_result, type, field)
    static const ctL_Field fields[] = {
        COV(CTL_F_DOUBLE, cov_r), COV(CTL_F_DOUBLE, cov_p), COV(CTL_F_DOUBLE, amsd_r),
        COV(CTL_F_DOUBLE, amcd_r), COV(CTL_F_DOUBLE, amsd_p), COV(CTL_F_DOUBLE, amcd_p),
        COV(CTL_F_SIZE, n_gen_used), COV(CTL_F_SIZE, n_ref_used), {NULL, 0, 0}
    };
    ctL_pushfields(L, &out, fields);
    return 1;
}

/* ---- Sampling, symmetry, matching ------------------------------------------------------ */

/* sample(n, k, seed) -> k distinct indices of 1..n, uniformly without
   replacement (a partial Fisher-Yates shuffle on ct_rng). */
static int c_sample(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1), k = luaL_checkinteger(L, 2);
    lua_Integer seed = luaL_checkinteger(L, 3);
    luaL_argcheck(L, n >= 0 && n <= 100000000, 1, "bad count");
    luaL_argcheck(L, k >= 0 && k <= n, 2, "cannot draw more than n");
    lua_Integer *idx = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *idx, 0);
    for (lua_Integer i = 0; i < n; i++) idx[i] = i + 1;
    ct_rng rng;
    ct_rng_seed(&rng, (uint64_t)seed);
    lua_createtable(L, (int)k, 0);
    for (lua_Integer i = 0; i < k; i++) {
        lua_Integer j = i + (lua_Integer)ct_rng_below(&rng, (uint64_t)(n - i));
        lua_Integer t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
        lua_pushinteger(L, idx[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

typedef struct {
    ct_structure *const *s;
    double symprec;
    int *out, *carried;
} sym_job;

static void sym_share(void *ctx, size_t begin, size_t end)
{
    sym_job *job = ctx;
    for (size_t i = begin; i < end && !ct_interrupted(); i++) {
        job->carried[i] = job->s[i] ? job->s[i]->spacegroup : 0;
        if (!job->s[i] ||
            ct_symmetry_spacegroup(job->s[i], job->symprec, &job->out[i], NULL, NULL) != CT_OK)
            job->out[i] = 0;
    }
}

/* detect(list, symprec) -> space groups spglib finds, ignoring carried
   ones, and the carried ones (0 for none). */
static int c_detect(lua_State *L)
{
    size_t n;
    lua_settop(L, 2);
    ct_structure **arr = ctL_checkstructures(L, 1, &n, NULL, 1);
    double symprec = luaL_optnumber(L, 2, CT_SYMPREC);
    luaL_argcheck(L, symprec > 0, 2, "symprec must be positive");
    int *out = lua_newuserdatauv(L, 2 * (n ? n : 1) * sizeof *out, 0);
    sym_job job = {arr, symprec, out, out + (n ? n : 1)};
    ct_parallel_for(n, ct_num_threads(n, 16), sym_share, &job);
    if (ct_interrupted()) return ctL_raise(L, NULL, CT_EINTR);
    ctL_pushints(L, out, n);
    ctL_pushints(L, job.carried, n);
    return 2;
}

static const char *const match_keys[] = {"ltol", "stol", "angle_tol", "scale", NULL};

/* The matcher's options from the table at idx of fname (defaults for nil). */
static ct_match_opts check_match_opts(lua_State *L, int idx, const char *fname)
{
    ct_match_opts m = CT_MATCH_DEFAULTS;
    ctL_Opts o;
    ctL_optoptions(L, &o, idx, fname, match_keys);
    const char *tol[] = {"ltol", "stol", "angle_tol"};
    double *val[] = {&m.ltol, &m.stol, &m.angle_tol};
    for (int i = 0; i < 3; i++) {
        *val[i] = ctL_opt_number(&o, tol[i], *val[i]);
        if (!(*val[i] > 0)) ctL_opt_error(&o, tol[i], "tolerances must be positive");
    }
    m.scale = ctL_opt_boolean(&o, "scale", m.scale);
    return m;
}

static int c_match(lua_State *L)
{
    ct_structure *a = ctL_checkstructure(L, 1), *b = ctL_checkstructure(L, 2);
    ct_match_opts o = check_match_opts(L, 3, "ct.metrics.match");
    int same;
    ct_error err;
    int st = ct_match_structures(a, b, &o, &same, &err);
    if (st != CT_OK) return ctL_raise(L, &err, st);
    lua_pushboolean(L, same);
    return 1;
}

static int c_unique(lua_State *L)
{
    size_t n;
    lua_settop(L, 2);
    ct_structure **arr = ctL_checkstructures(L, 1, &n, NULL, 0);
    ct_match_opts o = check_match_opts(L, 2, "ct.metrics.uniqueness");
    size_t *cls = lua_newuserdatauv(L, (n ? n : 1) * sizeof *cls, 0), nclass;
    ct_error err;
    int st = ct_match_unique(arr, n, &o, cls, &nclass, &err);
    if (st != CT_OK) return ctL_raise(L, &err, st);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushinteger(L, (lua_Integer)cls[i] + 1);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_pushinteger(L, (lua_Integer)nclass);
    return 2;
}

static int c_novel(lua_State *L)
{
    size_t ng, nt;
    lua_settop(L, 3);
    ct_structure **gen = ctL_checkstructures(L, 1, &ng, NULL, 0);
    ct_structure **train = ctL_checkstructures(L, 2, &nt, NULL, 0);
    ct_match_opts o = check_match_opts(L, 3, "ct.metrics.novelty");
    unsigned char *novel = lua_newuserdatauv(L, ng ? ng : 1, 0);
    ct_error err;
    int st = ct_match_novel(gen, ng, train, nt, &o, novel, &err);
    if (st != CT_OK) return ctL_raise(L, &err, st);
    push_bools(L, novel, ng);
    return 1;
}

static int c_kind(lua_State *L)
{
    if (ctL_tostructure(L, 1)) lua_pushliteral(L, "structure");
    else if (ctL_todataset(L, 1)) lua_pushliteral(L, "dataset");
    else lua_pushnil(L);
    return 1;
}

static const ctL_Reg magpie_methods[] = {
    {"features", magpie_features,
     "tab:features(zs, amounts, [scaled]) -> array. The 132 Magpie features of a "
     "composition (atomic numbers and their amounts), standardised with CDVAE's "
     "CompScaler when scaled (NaN -> 0), else raw with NaN for missing data."},
    {NULL, NULL, NULL}
};

static const ctL_Reg fp_methods[] = {
    {"get", fp_get, "fp:get(i) -> array or nil. Fingerprint i (nil if the crystal has none)."},
    {"dim", fp_dim, "fp:dim() -> integer. The length of each fingerprint."},
    {NULL, NULL, NULL}
};

static const ctL_Reg cdvae_funcs[] = {
    {"assess", c_assess,
     "assess(list, smact|nil, magpie, [cutoff=0.5]) -> {built, struct_valid, min_distance, "
     "density, nelem, comp_valid, comp_reason, comp_fp}. Per crystal (false items are not "
     "built): CDVAE structural validity, SMACT validity, density, number of elements and "
     "the scaled Magpie fingerprint, on all cores."},
    {"magpie_load", c_magpie_load,
     "magpie_load(dir) -> MagpieTable. The 22 Magpie .table files and "
     "cdvae_comp_scaler.csv from dir."},
    {"fingerprints", c_fingerprints,
     "fingerprints(list, n, dim) -> Fingerprints. n vectors of dim numbers (false or nil "
     "for a crystal without one)."},
    {"coverage", c_coverage,
     "coverage(gen_s, gen_c, ref_s, ref_c, n_total, delta_s, delta_c) -> {cov_r, cov_p, "
     "amsd_r, amcd_r, amsd_p, amcd_p, n_gen_used, n_ref_used}. CDVAE's COV-R and COV-P."},
    {"sample", c_sample,
     "sample(n, k, seed) -> array. k distinct indices of 1..n drawn uniformly (seeded)."},
    {"detect", c_detect,
     "detect(list, [symprec=0.1]) -> detected, carried. spglib's space group of each "
     "structure, ignoring any it carries (0 where spglib finds none or the item is false), "
     "and the one it carries (decoded from a tensor; 0 for none)."},
    {"match", c_match,
     "match(a, b, [{ltol=0.2, stol=0.3, angle_tol=5, scale=true}]) -> boolean. Whether "
     "two structures match by the simplified StructureMatcher rule (see ct_match.h)."},
    {"unique", c_unique,
     "unique(list, [opts]) -> classes, nclass. classes[i] is the first structure that "
     "structure i matches (i itself if none before it)."},
    {"novel", c_novel,
     "novel(gen, train, [opts]) -> array of booleans. Whether each generated structure "
     "matches none of the training ones."},
    {"kind", c_kind,
     "kind(x) -> \"structure\", \"dataset\" or nil. What x is, without touching it."},
    {NULL, NULL, NULL}
};

int luaopen_crystens_cdvae_core(lua_State *L)
{
    static const luaL_Reg fp_meta[] = {{"__len", fp_len}, {NULL, NULL}};
    ctL_newclass(L, CTL_MAGPIE, magpie_methods, magpie_gc, NULL);
    ctL_newclass(L, CTL_FINGERPRINTS, fp_methods, NULL, fp_meta);
    ctL_newlib(L, cdvae_funcs, "The C half of the CDVAE metrics, symmetry, uniqueness and "
                               "novelty; use ct.metrics.cdvae and friends.");
    return 1;
}
