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
#include <stdlib.h>
#include <string.h>

#include "ct_recon.h"
#include "lua_structure.h"

static void read_recon_opts(lua_State *L, int idx, ct_recon_opts *o, int *strict)
{
    if (!lua_isnoneornil(L, idx)) luaL_checktype(L, idx, LUA_TTABLE);
    ct_recon_defaults(o);
    int paper = !strcmp(ctL_optstring(L, idx, "preset", "crystens"), "paper");
    lua_Number ks = ctL_optnumber(L, idx, "k_species", 0), kx = ctL_optnumber(L, idx, "k_coords", 0);
    luaL_argcheck(L, ks >= 0 && ks <= 256 && ks == (int)ks, idx,
                  "k_species must be an integer from 0 (automatic) to 256");
    luaL_argcheck(L, kx >= 0 && kx <= 256 && kx == (int)kx, idx,
                  "k_coords must be an integer from 0 (automatic) to 256");
    o->k_species = (int)ks;
    o->k_coords = (int)kx;
    o->sep = ctL_optnumber(L, idx, "sep", o->sep);
    o->coord_sep = ctL_optnumber(L, idx, "coord_sep", o->coord_sep);
    luaL_argcheck(L, o->sep > 0 && o->coord_sep > 0, idx, "sep and coord_sep must be positive");
    o->plain_vote = !strcmp(ctL_optstring(L, idx, "vote", "weighted"), "plain");
    if (strcmp(ctL_optstring(L, idx, "vote", "weighted"), "weighted") && !o->plain_vote)
        luaL_argerror(L, idx, "vote must be 'weighted' or 'plain'");
    o->occupancy = ctL_optnumber(L, idx, "occupancy", o->occupancy);
    luaL_argcheck(L, o->occupancy > 0 && o->occupancy < 1, idx,
                  "occupancy must lie between 0 and 1");
    o->symmetry = ctL_optbool(L, idx, "symmetry", 1);
    o->symmetrize = ctL_optbool(L, idx, "symmetrize", 0);
    o->symprec = ctL_optnumber(L, idx, "symprec", paper ? 0.01 : o->symprec);
    luaL_argcheck(L, o->symprec > 0, idx, "symprec must be positive");
    const char *dist = ctL_optstring(L, idx, "distance", paper ? "fractional" : "angstrom");
    if (strcmp(dist, "angstrom") && strcmp(dist, "fractional"))
        luaL_argerror(L, idx, "distance must be 'angstrom' or 'fractional'");
    o->fractional = !strcmp(dist, "fractional");
    const char *sp = ctL_optstring(L, idx, "species", "auto");
    if (!strcmp(sp, "auto")) o->species = CT_RECON_SPECIES_AUTO;
    else if (!strcmp(sp, "atom")) o->species = CT_RECON_SPECIES_ATOM;
    else if (!strcmp(sp, "kmeans")) o->species = CT_RECON_SPECIES_KMEANS;
    else luaL_argerror(L, idx, "species must be 'auto', 'atom' or 'kmeans'");
    o->species_tol = ctL_optnumber(L, idx, "species_tol", o->species_tol);
    luaL_argcheck(L, o->species_tol >= 0 && o->species_tol < 100, idx,
                  "species_tol must lie in [0, 100)");
    if (paper) o->species_tol = ctL_optnumber(L, idx, "species_tol", 0);
    o->min_distance = ctL_optnumber(L, idx, "min_distance", paper ? 0 : o->min_distance);
    luaL_argcheck(L, o->min_distance >= 0 && o->min_distance < 10, idx,
                  "min_distance must lie in [0, 10) Å");
    *strict = ctL_optbool(L, idx, "strict", 0);
}

/* Push the diagnostics of one sample; reason is NULL on success. */
static void push_diag(lua_State *L, const ct_recon_diag *d, const ct_recon_opts *o,
                      const char *reason)
{
    lua_createtable(L, 0, 16);
    ctL_setinteger(L, "natoms", d->natoms);
    ctL_setnumber(L, "occupancy_margin", d->occupancy_margin);
    ctL_setnumber(L, "sg_mean", d->sg_mean);
    ctL_setinteger(L, "spacegroup", d->spacegroup);
    if ((o->symmetry || o->symmetrize) && !reason) {
        ctL_setinteger(L, "spacegroup_detected", d->spacegroup_detected);
        lua_pushboolean(L, d->spacegroup_detected == d->spacegroup);
        lua_setfield(L, -2, "spacegroup_match");
    }
    lua_createtable(L, 0, 5);
    ctL_setnumber(L, "z", d->spread_z);
    ctL_setnumber(L, "coord", d->spread_coord);
    ctL_setnumber(L, "length", d->spread_length);
    ctL_setnumber(L, "angle", d->spread_angle);
    ctL_setnumber(L, "sg", d->spread_sg);
    lua_setfield(L, -2, "spread");
    ctL_setnumber(L, "vote_spread", d->vote_spread);
    ctL_setnumber(L, "coord_delta", d->coord_delta);
    ctL_setnumber(L, "pdm_delta", d->pdm_delta);
    ctL_setnumber(L, "snap_max", d->snap_max);
    ctL_setinteger(L, "k_species", d->k_species);
    ctL_setinteger(L, "k_coords", d->k_coords);
    lua_pushboolean(L, d->species_per_atom);
    lua_setfield(L, -2, "species_per_atom");
    lua_pushboolean(L, d->periodic);
    lua_setfield(L, -2, "periodic");
    lua_pushboolean(L, d->snap_reverted);
    lua_setfield(L, -2, "snap_reverted");
    ctL_setinteger(L, "merged", d->merged);
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
        if (strict) return luaL_error(L, "%s", err.msg);
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
    batch *b = lua_newuserdatauv(L, sizeof *b, 0);
    memset(b, 0, sizeof *b);
    if (luaL_newmetatable(L, "crystens.ReconBatch")) {
        lua_pushcfunction(L, batch_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
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
        return luaL_error(L, "interrupted");
    for (size_t i = 0; strict && i < n; i++)
        if (!b->out[i]) return luaL_error(L, "tensor %d: %s", (int)i + 1, b->errs[i].msg);
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
