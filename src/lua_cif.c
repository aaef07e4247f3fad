/*
 * lua_cif.c - the crystens.cif module: ct.cif.read, ct.cif.parse,
 * ct.cif.write.
 *
 * read and parse are strict: a block that gives no structure raises an
 * error naming the file, the block and the reason (ct.dataset.load is the
 * lenient path that skips such blocks).
 */
#include <string.h>

#include "ct_cif.h"
#include "ct_symmetry.h"
#include "lua_structure.h"

#define CIF_RESULT "crystens.CifResult"

/* A ct_cif_result in a userdata whose __gc frees what it still holds, so
   nothing leaks when a Lua error interrupts the hand-over. */
static ct_cif_result *new_result(lua_State *L)
{
    ct_cif_result *r = lua_newuserdatauv(L, sizeof *r, 0);
    memset(r, 0, sizeof *r);
    luaL_setmetatable(L, CIF_RESULT);
    return r;
}

static int result_gc(lua_State *L)
{
    ct_cif_result_free(luaL_checkudata(L, 1, CIF_RESULT));
    return 0;
}

/* Push r's structures as an array, moving them out of r; raise on the first
   failed block. */
static int push_result(lua_State *L, ct_cif_result *r, const char *source)
{
    if (r->nfailed)
        return luaL_error(L, "%s: block '%s': %s", source, r->failed[0].block,
                          r->failed[0].reason);
    lua_createtable(L, (int)r->n, 0);
    for (size_t i = 0; i < r->n; i++) {
        ctL_pushstructure(L, r->items[i], NULL);
        r->items[i] = NULL;   /* owned by the userdata now */
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int c_read(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    ct_cif_result *r = new_result(L);
    ct_error err;
    int rc = ct_cif_read(path, r, &err);
    if (rc != CT_OK) return ctL_raise(L, &err, rc);
    return push_result(L, r, path);
}

static int c_parse(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    const char *source = luaL_optstring(L, 2, "string");
    ct_cif_result *r = new_result(L);
    ct_error err;
    int rc = ct_cif_parse(text, len, source, r, &err);
    if (rc != CT_OK) return ctL_raise(L, &err, rc);
    return push_result(L, r, source);
}

static int c_write(lua_State *L)
{
    size_t n;
    int single;
    lua_settop(L, 3);   /* the array below goes on top of the arguments */
    ct_structure **arr = ctL_checkstructures(L, 1, &n, &single);
    const char *path = luaL_checkstring(L, 2);
    if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
    luaL_argcheck(L, n > 0, 1, "no structures to write");
    double symprec = ctL_optnumber(L, 3, "symprec", CT_SYMPREC);
    luaL_argcheck(L, symprec > 0, 3, "symprec must be positive");
    if (!ctL_optbool(L, 3, "symmetrize", 0)) symprec = 0;
    ct_error err;
    int rc = ct_cif_write(arr, n, path, symprec, &err);
    if (rc != CT_OK) return ctL_raise(L, &err, rc);
    return 0;
}

static const ctL_Reg cif_funcs[] = {
    {"read", c_read, "cif.read(path) -> {Structure}. One structure per data block, the full "
                     "cell after the block's symmetry operations (duplicates merged, "
                     "coordinates wrapped into [0, 1)). A block without cell or atoms, with "
                     "partial occupancy or an unknown element raises an error naming file, "
                     "block and reason."},
    {"parse", c_parse, "cif.parse(text, [source]) -> {Structure}. As cif.read, from a string; "
                       "source names it in messages."},
    {"write", c_write, "cif.write(structure | {structures} | dataset, path, [{symmetrize=false, "
                       "symprec=0.1}]). Write the structures as CIF data blocks: P1 with every "
                       "atom, or the spglib-refined cell with space group, operations and "
                       "asymmetric unit. The file is written to a temporary name and renamed."},
    {NULL, NULL, NULL}
};

int luaopen_crystens_cif(lua_State *L)
{
    ctL_structure_register(L);
    lua_pop(L, 1);
    luaL_newmetatable(L, CIF_RESULT);
    lua_pushcfunction(L, result_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    ctL_newlib(L, cif_funcs, "crystens.cif: Crystallographic Information Files in and out "
               "(gemmi's parser; P1 or symmetrised output).");
    return 1;
}
