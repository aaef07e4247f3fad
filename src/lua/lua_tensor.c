/*
 * lua_tensor.c - the crystens.tensor module: tensors as Lua userdata.
 *
 * A tensor userdata holds one ct_tensor pointer; __gc and __close release it.
 * Indexing with an integer returns a view along the first dimension (1-based,
 * as Lua users expect); a view shares its parent's bytes.
 */
#include <math.h>
#include <string.h>

#include "ct_backend.h"
#include "lua_ct.h"

#define checktensor(L, i) ctL_checkanytensor(L, i)

static int t_new(lua_State *L)
{
    int64_t shape[CT_MAXDIM];
    int nd = ctL_checkshape(L, 1, shape);
    ct_error err;
    ctL_pushtensor(L, ct_tensor_new(nd, shape, &err), &err);
    return 1;
}

/* Fill t->data from the nested table at idx, checking it is rectangular. */
static size_t fill_from_table(lua_State *L, int idx, const ct_tensor *t, int dim, size_t off)
{
    lua_Integer n = luaL_len(L, idx);
    if (n != t->shape[dim])
        luaL_error(L, "bad argument #1 to 'from' (ragged table: %d items where %d expected)",
                   (int)n, (int)t->shape[dim]);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, idx, i);
        if (dim + 1 < t->ndim) {
            if (!lua_istable(L, -1)) luaL_error(L, "bad argument #1 to 'from' (ragged table)");
            off = fill_from_table(L, lua_gettop(L), t, dim + 1, off);
        } else {
            int ok;
            lua_Number v = lua_tonumberx(L, -1, &ok);
            if (!ok) luaL_error(L, "bad argument #1 to 'from' (item is not a number)");
            t->data[off++] = (float)v;
        }
        lua_pop(L, 1);
    }
    return off;
}

static int t_from(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int64_t shape[CT_MAXDIM];
    int nd = 0;
    lua_pushvalue(L, 1);
    while (lua_istable(L, -1)) {   /* walk down the first items for the shape */
        luaL_argcheck(L, nd < CT_MAXDIM, 1, "at most 5 dimensions");
        shape[nd++] = luaL_len(L, -1);
        lua_geti(L, -1, 1);
    }
    lua_pop(L, nd + 1);
    ct_error err;
    ct_tensor *t = ct_tensor_new(nd, shape, &err);
    ctL_pushtensor(L, t, &err);
    fill_from_table(L, 1, t, 0, 0);
    return 1;
}

static int t_load(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    ct_error err;
    ctL_pushtensor(L, ct_tensor_load_npy(path, &err), &err);
    return 1;
}

static int m_save(lua_State *L)
{
    ct_tensor *t = checktensor(L, 1);
    const char *path = luaL_checkstring(L, 2);
    ct_error err;
    int rc = ct_tensor_save_npy(t, path, &err);
    return ctL_returnself(L, rc, &err, 0);
}

static int m_shape(lua_State *L)
{
    ct_tensor *t = checktensor(L, 1);
    lua_createtable(L, t->ndim, 0);
    for (int i = 0; i < t->ndim; i++) {
        lua_pushinteger(L, t->shape[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int m_size(lua_State *L)
{
    ct_tensor *t = checktensor(L, 1);
    if (lua_isnoneornil(L, 2)) return m_shape(L);
    lua_Integer d = luaL_checkinteger(L, 2);
    luaL_argcheck(L, d >= 1 && d <= t->ndim, 2, "dimension out of range");
    lua_pushinteger(L, t->shape[d - 1]);
    return 1;
}

static int m_dim(lua_State *L)
{
    lua_pushinteger(L, checktensor(L, 1)->ndim);
    return 1;
}

static int m_numel(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)checktensor(L, 1)->numel);
    return 1;
}

static int m_clone(lua_State *L)
{
    ct_error err;
    ctL_pushtensor(L, ct_tensor_clone(checktensor(L, 1), &err), &err);
    return 1;
}

static int m_reshape(lua_State *L)
{
    ct_tensor *t = checktensor(L, 1);
    int64_t shape[CT_MAXDIM];
    int nd = ctL_checkshape(L, 2, shape);
    ct_error err;
    ctL_pushtensor(L, ct_tensor_reshape(t, nd, shape, &err), &err);
    return 1;
}

static int m_narrow(lua_State *L)
{
    ct_tensor *t = checktensor(L, 1);
    lua_Integer start = luaL_checkinteger(L, 2);
    lua_Integer len = luaL_checkinteger(L, 3);
    ct_error err;
    ctL_pushtensor(L, ct_tensor_narrow(t, start - 1, len, &err), &err);
    return 1;
}

#define STAT(type, field) CTL_FIELD(ct_tensor_stats, type, field)
static const ctL_Field stats_fields[] = {
    STAT(CTL_F_FLOAT, min), STAT(CTL_F_DOUBLE, mean), STAT(CTL_F_FLOAT, max),
    STAT(CTL_F_SIZE, nonfinite), {NULL, 0, 0}
};

static int m_stats(lua_State *L)
{
    ct_tensor_stats s;
    ct_tensor_stats_of(checktensor(L, 1), &s);
    ctL_pushfields(L, &s, stats_fields);
    return 1;
}

/* Compute the flat offset of the integer indices at idx.. (1-based). */
static size_t flat_offset(lua_State *L, const ct_tensor *t, int idx)
{
    int n = lua_gettop(L) - idx + 1;
    if (n != t->ndim)
        luaL_error(L, "expected %d indices for a %d-d tensor, got %d", t->ndim, t->ndim, n);
    size_t off = 0;
    for (int d = 0; d < t->ndim; d++) {
        lua_Integer i = luaL_checkinteger(L, idx + d);
        if (i < 1 || i > t->shape[d])
            luaL_argerror(L, idx + d, lua_pushfstring(L, "index %d out of range 1..%d",
                                                      (int)i, (int)t->shape[d]));
        off = off * (size_t)t->shape[d] + (size_t)(i - 1);
    }
    return off;
}

static int m_get(lua_State *L)
{
    ct_tensor *t = ctL_checktensor(L, 1);
    lua_pushnumber(L, t->data[flat_offset(L, t, 2)]);
    return 1;
}

static int m_set(lua_State *L)
{
    ct_tensor *t = ctL_checktensor(L, 1);
    float v = (float)luaL_checknumber(L, 2);
    t->data[flat_offset(L, t, 3)] = v;
    lua_settop(L, 1);
    return 1;
}

/* Push the items of t from offset off along dimension dim as nested tables. */
static size_t push_table(lua_State *L, const ct_tensor *t, int dim, size_t off)
{
    luaL_checkstack(L, 4, "tensor too deep");
    lua_createtable(L, (int)t->shape[dim], 0);
    for (int64_t i = 0; i < t->shape[dim]; i++) {
        if (dim + 1 < t->ndim) {
            off = push_table(L, t, dim + 1, off);
        } else {
            lua_pushnumber(L, t->data[off++]);
        }
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return off;
}

static int m_totable(lua_State *L)
{
    ct_tensor *t = ctL_checktensor(L, 1);
    if (t->ndim == 0) lua_pushnumber(L, t->data[0]);
    else push_table(L, t, 0, 0);
    return 1;
}

static int mm_gc(lua_State *L)
{
    ct_tensor **p = luaL_checkudata(L, 1, CTL_TENSOR);
    ct_tensor_free(*p);
    *p = NULL;
    return 0;
}

/* v at float32 precision (6 significant digits, not the 14 of a double's
   noise), with ".0" kept on whole numbers as Lua shows floats. */
static const char *num6(char buf[32], double v)
{
    snprintf(buf, 32, "%.6g", v);
    if (!strpbrk(buf, ".eEnN")) strcat(buf, ".0");
    return buf;
}

static int mm_tostring(lua_State *L)
{
    ct_tensor **p = luaL_checkudata(L, 1, CTL_TENSOR);
    if (!*p) {
        lua_pushliteral(L, "Tensor (freed)");
        return 1;
    }
    char shape[96], lo[32], mid[32], hi[32];
    ct_tensor_stats s;
    ct_tensor_stats_of(*p, &s);
    ct_tensor_shape_str(*p, shape, sizeof shape);
    num6(lo, (double)s.min), num6(mid, s.mean), num6(hi, (double)s.max);
    if (s.nonfinite)
        lua_pushfstring(L, "Tensor %s  min %s  mean %s  max %s  (%I NaN/Inf)", shape, lo, mid, hi,
                        (lua_Integer)s.nonfinite);
    else
        lua_pushfstring(L, "Tensor %s  min %s  mean %s  max %s", shape, lo, mid, hi);
    if ((*p)->device != CT_DEV_CPU) {
        lua_pushliteral(L, "  (cuda)");
        lua_concat(L, 2);
    }
    return 1;
}

static int mm_len(lua_State *L)
{
    ct_tensor *t = checktensor(L, 1);
    lua_pushinteger(L, t->ndim ? t->shape[0] : 1);
    return 1;
}

/* t[i] is a view of row i; t.name is a method. */
static int mm_index(lua_State *L)
{
    ct_tensor *t = checktensor(L, 1);
    if (lua_type(L, 2) == LUA_TNUMBER) {
        lua_Integer i = luaL_checkinteger(L, 2);
        ct_error err;
        ctL_pushtensor(L, ct_tensor_select(t, i - 1, &err), &err);
        return 1;
    }
    ctL_getmethod(L, 1, 2);
    return 1;
}

static const ctL_Reg tensor_methods[] = {
    {"save", m_save, "t:save(path) -> t. Write t as a NumPy .npy file (float32, C order), "
                     "through a temporary file renamed into place."},
    {"shape", m_shape, "t:shape() -> {sizes}. The sizes of t's dimensions, outermost first."},
    {"size", m_size, "t:size([dim]) -> n. The size of dimension dim (1-based), or the shape table."},
    {"dim", m_dim, "t:dim() -> n. The number of dimensions of t."},
    {"numel", m_numel, "t:numel() -> n. The number of elements of t."},
    {"clone", m_clone, "t:clone() -> Tensor. A deep copy of t with its own storage."},
    {"reshape", m_reshape, "t:reshape(shape) -> Tensor. A view of t with another shape "
                           "of the same number of elements."},
    {"narrow", m_narrow, "t:narrow(start, len) -> Tensor. A view of rows start..start+len-1 "
                         "along the first dimension."},
    {"stats", m_stats, "t:stats() -> {min, mean, max, nonfinite}. Statistics over the finite "
                       "elements, and the count of NaN/Inf."},
    {"get", m_get, "t:get(i, j, ...) -> number. The element at 1-based indices, one per dimension."},
    {"set", m_set, "t:set(value, i, j, ...) -> t. Store value at 1-based indices."},
    {"totable", m_totable, "t:totable() -> table. The elements of t as nested Lua tables."},
    {NULL, NULL, NULL}
};

static const luaL_Reg tensor_meta[] = {
    {"__index", mm_index},
    {"__tostring", mm_tostring},
    {"__len", mm_len},
    {NULL, NULL}
};

static const ctL_Reg tensor_funcs[] = {
    {"new", t_new, "tensor.new(shape | d1, d2, ...) -> Tensor. A zero-filled "
                   "float32 tensor of up to 5 dimensions."},
    {"from", t_from, "tensor.from(table) -> Tensor. A tensor from nested Lua tables of "
                     "numbers; the tables must be rectangular."},
    {"load", t_load, "tensor.load(path) -> Tensor. Read a NumPy .npy file (float32 or "
                     "float64, C order, up to 5-d)."},
    {NULL, NULL, NULL}
};

int luaopen_crystens_tensor(lua_State *L)
{
    /* __index is a function (integer indexing gives views): the methods
       are found in mt.methods. */
    ctL_newclass(L, CTL_TENSOR, tensor_methods, mm_gc, tensor_meta);
    ctL_tensor_device_open(L);
    ctL_newlib(L, tensor_funcs, "crystens.tensor: dense float32 tensors (up to 5-d) with "
               "views, statistics, NumPy .npy files, element-wise arithmetic (t + u, t:add_(u), "
               "broadcasting), reductions and seeded random draws (tensor.seed, tensor.rng). "
               "Index with t[i] for a view of row i.");
    ctL_tensor_ops_open(L, -1);
    ctL_rng_open(L, -1);
    return 1;
}
