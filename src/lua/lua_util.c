/*
 * lua_util.c - the binding helpers of lua_ct.h and the documentation table.
 *
 * Docs are kept in one weak-keyed table in the registry, keyed by the value
 * they document (a function, a module table), so they disappear with it and
 * help() can find them whatever name the user reached the value by.
 */
#include <string.h>

#include "ct_backend.h"
#include "lua_ct.h"

static const char DOCS_KEY[] = "crystens.docs";

/* Push the docs table, creating it on first use. */
static void push_docs(lua_State *L)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, DOCS_KEY) == LUA_TTABLE) return;
    lua_pop(L, 1);
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, DOCS_KEY);
}

void ctL_setdoc(lua_State *L, int idx, const char *doc)
{
    if (!doc) return;
    idx = lua_absindex(L, idx);
    push_docs(L);
    lua_pushvalue(L, idx);
    lua_pushstring(L, doc);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

void ctL_setfuncs(lua_State *L, const ctL_Reg *l)
{
    for (; l->name; l++) {
        lua_pushcfunction(L, l->func);
        ctL_setdoc(L, -1, l->doc);
        lua_setfield(L, -2, l->name);
    }
}

void ctL_newlib(lua_State *L, const ctL_Reg *l, const char *moddoc)
{
    lua_newtable(L);
    ctL_setfuncs(L, l);
    ctL_setdoc(L, -1, moddoc);
}

void ctL_newclass(lua_State *L, const char *tname, const ctL_Reg *methods,
                  const luaL_Reg *metamethods)
{
    luaL_newmetatable(L, tname);
    if (metamethods) luaL_setfuncs(L, metamethods, 0);
    if (methods && lua_getfield(L, -1, "__index") != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, "__index");
    }
    if (methods) {
        ctL_setfuncs(L, methods);
        lua_pop(L, 1);
    }
}

int ctL_raise(lua_State *L, const ct_error *err, int status)
{
    if (status == CT_EINTR) return luaL_error(L, "interrupted!");
    return luaL_error(L, "%s", err->msg);
}

ct_tensor *ctL_toanytensor(lua_State *L, int idx)
{
    ct_tensor **p = luaL_testudata(L, idx, CTL_TENSOR);
    return p ? *p : NULL;
}

ct_tensor *ctL_checkanytensor(lua_State *L, int idx)
{
    ct_tensor **p = luaL_testudata(L, idx, CTL_TENSOR);
    if (!p) luaL_typeerror(L, idx, "tensor");
    if (!*p) luaL_argerror(L, idx, "tensor has been freed");
    return *p;
}

static ct_tensor *cpu_only(lua_State *L, int idx, ct_tensor *t)
{
    if (t && t->device != CT_DEV_CPU)
        luaL_argerror(L, idx, "the tensor is on the GPU; this runs on the CPU only: pass "
                      "t:to(\"cpu\")");
    return t;
}

ct_tensor *ctL_totensor(lua_State *L, int idx)
{
    return cpu_only(L, idx, ctL_toanytensor(L, idx));
}

ct_tensor *ctL_checktensor(lua_State *L, int idx)
{
    return cpu_only(L, idx, ctL_checkanytensor(L, idx));
}

void ctL_pushtensor(lua_State *L, ct_tensor *t, const ct_error *err)
{
    if (!t) {
        luaL_error(L, "%s", err ? err->msg : "tensor allocation failed");
        return;
    }
    /* The userdata is valid from birth: NULL until it owns t. */
    ct_tensor **p = lua_newuserdatauv(L, sizeof *p, 0);
    *p = NULL;
    luaL_setmetatable(L, CTL_TENSOR);
    *p = t;
    /* Let the collector see the bytes it does not allocate itself, or
       temporaries made in a training loop pile up between cycles. */
    if (t->storage->refcount == 1 && t->numel >= 4096)
        lua_gc(L, LUA_GCSTEP, (int)(t->numel * sizeof(float) / 1024));
}

int ctL_checkshape(lua_State *L, int idx, int64_t *shape)
{
    int nd = 0;
    if (lua_istable(L, idx)) {
        nd = (int)luaL_len(L, idx);
        luaL_argcheck(L, nd <= CT_MAXDIM, idx, "at most 5 dimensions");
        for (int i = 0; i < nd; i++) {
            lua_geti(L, idx, i + 1);
            int ok;
            lua_Integer v = lua_tointegerx(L, -1, &ok);
            lua_pop(L, 1);
            if (!ok || v < 0)
                luaL_argerror(L, idx, lua_pushfstring(L, "size %d is not a non-negative integer", i + 1));
            shape[i] = v;
        }
        return nd;
    }
    int top = lua_gettop(L);
    luaL_argcheck(L, top - idx + 1 <= CT_MAXDIM, idx, "at most 5 dimensions");
    for (int i = idx; i <= top; i++) {
        lua_Integer v = luaL_checkinteger(L, i);
        luaL_argcheck(L, v >= 0, i, "size must be non-negative");
        shape[nd++] = v;
    }
    return nd;
}

/* The docs module is the docs table itself: doc[value] -> text. */
int luaopen_crystens_doc(lua_State *L)
{
    push_docs(L);
    return 1;
}
