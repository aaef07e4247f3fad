/*
 * lua_rng.c - Rng objects of crystens.tensor: tensor.rng(seed) makes one,
 * rng:uniform/normal/int draw from it, rng:state/set_state store and
 * restore it; tensor.seed(n) reseeds the shared default generator that
 * random fills use when given none.  The default starts from seed 0 so
 * that a script draws the same numbers on every run.
 */
#include "ct_rng.h"
#include "lua_ct.h"

static const char DEFAULT_RNG_KEY[] = "crystens.default_rng";

static ct_rng *checkrng(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, CTL_RNG);
}

static ct_rng *push_rng(lua_State *L, uint64_t seed)
{
    ct_rng *r = ctL_newudata(L, sizeof *r, 0, CTL_RNG);
    ct_rng_seed(r, seed);
    return r;
}

ct_rng *ctL_optrng(lua_State *L, int idx)
{
    if (idx != 0 && !lua_isnoneornil(L, idx)) return checkrng(L, idx);
    lua_getfield(L, LUA_REGISTRYINDEX, DEFAULT_RNG_KEY);
    ct_rng *r = luaL_testudata(L, -1, CTL_RNG);
    lua_pop(L, 1);   /* the registry keeps it alive */
    return r;
}

/* The Rng an options table gives under key, or the shared default. */
ct_rng *ctL_opt_rng(ctL_Opts *o, const char *key)
{
    ctL_opt_push(o, key, LUA_TNONE);
    if (!lua_isnil(o->L, -1) && !luaL_testudata(o->L, -1, CTL_RNG))
        ctL_opt_typeerror(o, key, CTL_RNG);
    ct_rng *r = ctL_optrng(o->L, lua_gettop(o->L));
    lua_pop(o->L, 1);   /* the options table (or the registry) keeps it alive */
    return r;
}

static int r_new(lua_State *L)
{
    push_rng(L, (uint64_t)luaL_optinteger(L, 1, 0));
    return 1;
}

static int r_seed(lua_State *L)
{
    ct_rng_seed(ctL_optrng(L, 2), (uint64_t)luaL_checkinteger(L, 1));
    return 0;
}

static int r_default(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, DEFAULT_RNG_KEY);
    return 1;
}

static int rm_uniform(lua_State *L)
{
    ct_rng *r = checkrng(L, 1);
    lua_Number lo = luaL_optnumber(L, 2, 0), hi = luaL_optnumber(L, 3, 1);
    lua_pushnumber(L, lo + (hi - lo) * (lua_Number)ct_rng_uniform(r));
    return 1;
}

static int rm_normal(lua_State *L)
{
    ct_rng *r = checkrng(L, 1);
    lua_pushnumber(L, luaL_optnumber(L, 2, 0) + luaL_optnumber(L, 3, 1) * ct_rng_normal(r));
    return 1;
}

static int rm_int(lua_State *L)
{
    ct_rng *r = checkrng(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_argcheck(L, n >= 1, 2, "must be at least 1");
    lua_pushinteger(L, (lua_Integer)ct_rng_below(r, (uint64_t)n) + 1);
    return 1;
}

static int rm_state(lua_State *L)
{
    char s[CT_RNG_STATE_LEN];
    ct_rng_state_str(checkrng(L, 1), s);
    lua_pushstring(L, s);
    return 1;
}

static int rm_set_state(lua_State *L)
{
    ct_rng *r = checkrng(L, 1);
    ct_error err;
    int rc = ct_rng_set_state_str(r, luaL_checkstring(L, 2), &err);
    return ctL_returnself(L, rc, &err, 2);
}

static int rm_reseed(lua_State *L)
{
    ct_rng_seed(checkrng(L, 1), (uint64_t)luaL_checkinteger(L, 2));
    lua_settop(L, 1);
    return 1;
}

static int rm_tostring(lua_State *L)
{
    char s[CT_RNG_STATE_LEN];
    ct_rng_state_str(checkrng(L, 1), s);
    lua_pushfstring(L, "Rng %s", s);
    return 1;
}

static const ctL_Reg rng_methods[] = {
    {"uniform", rm_uniform, "rng:uniform([lo, hi]) -> number. A uniform draw in [lo, hi) (default [0, 1))."},
    {"normal", rm_normal, "rng:normal([mean, std]) -> number. A normal draw (default N(0, 1))."},
    {"int", rm_int, "rng:int(n) -> integer. A uniform integer in 1..n, without modulo bias."},
    {"state", rm_state, "rng:state() -> string. The generator's state, to store in a checkpoint."},
    {"set_state", rm_set_state, "rng:set_state(s) -> rng. Restore a state from rng:state()."},
    {"seed", rm_reseed, "rng:seed(n) -> rng. Restart the generator from seed n."},
    {NULL, NULL, NULL}
};

static const ctL_Reg rng_funcs[] = {
    {"rng", r_new, "tensor.rng([seed]) -> Rng. A new xoshiro256** generator (seed default 0)."},
    {"seed", r_seed, "tensor.seed(n, [rng]) -> nil. Reseed the default generator (or rng)."},
    {"default_rng", r_default, "tensor.default_rng() -> Rng. The generator used when none is given."},
    {NULL, NULL, NULL}
};

void ctL_rng_open(lua_State *L, int lib)
{
    static const luaL_Reg rng_meta[] = {{"__tostring", rm_tostring}, {NULL, NULL}};
    ctL_addfuncs(L, lib, rng_funcs);
    ctL_newclass(L, CTL_RNG, rng_methods, NULL, rng_meta);
    if (lua_getfield(L, LUA_REGISTRYINDEX, DEFAULT_RNG_KEY) == LUA_TNIL) {
        push_rng(L, 0);
        lua_setfield(L, LUA_REGISTRYINDEX, DEFAULT_RNG_KEY);
    }
    lua_pop(L, 1);
}
