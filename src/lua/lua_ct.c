/*
 * lua_ct.c - the binding toolkit of lua_ct.h: classes and boxes, options
 * tables, core errors, arguments and results, and the documentation table.
 *
 * Docs are kept in one weak-keyed table in the registry, keyed by the value
 * they document (a function, a module table), so they disappear with it and
 * help() can find them whatever name the user reached the value by.
 */
#include <stdarg.h>
#include <string.h>

#include "ct_backend.h"
#include "ct_layout.h"
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

void ctL_addfuncs(lua_State *L, int idx, const ctL_Reg *l)
{
    idx = lua_absindex(L, idx);
    for (; l->name; l++) {
        lua_pushcfunction(L, l->func);
        ctL_setdoc(L, -1, l->doc);
        lua_setfield(L, idx, l->name);
    }
}

void ctL_setfuncs(lua_State *L, const ctL_Reg *l)
{
    ctL_addfuncs(L, -1, l);
}

void ctL_newlib(lua_State *L, const ctL_Reg *l, const char *moddoc)
{
    lua_newtable(L);
    ctL_setfuncs(L, l);
    ctL_setdoc(L, -1, moddoc);
}

/* ---- Classes ------------------------------------------------------------------- */

void ctL_newclass(lua_State *L, const char *tname, const ctL_Reg *methods, lua_CFunction gc,
                  const luaL_Reg *metamethods)
{
    if (!luaL_newmetatable(L, tname)) {
        lua_pop(L, 1);
        return;
    }
    lua_newtable(L);
    if (methods) ctL_setfuncs(L, methods);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "__index");
    lua_setfield(L, -2, "methods");
    if (gc) {
        lua_pushcfunction(L, gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, gc);
        lua_setfield(L, -2, "__close");
    }
    if (metamethods) luaL_setfuncs(L, metamethods, 0);   /* may replace __index */
    lua_pop(L, 1);
}

void ctL_addmethods(lua_State *L, const char *tname, const ctL_Reg *methods)
{
    luaL_getmetatable(L, tname);
    lua_getfield(L, -1, "methods");
    ctL_setfuncs(L, methods);
    lua_pop(L, 2);
}

int ctL_getmethod(lua_State *L, int obj, int key)
{
    key = lua_absindex(L, key);
    if (!lua_getmetatable(L, obj)) {
        lua_pushnil(L);
        return LUA_TNIL;
    }
    lua_getfield(L, -1, "methods");
    lua_pushvalue(L, key);
    int t = lua_rawget(L, -2);
    lua_replace(L, -3);
    lua_pop(L, 1);
    return t;
}

void *ctL_newudata(lua_State *L, size_t size, int nuv, const char *tname)
{
    void *u = lua_newuserdatauv(L, size, nuv);
    memset(u, 0, size);
    luaL_setmetatable(L, tname);
    return u;
}

void **ctL_newbox(lua_State *L, const char *tname, int nuv)
{
    void **p = lua_newuserdatauv(L, sizeof *p, nuv);
    *p = NULL;
    luaL_setmetatable(L, tname);
    return p;
}

void ctL_pushbox(lua_State *L, const char *tname, int nuv, void *obj, const ct_error *err,
                 const char *what)
{
    if (!obj) {
        ctL_raisenone(L, err, what);
        return;
    }
    *ctL_newbox(L, tname, nuv) = obj;
}

void *ctL_tobox(lua_State *L, int idx, const char *tname)
{
    void **p = luaL_testudata(L, idx, tname);
    return p ? *p : NULL;
}

void *ctL_checkbox(lua_State *L, int idx, const char *tname, const char *what)
{
    void **p = luaL_checkudata(L, idx, tname);
    if (!*p) luaL_argerror(L, idx, lua_pushfstring(L, "%s has been freed", what));
    return *p;
}

void *ctL_takebox(lua_State *L, int idx, const char *tname)
{
    void **p = luaL_checkudata(L, idx, tname);
    void *obj = *p;
    *p = NULL;
    return obj;
}

void ctL_loadbox(lua_State *L, const char *tname, void *(*load)(const char *path, ct_error *err))
{
    const char *path = luaL_checkstring(L, 1);
    void **p = ctL_newbox(L, tname, 0);
    ct_error err;
    if (!(*p = load(path, &err))) ctL_raise(L, &err, CT_EIO);
}

/* ---- Core errors ------------------------------------------------------------- */

/* Push err's message as ctL_raise states it: a CT_ENOMEM message that does
   not say so already is prefixed "out of memory: ". */
static const char *push_core_message(lua_State *L, const ct_error *err, int status)
{
    const char *msg = err && err->msg[0] ? err->msg : "unknown error";
    if (status == CT_ENOMEM && !strstr(msg, "out of memory") && !strstr(msg, "too large"))
        return lua_pushfstring(L, "out of memory: %s", msg);
    return lua_pushstring(L, msg);
}

int ctL_raise(lua_State *L, const ct_error *err, int status)
{
    if (status == CT_EINTR) return luaL_error(L, "interrupted!");
    luaL_where(L, 1);
    push_core_message(L, err, status);
    lua_concat(L, 2);
    return lua_error(L);
}

int ctL_raisef(lua_State *L, const ct_error *err, int status, const char *fmt, ...)
{
    if (status == CT_EINTR) return luaL_error(L, "interrupted!");
    luaL_where(L, 1);
    va_list ap;
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    push_core_message(L, err, status);
    lua_concat(L, 3);
    return lua_error(L);
}

int ctL_argraise(lua_State *L, int arg, const ct_error *err, int status)
{
    if (status != CT_EINVAL && status != CT_EFORMAT) return ctL_raise(L, err, status);
    return luaL_argerror(L, arg, push_core_message(L, err, status));
}

int ctL_raisenone(lua_State *L, const ct_error *err, const char *what)
{
    ct_error none;
    if (!err) ct_fail(&none, CT_ENOMEM, "out of memory for a %s", what);
    return ctL_raise(L, err ? err : &none, ct_interrupted() ? CT_EINTR : CT_EINVAL);
}

int ctL_returnself(lua_State *L, int status, const ct_error *err, int arg)
{
    if (status != CT_OK) return arg ? ctL_argraise(L, arg, err, status) : ctL_raise(L, err, status);
    lua_settop(L, 1);
    return 1;
}

/* ---- Options tables -------------------------------------------------------------- */

const char *ctL_typename(lua_State *L, int idx)
{
    if (luaL_getmetafield(L, idx, "__name") == LUA_TSTRING) return lua_tostring(L, -1);
    if (lua_type(L, idx) == LUA_TLIGHTUSERDATA) return lua_pushliteral(L, "light userdata");
    return lua_pushstring(L, luaL_typename(L, idx));
}

/* The edit distance between a and b, adjacent transpositions counting one
   (optimal string alignment); names are short, so rows fit on the stack. */
static size_t edit_distance(const char *a, const char *b)
{
    enum { MAXLEN = 63 };
    size_t la = strlen(a), lb = strlen(b);
    if (la > MAXLEN || lb > MAXLEN) return (size_t)-1;
    unsigned char d[MAXLEN + 1][MAXLEN + 1];   /* distances are at most MAXLEN */
    for (size_t i = 0; i <= la; i++) d[i][0] = (unsigned char)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (unsigned char)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            unsigned best = d[i - 1][j - 1] + (unsigned)(a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1u < best) best = d[i - 1][j] + 1u;
            if (d[i][j - 1] + 1u < best) best = d[i][j - 1] + 1u;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1u < best)
                best = d[i - 2][j - 2] + 1u;
            d[i][j] = (unsigned char)best;
        }
    return d[la][lb];
}

/* The name in names (NULL-terminated) closest to word, or NULL when none is
   close enough to be what the user meant: fewer edits than half its length. */
static const char *closest(const char *word, const char *const names[])
{
    const char *best = NULL;
    size_t bestd = (size_t)-1;
    for (; *names; names++) {
        size_t d = edit_distance(word, *names);
        if (d < bestd && 2 * d < strlen(*names)) best = *names, bestd = d;
    }
    return best;
}

/* Push "'a', 'b' or 'c'" for names (last joins the last two). */
static const char *push_name_list(lua_State *L, const char *const names[], const char *last)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t i = 0; names[i]; i++) {
        if (i) luaL_addstring(&b, names[i + 1] ? ", " : last);
        luaL_addchar(&b, '\'');
        luaL_addstring(&b, names[i]);
        luaL_addchar(&b, '\'');
    }
    luaL_pushresult(&b);
    return lua_tostring(L, -1);
}

/* Raise "bad argument #arg to 'fname' (msg)" for the options argument. */
static int options_argerror(ctL_Opts *o, const char *msg)
{
    return luaL_error(o->L, "bad argument #%d to '%s' (%s)", o->arg, o->fname, msg);
}

int ctL_opt_error(ctL_Opts *o, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const char *msg = lua_pushvfstring(o->L, fmt, ap);
    va_end(ap);
    return luaL_error(o->L, "bad option '%s' to '%s' (%s)", key, o->fname, msg);
}

/* Check that key is one the options declare: reading another is a bug in
   the binding, which no user input should be able to hide. */
static void check_declared(ctL_Opts *o, const char *key)
{
    for (const char *const *k = o->keys; *k; k++)
        if (!strcmp(*k, key)) return;
    luaL_error(o->L, "'%s' reads option '%s' it does not declare", o->fname, key);
}

static void begin_options(lua_State *L, ctL_Opts *o, int idx, const char *fname,
                          const char *const keys[], int required)
{
    o->L = L;
    o->idx = lua_absindex(L, idx);
    /* as luaL_argerror counts: a method call's self is no argument */
    lua_Debug ar;
    o->arg = o->idx;
    if (lua_getstack(L, 0, &ar) && lua_getinfo(L, "n", &ar) && ar.namewhat &&
        !strcmp(ar.namewhat, "method"))
        o->arg--;
    o->fname = fname;
    o->keys = keys;
    int type = lua_type(L, o->idx);
    if (!required && type <= LUA_TNIL) {
        o->idx = 0;
        return;
    }
    if (type != LUA_TTABLE)
        options_argerror(o, lua_pushfstring(L, "options table expected, got %s",
                                            type == LUA_TNONE ? "no value" : ctL_typename(L, o->idx)));
    lua_pushnil(L);
    while (lua_next(L, o->idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            int k = lua_gettop(L);
            const char *kind = ctL_typename(L, k);
            const char *shown = luaL_tolstring(L, k, NULL);
            options_argerror(o, lua_pushfstring(L, "option names are strings, got %s %s", kind, shown));
        }
        const char *key = lua_tostring(L, -1);
        const char *const *k = keys;
        while (*k && strcmp(*k, key)) k++;
        if (*k) continue;
        const char *near = closest(key, keys);
        if (near) ctL_opt_error(o, key, "unknown option; did you mean '%s'?", near);
        if (!*keys) ctL_opt_error(o, key, "unknown option; it takes none");
        ctL_opt_error(o, key, "unknown option; known: %s", push_name_list(L, keys, ", "));
    }
}

void ctL_optoptions(lua_State *L, ctL_Opts *o, int idx, const char *fname,
                    const char *const keys[])
{
    begin_options(L, o, idx, fname, keys, 0);
}

void ctL_checkoptions(lua_State *L, ctL_Opts *o, int idx, const char *fname,
                      const char *const keys[])
{
    begin_options(L, o, idx, fname, keys, 1);
}

int ctL_opt_typeerror(ctL_Opts *o, const char *key, const char *expected)
{
    if (o->idx) lua_getfield(o->L, o->idx, key);
    else lua_pushnil(o->L);
    return ctL_opt_error(o, key, "%s expected, got %s", expected, ctL_typename(o->L, -1));
}

int ctL_opt_push(ctL_Opts *o, const char *key, int type)
{
    check_declared(o, key);
    if (!o->idx) {
        lua_pushnil(o->L);
        return LUA_TNIL;
    }
    int t = lua_getfield(o->L, o->idx, key);
    if (t != LUA_TNIL && type != LUA_TNONE && t != type)
        ctL_opt_typeerror(o, key, lua_typename(o->L, type));
    return t;
}

int ctL_opt_given(ctL_Opts *o, const char *key)
{
    int t = ctL_opt_push(o, key, LUA_TNONE);
    lua_pop(o->L, 1);
    return t != LUA_TNIL;
}

lua_Number ctL_opt_number(ctL_Opts *o, const char *key, lua_Number def)
{
    if (ctL_opt_push(o, key, LUA_TNUMBER) != LUA_TNIL) def = lua_tonumber(o->L, -1);
    lua_pop(o->L, 1);
    return def;
}

lua_Integer ctL_opt_integer(ctL_Opts *o, const char *key, lua_Integer def)
{
    if (ctL_opt_push(o, key, LUA_TNUMBER) != LUA_TNIL) {
        int ok;
        def = lua_tointegerx(o->L, -1, &ok);
        if (!ok) ctL_opt_error(o, key, "number has no integer representation");
    }
    lua_pop(o->L, 1);
    return def;
}

lua_Integer ctL_opt_range(ctL_Opts *o, const char *key, lua_Integer def, lua_Integer lo,
                          lua_Integer hi)
{
    if (!ctL_opt_given(o, key)) return def;
    lua_Integer v = ctL_opt_integer(o, key, def);
    if (v < lo || v > hi) ctL_opt_error(o, key, "must be an integer from %I to %I", lo, hi);
    return v;
}

int ctL_opt_boolean(ctL_Opts *o, const char *key, int def)
{
    if (ctL_opt_push(o, key, LUA_TBOOLEAN) != LUA_TNIL) def = lua_toboolean(o->L, -1);
    lua_pop(o->L, 1);
    return def;
}

const char *ctL_opt_string(ctL_Opts *o, const char *key, const char *def)
{
    if (ctL_opt_push(o, key, LUA_TSTRING) != LUA_TNIL) def = lua_tostring(o->L, -1);
    lua_pop(o->L, 1);   /* the string stays alive: it is in the options table */
    return def;
}

int ctL_opt_enum(ctL_Opts *o, const char *key, const char *def, const char *const names[])
{
    const char *v = ctL_opt_string(o, key, def);
    for (int i = 0; names[i]; i++)
        if (!strcmp(names[i], v)) return i;
    const char *near = closest(v, names);
    if (near) return ctL_opt_error(o, key, "invalid value '%s'; did you mean '%s'?", v, near);
    return ctL_opt_error(o, key, "invalid value '%s'; expected %s", v,
                         push_name_list(o->L, names, " or "));
}

/* ---- Arguments ------------------------------------------------------------------- */

void ctL_setnumber(lua_State *L, const char *k, lua_Number v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

void ctL_setinteger(lua_State *L, const char *k, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

void ctL_setfields(lua_State *L, const void *base, const ctL_Field *fields)
{
    for (const ctL_Field *f = fields; f->key; f++) {
        const char *p = (const char *)base + f->offset;
        switch (f->type) {
        case CTL_F_DOUBLE: lua_pushnumber(L, *(const double *)p); break;
        case CTL_F_FLOAT: lua_pushnumber(L, (lua_Number)*(const float *)p); break;
        case CTL_F_INT: lua_pushinteger(L, *(const int *)p); break;
        case CTL_F_LONG: lua_pushinteger(L, *(const long *)p); break;
        case CTL_F_SIZE: lua_pushinteger(L, (lua_Integer)*(const size_t *)p); break;
        case CTL_F_BOOL: lua_pushboolean(L, *(const int *)p); break;
        case CTL_F_STRING:
            if (!*(const char *const *)p) continue;
            lua_pushstring(L, *(const char *const *)p);
            break;
        }
        lua_setfield(L, -2, f->key);
    }
}

void ctL_pushnumbers(lua_State *L, const double *x, size_t n)
{
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushnumber(L, x[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

void ctL_pushints(lua_State *L, const int *x, size_t n)
{
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushinteger(L, x[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

void ctL_pushfields(lua_State *L, const void *base, const ctL_Field *fields)
{
    int n = 0;
    while (fields[n].key) n++;
    lua_createtable(L, 0, n);
    ctL_setfields(L, base, fields);
}

void ctL_pushrecords(lua_State *L, const void *base, size_t n, size_t size,
                     const ctL_Field *fields)
{
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        ctL_pushfields(L, (const char *)base + i * size, fields);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
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

int ctL_checkmeta(lua_State *L, int idx, const char ***keys, const char ***vals)
{
    idx = lua_absindex(L, idx);
    int n = 0;
    if (!lua_isnoneornil(L, idx)) {
        luaL_checktype(L, idx, LUA_TTABLE);
        for (lua_pushnil(L); lua_next(L, idx); lua_pop(L, 1)) {
            int t = lua_type(L, -1);
            if (lua_type(L, -2) != LUA_TSTRING || (t != LUA_TSTRING && t != LUA_TNUMBER))
                luaL_argerror(L, idx, "metadata must map strings to strings or numbers");
            n++;
        }
    }
    *keys = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof **keys, 0);
    *vals = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof **vals, 0);
    lua_createtable(L, n, 0);   /* keeps the numbers' texts alive */
    int anchor = lua_gettop(L), i = 0;
    if (n)
        for (lua_pushnil(L); lua_next(L, idx); lua_pop(L, 1)) {
            (*keys)[i] = lua_tostring(L, -2);   /* a string key: lua_next is not disturbed */
            (*vals)[i] = luaL_tolstring(L, -1, NULL);
            lua_rawseti(L, anchor, ++i);
        }
    return n;
}

void ctL_pushmeta(lua_State *L, const ct_checkpoint *ck)
{
    lua_createtable(L, 0, ck->nmeta);
    for (int i = 0; i < ck->nmeta; i++) {
        lua_pushstring(L, ck->meta[i].value);
        lua_setfield(L, -2, ck->meta[i].key);
    }
}

ct_layer **ctL_checklayers(lua_State *L, int idx, int *n)
{
    idx = lua_absindex(L, idx);
    luaL_checktype(L, idx, LUA_TTABLE);
    *n = (int)luaL_len(L, idx);
    ct_layer **ls = lua_newuserdatauv(L, (size_t)(*n ? *n : 1) * sizeof *ls, 0);
    for (int i = 0; i < *n; i++) {
        lua_geti(L, idx, i + 1);
        ls[i] = ctL_tobox(L, -1, CTL_LAYER);
        if (!ls[i]) luaL_argerror(L, idx, lua_pushfstring(L, "item %d is not a layer", i + 1));
        lua_pop(L, 1);   /* the array keeps it alive */
    }
    return ls;
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

/* Account for bytes of GPU memory a new tensor holds: once 256 MiB of them
   are out, a full collection returns the garbage among them.  One cycle
   per that much, not a collector step per tensor as on the CPU: with a
   U-Net loaded a step takes about 60 µs, and a training step makes some
   250 such tensors, a third of the 43 ms the H100 took for a step at
   batch 16. */
static void device_garbage(lua_State *L, size_t bytes)
{
    static size_t pending;   /* bytes of GPU tensors made since the last collection */
    pending += bytes;
    if (pending >= ((size_t)256 << 20)) {
        pending = 0;
        lua_gc(L, LUA_GCCOLLECT);
    }
}

void ctL_pushtensor(lua_State *L, ct_tensor *t, const ct_error *err)
{
    if (!t) {
        ctL_raisenone(L, err, "tensor");
        return;
    }
    /* The userdata is valid from birth: NULL until it owns t. */
    ct_tensor **p = lua_newuserdatauv(L, sizeof *p, 0);
    *p = NULL;
    luaL_setmetatable(L, CTL_TENSOR);
    *p = t;
    /* Let the collector see the bytes it does not allocate itself, or
       temporaries made in a training loop pile up between cycles.  GPU
       tensors are counted apart (device_garbage): a step per tensor
       would cost more than the GPU's work on it. */
    if (t->storage->refcount == 1 && t->numel >= 4096) {
        if (t->device != CT_DEV_CPU) device_garbage(L, t->numel * sizeof(float));
        else lua_gc(L, LUA_GCSTEP, (int)(t->numel * sizeof(float) / 1024));
    }
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

int ctL_checkcrystens(lua_State *L, int idx, const ct_tensor *t, int *batch)
{
    int lead = t->ndim == 4;
    const int64_t *sh = t->shape + lead;
    if (t->ndim < 3 || t->ndim > 4 || sh[0] != CT_CRYSTENS_LAYERS || sh[1] != sh[2] ||
        sh[1] <= CT_CRYSTENS_HEADER || sh[1] > CT_CRYSTENS_MAX_SIZE) {
        char buf[96];
        luaL_argerror(L, idx, lua_pushfstring(L, "expected 4×S×S or N×4×S×S tensor "
                                                 "(%d <= S <= %d), got %s",
                                              CT_CRYSTENS_HEADER + 1, CT_CRYSTENS_MAX_SIZE,
                                              ct_tensor_shape_str(t, buf, sizeof buf)));
    }
    *batch = lead;
    return (int)sh[1];
}

/* The docs module is the docs table itself: doc[value] -> text. */
int luaopen_crystens_doc(lua_State *L)
{
    push_docs(L);
    return 1;
}
