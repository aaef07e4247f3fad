/*
 * lua_scale.c - ct.crystens.scaler: the networks' input scaling (ct_scale)
 * as a userdata with scale/unscale/state.
 */
#include <stdlib.h>

#include "ct_consist.h"
#include "ct_layout.h"
#include "ct_scale.h"
#include "lua_ct.h"
#include "lua_structure.h"

#define CTL_SCALER "crystens.Scaler"

static ct_scale *check_scaler(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, CTL_SCALER);
}

/* The number of 4×S×S tensors in t, or an argument error at idx. */
static size_t check_batch(lua_State *L, int idx, const ct_tensor *t, int S)
{
    int d = t->ndim;
    int ok = (d == 3 || d == 4) && t->shape[d - 3] == CT_CRYSTENS_LAYERS &&
             t->shape[d - 2] == S && t->shape[d - 1] == S;
    if (!ok) luaL_argerror(L, idx, lua_pushfstring(L, "expected a 4×%d×%d or N×4×%d×%d "
                                                   "tensor", S, S, S, S));
    return d == 4 ? (size_t)t->shape[0] : 1;
}

static int map(lua_State *L, int inverse)
{
    ct_scale *sc = check_scaler(L, 1);
    ct_tensor *t = ctL_checktensor(L, 2);
    size_t n = check_batch(L, 2, t, sc->size);
    ct_error err;
    int rc = ct_scale_check_finite(t->data, n, sc->size, &err);
    if (rc != CT_OK) return ctL_raise(L, &err, rc);
    ct_tensor *out = ct_tensor_empty(t->ndim, t->shape, &err);
    if (out) (inverse ? ct_scale_invert : ct_scale_apply)(sc, t->data, out->data, n);
    ctL_pushtensor(L, out, &err);
    return 1;
}

static int s_scale(lua_State *L) { return map(L, 0); }
static int s_unscale(lua_State *L) { return map(L, 1); }

static const char *const project_keys[] = {"natoms", "clamp", "fractional", NULL};

/* sc:project(x, [{natoms=, clamp=, fractional=}]) -> y, state */
static int s_project(lua_State *L)
{
    ct_scale *sc = check_scaler(L, 1);
    ct_tensor *t = ctL_checktensor(L, 2);
    size_t n = check_batch(L, 2, t, sc->size);
    ctL_Opts o;
    ctL_optoptions(L, &o, 3, "Scaler:project", project_keys);
    int clamp = ctL_opt_boolean(&o, "clamp", 0), fractional = ctL_opt_boolean(&o, "fractional", 0);
    int *natoms = NULL;
    if (ctL_opt_push(&o, "natoms", LUA_TTABLE) != LUA_TNIL) {
        if (lua_rawlen(L, -1) != n)
            ctL_opt_error(&o, "natoms", "one atom count per tensor (%d) expected", (int)n);
        natoms = lua_newuserdatauv(L, n * sizeof *natoms, 0);
        for (size_t i = 0; i < n; i++) {
            lua_rawgeti(L, -2, (lua_Integer)i + 1);
            int isint;
            lua_Integer a = lua_tointegerx(L, -1, &isint);
            if (!isint || a < 1 || a > ct_layout_slots(sc->size))
                ctL_opt_error(&o, "natoms", "item %d must be an integer from 1 to %d", (int)i + 1,
                              ct_layout_slots(sc->size));
            natoms[i] = (int)a;
            lua_pop(L, 1);
        }
    }
    ct_error err;
    ct_tensor *out = ct_tensor_empty(t->ndim, t->shape, &err);
    size_t len = n * CT_CONSIST_STATE(sc->size);
    unsigned char *state = out ? malloc(len) : NULL;
    if (out && !state) {
        ct_tensor_free(out);
        out = NULL;
        ct_fail(&err, CT_ENOMEM, "out of memory");
    }
    if (out) ct_consist_forward(sc, fractional, clamp, t->data, out->data, state, natoms, n);
    ctL_pushtensor(L, out, &err);
    lua_pushlstring(L, (const char *)state, len);
    free(state);
    return 2;
}

/* sc:project_backward(state, gy) -> gx */
static int s_project_backward(lua_State *L)
{
    ct_scale *sc = check_scaler(L, 1);
    size_t len;
    const char *state = luaL_checklstring(L, 2, &len);
    ct_tensor *g = ctL_checktensor(L, 3);
    size_t n = check_batch(L, 3, g, sc->size);
    if (len != n * CT_CONSIST_STATE(sc->size))
        luaL_argerror(L, 2, "not the state of a projection of this batch");
    ct_error err;
    ct_tensor *out = ct_tensor_empty(g->ndim, g->shape, &err);
    if (out) ct_consist_backward(sc, (const unsigned char *)state, g->data, out->data, n);
    ctL_pushtensor(L, out, &err);
    return 1;
}

static int s_state(lua_State *L)
{
    ct_scale *sc = check_scaler(L, 1);
    lua_createtable(L, 0, CT_SCALE_NQ + 1);
    lua_pushinteger(L, sc->size);
    lua_setfield(L, -2, "size");
    for (int q = 0; q < CT_SCALE_NQ; q++) {
        if (q == CT_SCALE_COLUMN && !sc->column) continue;
        lua_createtable(L, 2, 0);
        lua_pushnumber(L, sc->min[q]);
        lua_rawseti(L, -2, 1);
        lua_pushnumber(L, sc->max[q]);
        lua_rawseti(L, -2, 2);
        lua_setfield(L, -2, ct_scale_names[q]);
    }
    return 1;
}

static int s_tostring(lua_State *L)
{
    ct_scale *sc = check_scaler(L, 1);
    lua_pushfstring(L, "Scaler(S=%d, Z %f..%f, length %f..%f)", sc->size,
                    sc->min[CT_SCALE_Z], sc->max[CT_SCALE_Z], sc->min[CT_SCALE_LENGTH],
                    sc->max[CT_SCALE_LENGTH]);
    return 1;
}

/* Read a state table (as s_state writes it) at idx into sc. */
static void read_state(lua_State *L, int idx, ct_scale *sc)
{
    if (lua_getfield(L, idx, "size") != LUA_TNUMBER || !lua_isinteger(L, -1))
        luaL_argerror(L, idx, "state.size must be an integer");
    sc->size = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    for (int q = 0; q < CT_SCALE_NQ; q++) {
        /* column: only tensors of the periodic species encoding have one */
        if (q == CT_SCALE_COLUMN) {
            int present = lua_getfield(L, idx, ct_scale_names[q]) != LUA_TNIL;
            lua_pop(L, 1);
            sc->column = present;
            if (!present) continue;
        }
        if (lua_getfield(L, idx, ct_scale_names[q]) != LUA_TTABLE ||
            lua_rawgeti(L, -1, 1) != LUA_TNUMBER || lua_rawgeti(L, -2, 2) != LUA_TNUMBER)
            luaL_argerror(L, idx, lua_pushfstring(L, "state.%s must be {min, max}",
                                                  ct_scale_names[q]));
        sc->min[q] = lua_tonumber(L, -2);
        sc->max[q] = lua_tonumber(L, -1);
        lua_pop(L, 3);
    }
}

int ctL_scaler(lua_State *L)
{
    static const ctL_Reg methods[] = {
        {"scale", s_scale, "sc:scale(t) -> Tensor. Raw CrysTens (4×S×S or N×4×S×S) to "
                           "the networks' units: each quantity mapped onto [-0.8, 1], "
                           "empty slots, corner and padding at -1."},
        {"unscale", s_unscale, "sc:unscale(t) -> Tensor. Back to raw units: a slot whose "
                               "8 scaled Z copies average above -0.9 is occupied and "
                               "mapped back; everything else becomes 0."},
        {"project", s_project, "sc:project(x, [{natoms=, clamp=false, fractional=false}]) "
                               "-> y, state. The consistency projection (ct_consist.h) of "
                               "scaled tensors: every copy of a value set to their mean, "
                               "one cell per crystal, the difference layers and distances "
                               "derived from the coordinates and the cell. natoms: a list "
                               "of atom counts (slots 1..n occupied), else a slot's Z "
                               "decides; clamp: values kept in the training range. state "
                               "feeds project_backward."},
        {"project_backward", s_project_backward,
         "sc:project_backward(state, gy) -> gx. The gradient of project at the tensor "
         "whose projection returned state (distances pass none)."},
        {"state", s_state, "sc:state() -> table {size=S, Z={min,max}, coord=…, length=…, "
                           "angle=…, sg=…, dist=…, delta=…[, column=…]}: the fitted ranges, to store "
                           "and to rebuild the scaler with crystens.scaler(state)."},
        {NULL, NULL, NULL}
    };
    static const luaL_Reg meta[] = {{"__tostring", s_tostring}, {NULL, NULL}};
    ctL_newclass(L, CTL_SCALER, methods, NULL, meta);
    ct_scale *sc = ctL_newudata(L, sizeof(ct_scale), 0, CTL_SCALER);
    ct_error err;
    int rc;
    if (lua_istable(L, 1)) {
        read_state(L, 1, sc);
        rc = ct_scale_check(sc, &err);
    } else {
        ct_tensor *t = ctL_checktensor(L, 1);
        int S = t->ndim >= 3 ? (int)t->shape[t->ndim - 1] : 64;
        size_t n = check_batch(L, 1, t, S);
        rc = ct_scale_fit(sc, t->data, n, S, &err);
    }
    if (rc != CT_OK) return ctL_raise(L, &err, rc);
    return 1;
}
