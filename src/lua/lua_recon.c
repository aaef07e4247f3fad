/*
 * lua_recon.c - ct.crystens.decode for generated tensors (ct_recon), part
 * of crystens.crystens; decode with exact=true stays in lua_crystens.c.
 *
 * Options (one table, every field optional):
 *   k_species=0, k_coords=0   K of the two K-means; 0 chooses automatically,
 *                             {k_species=3, k_coords=6} is the paper's mode
 *   sep=4, coord_sep=2        automatic K thresholds (ct_recon.h)
 *   vote="weighted"           or "plain": the unweighted Fig. 3 mean
 *   occupancy=0.5             evidence that makes a slot an atom
 *   symmetry=true             report spglib's group of the result
 *   symprec=0.1               its tolerance in Å (0.01 with preset="paper")
 *   symmetrize=false          return spglib's refined conventional cell
 *   distance="angstrom"       what layer 0 holds (for diag.pdm_delta);
 *                             preset="paper" means "fractional"
 *   species="auto"            "atom": each atom's averaged Z rounded on its
 *                             own; "kmeans": clustered; "auto": per atom
 *                             when the copies agree (ct_recon.h step 5)
 *   species_tol=2.5           per atom: first group species within this
 *                             distance (|ΔZ|/3, Δcolumn; ct_recon.h step 5)
 *   min_distance=0.5          atoms closer than this (Å) are merged (same
 *                             element) or fail the item; 0 keeps them
 *   strict=false              raise an error instead of returning nil/false
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ct_recon.h"
#include "lua_structure.h"

static const char *const recon_keys[] = {
    "exact", "preset", "k_species", "k_coords", "sep", "coord_sep", "vote", "occupancy",
    "symmetry", "symmetrize", "symprec", "distance", "species", "species_tol", "min_distance",
    "strict", NULL};
static const char *const presets[] = {"crystens", "paper", NULL};
static const char *const votes[] = {"weighted", "plain", NULL};
static const char *const distances[] = {"angstrom", "fractional", NULL};
static const char *const species[] = {"auto", "atom", "kmeans", NULL};

/* Option key as a number in [lo, hi) (hi included when closed). */
static double ranged(ctL_Opts *opt, const char *key, double def, double lo, double hi,
                     int closed, const char *what)
{
    double v = ctL_opt_number(opt, key, def);
    if (!(v >= lo && (v < hi || (closed && v == hi)))) ctL_opt_error(opt, key, "%s", what);
    return v;
}

static void read_recon_opts(lua_State *L, int idx, ct_recon_opts *o, int *strict)
{
    ctL_Opts opt;
    ctL_optoptions(L, &opt, idx, "ct.crystens.decode", recon_keys);
    ct_recon_defaults(o);
    int paper = ctL_opt_enum(&opt, "preset", "crystens", presets) == 1;
    o->k_species = (int)ctL_opt_integer(&opt, "k_species", 0);
    if (o->k_species < 0 || o->k_species > 256)
        ctL_opt_error(&opt, "k_species", "must be an integer from 0 (automatic) to 256");
    o->k_coords = (int)ctL_opt_integer(&opt, "k_coords", 0);
    if (o->k_coords < 0 || o->k_coords > 256)
        ctL_opt_error(&opt, "k_coords", "must be an integer from 0 (automatic) to 256");
    o->sep = ranged(&opt, "sep", o->sep, DBL_MIN, HUGE_VAL, 0, "must be positive");
    o->coord_sep = ranged(&opt, "coord_sep", o->coord_sep, DBL_MIN, HUGE_VAL, 0, "must be positive");
    o->plain_vote = ctL_opt_enum(&opt, "vote", "weighted", votes) == 1;
    o->occupancy = ctL_opt_number(&opt, "occupancy", o->occupancy);
    if (!(o->occupancy > 0 && o->occupancy < 1))
        ctL_opt_error(&opt, "occupancy", "must lie between 0 and 1");
    o->symmetry = ctL_opt_boolean(&opt, "symmetry", 1);
    o->symmetrize = ctL_opt_boolean(&opt, "symmetrize", 0);
    o->symprec = ranged(&opt, "symprec", paper ? 0.01 : o->symprec, DBL_MIN, HUGE_VAL, 0,
                        "must be positive");
    o->fractional = ctL_opt_enum(&opt, "distance", paper ? "fractional" : "angstrom", distances) == 1;
    const int sp[] = {CT_RECON_SPECIES_AUTO, CT_RECON_SPECIES_ATOM,
                                   CT_RECON_SPECIES_KMEANS};
    o->species = sp[ctL_opt_enum(&opt, "species", "auto", species)];
    o->species_tol = ranged(&opt, "species_tol", paper ? 0 : o->species_tol, 0, 100, 0,
                            "must lie in [0, 100)");
    o->min_distance = ranged(&opt, "min_distance", paper ? 0 : o->min_distance, 0, 10, 0,
                             "must lie in [0, 10) \xc3\x85");
    *strict = ctL_opt_boolean(&opt, "strict", 0);
    ctL_opt_boolean(&opt, "exact", 0);   /* decode's switch to the exact decoder: false here */
}

#define DIAG(type, field) CTL_FIELD(ct_recon_diag, type, field)
static const ctL_Field diag_fields[] = {
    DIAG(CTL_F_INT, natoms), DIAG(CTL_F_DOUBLE, occupancy_margin), DIAG(CTL_F_DOUBLE, sg_mean),
    DIAG(CTL_F_INT, spacegroup), DIAG(CTL_F_DOUBLE, vote_spread), DIAG(CTL_F_DOUBLE, coord_delta),
    DIAG(CTL_F_DOUBLE, pdm_delta), DIAG(CTL_F_DOUBLE, snap_max), DIAG(CTL_F_INT, k_species),
    DIAG(CTL_F_INT, k_coords), DIAG(CTL_F_BOOL, species_per_atom), DIAG(CTL_F_BOOL, periodic),
    DIAG(CTL_F_BOOL, snap_reverted), DIAG(CTL_F_INT, merged), {NULL, 0, 0}
};

/* diag.spread: how far each header quantity's copies are from their mean. */
static const ctL_Field spread_fields[] = {
    {"z", CTL_F_DOUBLE, offsetof(ct_recon_diag, spread_z)},
    {"coord", CTL_F_DOUBLE, offsetof(ct_recon_diag, spread_coord)},
    {"length", CTL_F_DOUBLE, offsetof(ct_recon_diag, spread_length)},
    {"angle", CTL_F_DOUBLE, offsetof(ct_recon_diag, spread_angle)},
    {"sg", CTL_F_DOUBLE, offsetof(ct_recon_diag, spread_sg)}, {NULL, 0, 0}
};

/* Push the diagnostics of one sample; reason is NULL on success. */
static void push_diag(lua_State *L, const ct_recon_diag *d, const ct_recon_opts *o,
                      const char *reason)
{
    lua_createtable(L, 0, 16);
    ctL_setfields(L, d, diag_fields);
    if ((o->symmetry || o->symmetrize) && !reason) {
        ctL_setinteger(L, "spacegroup_detected", d->spacegroup_detected);
        lua_pushboolean(L, d->spacegroup_detected == d->spacegroup);
        lua_setfield(L, -2, "spacegroup_match");
    }
    ctL_pushfields(L, d, spread_fields);
    lua_setfield(L, -2, "spread");
    if (!reason) ctL_setnumber(L, "min_distance", d->min_distance);
    if (reason) {
        lua_pushstring(L, reason);
        lua_setfield(L, -2, "reason");
    }
}

static int decode_single(lua_State *L, const float *t, int S, const ct_recon_opts *o, int strict)
{
    ct_recon_diag d;
    ct_error err;
    ct_structure *s = ct_recon(t, S, o, &d, &err);
    if (!s) {
        if (strict) return ctL_raise(L, &err, CT_EINVAL);
        lua_pushnil(L);
        lua_pushstring(L, err.msg);
        push_diag(L, &d, o, err.msg);
        return 3;
    }
    ctL_pushstructure(L, s, &err);
    push_diag(L, &d, o, NULL);
    return 2;
}

/* Scratch of a batch in userdata, so an error on the way frees it. */
typedef struct {
    size_t n;
    ct_structure **out;
    ct_recon_diag *diag;
    ct_error *errs;
} batch;

static int batch_gc(lua_State *L)
{
    batch *b = lua_touserdata(L, 1);
    for (size_t i = 0; b->out && i < b->n; i++) ct_structure_free(b->out[i]);
    free(b->out), free(b->diag), free(b->errs);
    memset(b, 0, sizeof *b);
    return 0;
}

static batch *new_batch(lua_State *L, size_t n)
{
    ctL_newclass(L, "crystens.ReconBatch", NULL, batch_gc, NULL);
    batch *b = ctL_newudata(L, sizeof *b, 0, "crystens.ReconBatch");
    b->out = calloc(n ? n : 1, sizeof *b->out);
    b->diag = calloc(n ? n : 1, sizeof *b->diag);
    b->errs = calloc(n ? n : 1, sizeof *b->errs);
    if (!b->out || !b->diag || !b->errs) luaL_error(L, "out of memory");
    b->n = n;
    return b;
}

static int decode_batch(lua_State *L, const float *t, size_t n, int S, const ct_recon_opts *o,
                        int strict)
{
    batch *b = new_batch(L, n);
    if (ct_recon_batch(t, n, S, o, b->out, b->diag, b->errs) < 0)
        return ctL_raise(L, NULL, CT_EINTR);
    for (size_t i = 0; strict && i < n; i++)
        if (!b->out[i]) return ctL_raisef(L, &b->errs[i], CT_EINVAL, "tensor %d: ", (int)i + 1);
    lua_createtable(L, (int)n, 0);
    lua_createtable(L, (int)n, 0);
    lua_newtable(L);
    int structs = lua_gettop(L) - 2, nfail = 0;
    for (size_t i = 0; i < n; i++) {
        const char *reason = b->out[i] ? NULL : b->errs[i].msg;
        if (b->out[i]) ctL_pushstructure(L, b->out[i], NULL);
        else lua_pushboolean(L, 0);
        b->out[i] = NULL;   /* owned by Lua now */
        lua_rawseti(L, structs, (lua_Integer)i + 1);
        push_diag(L, b->diag + i, o, reason);
        lua_rawseti(L, structs + 1, (lua_Integer)i + 1);
        if (!reason) continue;
        lua_createtable(L, 0, 2);
        ctL_setinteger(L, "item", (lua_Integer)i + 1);
        lua_pushstring(L, reason);
        lua_setfield(L, -2, "reason");
        lua_rawseti(L, structs + 2, ++nfail);
    }
    return 3;
}

int ctL_recon_decode(lua_State *L)
{
    ct_tensor *t = ctL_checktensor(L, 1);
    ct_recon_opts o;
    int strict;
    read_recon_opts(L, 2, &o, &strict);
    int many;
    int S = ctL_checkcrystens(L, 1, t, &many);
    if (!many) return decode_single(L, t->data, S, &o, strict);
    return decode_batch(L, t->data, (size_t)t->shape[0], S, &o, strict);
}
