/*
 * lua_dataset.c - the crystens.dataset module: ct.dataset.load(path, opts)
 * and the Dataset userdata (#ds, ds[i], ds.skipped, ds.columns, ...).
 */
#include <stdlib.h>
#include <string.h>

#include "ct_elements.h"
#include "ct_layout.h"
#include "lua_structure.h"

static ct_dataset *checkdataset(lua_State *L, int idx)
{
    return ctL_checkbox(L, idx, CTL_DATASET, "data set");
}

/* Push a property string as a number when it reads as one. */
static void push_prop(lua_State *L, const char *v)
{
    if (!*v || !lua_stringtonumber(L, v)) lua_pushstring(L, v);
}

/* Push a copy of structure i (0-based) with its properties as user value. */
static void push_item(lua_State *L, const ct_dataset *ds, size_t i)
{
    ct_error err;
    ctL_pushstructure(L, ct_structure_clone(ds->items[i], &err), &err);
    lua_createtable(L, 0, (int)ds->ncols + 1);
    for (size_t c = 0; c < ds->ncols; c++) {
        push_prop(L, ct_dataset_prop(ds, i, c));
        lua_setfield(L, -2, ds->columns[c]);
    }
    lua_pushinteger(L, (lua_Integer)ds->rows[i]);
    lua_setfield(L, -2, "row");
    lua_setiuservalue(L, -2, 1);
}

#define SKIP(type, field) CTL_FIELD(ct_dataset_skip, type, field)
static const ctL_Field skip_fields[] = {
    SKIP(CTL_F_SIZE, row), SKIP(CTL_F_STRING, where), SKIP(CTL_F_STRING, reason), {NULL, 0, 0}
};

static void push_columns(lua_State *L, const ct_dataset *ds)
{
    lua_createtable(L, (int)ds->ncols, 0);
    for (size_t c = 0; c < ds->ncols; c++) {
        lua_pushstring(L, ds->columns[c]);
        lua_rawseti(L, -2, (lua_Integer)c + 1);
    }
}

static int mm_index(lua_State *L)
{
    ct_dataset *ds = checkdataset(L, 1);
    if (lua_type(L, 2) == LUA_TNUMBER) {
        lua_Integer i = luaL_checkinteger(L, 2);
        if (i < 1 || (size_t)i > ds->n) return 0;
        push_item(L, ds, (size_t)i - 1);
        return 1;
    }
    const char *key = luaL_checkstring(L, 2);
    if (ctL_getmethod(L, 1, 2) != LUA_TNIL) return 1;
    if (!strcmp(key, "skipped")) {
        /* Built once and kept as the userdata's user value: a loop over
           ds.skipped[i] rebuilt the whole table at every access. */
        if (lua_getiuservalue(L, 1, 1) == LUA_TNIL) {
            lua_pop(L, 1);
            ctL_pushrecords(L, ds->skipped, ds->nskipped, sizeof *ds->skipped, skip_fields);
            lua_pushvalue(L, -1);
            lua_setiuservalue(L, 1, 1);
        }
    }
    else if (!strcmp(key, "columns")) push_columns(L, ds);
    else if (!strcmp(key, "source")) lua_pushstring(L, ds->source);
    else return 0;
    return 1;
}

static int mm_len(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)checkdataset(L, 1)->n);
    return 1;
}

static int mm_tostring(lua_State *L)
{
    luaL_checkudata(L, 1, CTL_DATASET);
    const ct_dataset *ds = ctL_todataset(L, 1);
    if (!ds) {
        lua_pushliteral(L, "Dataset (freed)");
        return 1;
    }
    int lo = 0, hi = 0;
    for (size_t i = 0; i < ds->n; i++) {
        int a = ds->items[i]->natoms;
        if (!i || a < lo) lo = a;
        if (a > hi) hi = a;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    lua_pushfstring(L, "Dataset %s: %d structures (%d skipped), %d-%d atoms", ds->source,
                    (int)ds->n, (int)ds->nskipped, lo, hi);
    luaL_addvalue(&b);
    for (size_t c = 0; c < ds->ncols; c++) {
        luaL_addstring(&b, c ? ", " : ", columns: ");
        luaL_addstring(&b, *ds->columns[c] ? ds->columns[c] : "(index)");
    }
    luaL_pushresult(&b);
    return 1;
}

static int mm_gc(lua_State *L)
{
    ct_dataset_free(ctL_takebox(L, 1, CTL_DATASET));
    return 0;
}

static int m_structures(lua_State *L)
{
    ct_dataset *ds = checkdataset(L, 1);
    lua_createtable(L, (int)ds->n, 0);
    for (size_t i = 0; i < ds->n; i++) {
        push_item(L, ds, i);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static int m_column(lua_State *L)
{
    ct_dataset *ds = checkdataset(L, 1);
    const char *name = luaL_checkstring(L, 2);
    int c = ct_dataset_column(ds, name);
    if (c < 0) luaL_argerror(L, 2, lua_pushfstring(L, "no column '%s'", name));
    lua_createtable(L, (int)ds->n, 0);
    for (size_t i = 0; i < ds->n; i++) {
        push_prop(L, ct_dataset_prop(ds, i, (size_t)c));
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* Read option elements ({"Na", 17, ...}) into an array on the stack. */
static int *read_elements(ctL_Opts *o, int *n)
{
    lua_State *L = o->L;
    *n = 0;
    if (ctL_opt_push(o, "elements", LUA_TTABLE) == LUA_TNIL) return NULL;
    int t = lua_gettop(L);
    int len = (int)luaL_len(L, t);
    int *z = lua_newuserdatauv(L, (size_t)(len ? len : 1) * sizeof *z, 0);
    for (int i = 0; i < len; i++) {
        lua_geti(L, t, i + 1);
        size_t sl;
        const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &sl) : NULL;
        z[i] = s ? ct_element_z(s, sl) : (int)lua_tointeger(L, -1);
        if (!ct_element_symbol(z[i]))
            ctL_opt_error(o, "elements", "item %d is not an element", i + 1);
        lua_pop(L, 1);
    }
    *n = len;
    return z;
}

static const char *const load_keys[] = {"size", "max_atoms", "limit", "column", "progress",
                                        "elements", NULL};

static int d_load(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    ctL_Opts opt;
    ctL_optoptions(L, &opt, 2, "ct.dataset.load", load_keys);
    ct_dataset_opts o = {0};
    lua_Integer size = ctL_opt_range(&opt, "size", 0, CT_CRYSTENS_HEADER + 1, CT_CRYSTENS_MAX_SIZE);
    lua_Integer max_atoms = ctL_opt_integer(&opt, "max_atoms", size > CT_CRYSTENS_HEADER ? ct_layout_slots((int)size) : 0);
    if (max_atoms < 0 || max_atoms > 4096)
        ctL_opt_error(&opt, "max_atoms", "must be an integer from 0 (no limit) to 4096");
    o.max_atoms = (int)max_atoms;
    lua_Integer limit = ctL_opt_integer(&opt, "limit", 0);
    if (limit < 0) ctL_opt_error(&opt, "limit", "must not be negative");
    o.limit = (size_t)limit;
    o.column = ctL_opt_string(&opt, "column", "cif");
    o.progress = ctL_opt_boolean(&opt, "progress", 1);
    o.elements = read_elements(&opt, &o.nelements);
    void **box = ctL_newbox(L, CTL_DATASET, 1);   /* 1: ds.skipped, once built */
    ct_dataset *ds;
    ct_error err;
    int rc = ct_dataset_load(path, &o, &ds, &err);
    if (rc != CT_OK) return ctL_raise(L, &err, rc);
    *box = ds;
    if (ds->nwarnings == 1)
        fprintf(stderr, "warning: %s\n", ds->warning);
    else if (ds->nwarnings)
        fprintf(stderr, "warning: %zu blocks of %s were read with a warning; the first: %s\n",
                ds->nwarnings, path, ds->warning);
    return 1;
}

static const ctL_Reg dataset_methods[] = {
    {"structures", m_structures, "ds:structures() -> {Structure}. Every structure of ds, "
                                 "each with its properties."},
    {"column", m_column, "ds:column(name) -> {values}. One property of every structure "
                         "(numbers where the text reads as one)."},
    {NULL, NULL, NULL}
};

static const luaL_Reg dataset_meta[] = {
    {"__index", mm_index},
    {"__len", mm_len},
    {"__tostring", mm_tostring},
    {NULL, NULL}
};

static const ctL_Reg dataset_funcs[] = {
    {"load", d_load, "dataset.load(path, [{max_atoms=n, size=S, elements={...}, column='cif', "
                     "limit=n, progress=true}]) -> Dataset. Structures from a CSV file with a "
                     "column of CIF texts (other columns become properties), a CIF file, or a "
                     "folder of .cif files. Rows that give no structure, or fail the filters "
                     "(size=S means max_atoms=S-12), are listed in ds.skipped as {row, where, "
                     "reason}. #ds counts structures; ds[i] is a copy of structure i with "
                     "ds[i].properties."},
    {NULL, NULL, NULL}
};

int luaopen_crystens_dataset(lua_State *L)
{
    ctL_structure_register(L);
    ctL_newclass(L, CTL_DATASET, dataset_methods, mm_gc, dataset_meta);
    ctL_newlib(L, dataset_funcs, "crystens.dataset: many structures from CSV (a 'cif' column), "
               "CIF or a folder of .cif files, with per-row properties and a list of skipped "
               "rows and reasons.");
    return 1;
}
