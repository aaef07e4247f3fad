/*
 * lua_structure.c - the crystens.structure module: crystal structures as
 * Lua userdata, with their fields (lattice, species, frac, ...) and methods
 * (volume, density, distance, to_cif, ...).
 *
 * Fields are computed on access from the C structure, so a Structure is
 * read-only from Lua; make a changed one with structure.new.
 */
#include <stdlib.h>
#include <string.h>

#include "ct_cif.h"
#include "ct_elements.h"
#include "ct_parallel.h"
#include "ct_symmetry.h"
#include "lua_structure.h"

typedef struct {
    ct_structure *s;
} ud_structure;

ct_structure *ctL_tostructure(lua_State *L, int idx)
{
    ud_structure *u = luaL_testudata(L, idx, CTL_STRUCTURE);
    return u ? u->s : NULL;
}

ct_structure *ctL_checkstructure(lua_State *L, int idx)
{
    ud_structure *u = luaL_testudata(L, idx, CTL_STRUCTURE);
    if (!u) luaL_typeerror(L, idx, "Structure");
    if (!u->s) luaL_argerror(L, idx, "structure has been freed");
    return u->s;
}

ct_dataset *ctL_todataset(lua_State *L, int idx)
{
    ctL_dataset_ud *u = luaL_testudata(L, idx, CTL_DATASET);
    return u ? u->ds : NULL;
}

ct_structure **ctL_checkstructures(lua_State *L, int idx, size_t *n, int *single, int holes)
{
    idx = lua_absindex(L, idx);
    ct_structure *one = ctL_tostructure(L, idx);
    ct_dataset *ds = ctL_todataset(L, idx);
    if (single) *single = one != NULL;
    if (one && single) {
        ct_structure **arr = lua_newuserdatauv(L, sizeof *arr, 0);
        arr[0] = ctL_checkstructure(L, idx);
        *n = 1;
        return arr;
    }
    if (ds) {
        *n = ds->n;
        ct_structure **arr = lua_newuserdatauv(L, (ds->n ? ds->n : 1) * sizeof *arr, 0);
        memcpy(arr, ds->items, ds->n * sizeof *arr);
        return arr;
    }
    if (!lua_istable(L, idx))
        luaL_typeerror(L, idx, single ? "Structure, array of Structures or Dataset"
                                      : "array of Structures or Dataset");
    *n = (size_t)luaL_len(L, idx);
    ct_structure **arr = lua_newuserdatauv(L, (*n ? *n : 1) * sizeof *arr, 0);
    for (size_t i = 0; i < *n; i++) {
        lua_geti(L, idx, (lua_Integer)i + 1);
        arr[i] = ctL_tostructure(L, -1);
        if (!arr[i] && !(holes && lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1)))
            luaL_argerror(L, idx, lua_pushfstring(L, "item %d is a %s, not a Structure%s",
                                                  (int)i + 1, ctL_typename(L, -1),
                                                  holes ? " or false" : ""));
        lua_pop(L, 1);   /* the array keeps it alive */
    }
    return arr;
}

void ctL_pushstructure(lua_State *L, ct_structure *s, const ct_error *err)
{
    if (!s) {
        ct_error none = {"out of memory for a structure", CT_ENOMEM};
        ctL_raise(L, err ? err : &none, ct_interrupted() ? CT_EINTR : CT_EINVAL);
        return;
    }
    ud_structure *u = lua_newuserdatauv(L, sizeof *u, 1);
    u->s = NULL;   /* valid from birth: owns nothing until the metatable is set */
    ctL_structure_register(L);
    lua_setmetatable(L, -2);
    u->s = s;
}

/* Fields ----------------------------------------------------------------- */

static void push_lattice(lua_State *L, const ct_structure *s)
{
    static const char *const names[6] = {"a", "b", "c", "alpha", "beta", "gamma"};
    lua_createtable(L, 0, 6);
    for (int i = 0; i < 6; i++) {
        lua_pushnumber(L, s->cell[i]);
        lua_setfield(L, -2, names[i]);
    }
}

static void push_rows(lua_State *L, const double (*rows)[3], int n)
{
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_createtable(L, 3, 0);
        for (int k = 0; k < 3; k++) {
            lua_pushnumber(L, rows[i][k]);
            lua_rawseti(L, -2, k + 1);
        }
        lua_rawseti(L, -2, i + 1);
    }
}

static void push_species(lua_State *L, const ct_structure *s, int symbols)
{
    lua_createtable(L, s->natoms, 0);
    for (int i = 0; i < s->natoms; i++) {
        if (symbols) lua_pushstring(L, ct_element_symbol(s->z[i]));
        else lua_pushinteger(L, s->z[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

/* Push field key of s; return 0 if there is no such field. */
static int push_field(lua_State *L, ct_structure *s, const char *key)
{
    char buf[512];
    if (!strcmp(key, "lattice")) push_lattice(L, s);
    else if (!strcmp(key, "matrix")) push_rows(L, (const double (*)[3])s->matrix, 3);
    else if (!strcmp(key, "species")) push_species(L, s, 0);
    else if (!strcmp(key, "symbols")) push_species(L, s, 1);
    else if (!strcmp(key, "frac")) push_rows(L, (const double (*)[3])s->frac, s->natoms);
    else if (!strcmp(key, "natoms")) lua_pushinteger(L, s->natoms);
    else if (!strcmp(key, "formula")) lua_pushstring(L, ct_structure_formula(s, buf, sizeof buf));
    else if (!strcmp(key, "reduced_formula"))
        lua_pushstring(L, ct_structure_reduced_formula(s, buf, sizeof buf));
    else if (!strcmp(key, "name")) lua_pushstring(L, s->name);
    else if (!strcmp(key, "spacegroup")) {
        int n = ct_symmetry_found(s);
        if (n) lua_pushinteger(L, n);
        else lua_pushnil(L);
    } else if (!strcmp(key, "spacegroup_stored")) {
        if (s->spacegroup) lua_pushinteger(L, s->spacegroup);
        else lua_pushnil(L);
    } else if (!strcmp(key, "declared_spacegroup")) {
        if (s->declared_spacegroup) lua_pushinteger(L, s->declared_spacegroup);
        else lua_pushnil(L);
    } else return 0;
    return 1;
}

static int mm_index(lua_State *L)
{
    ct_structure *s = ctL_checkstructure(L, 1);
    const char *key = luaL_checkstring(L, 2);
    lua_getmetatable(L, 1);
    lua_getfield(L, -1, "methods");
    if (lua_getfield(L, -1, key) != LUA_TNIL) return 1;
    if (!strcmp(key, "properties")) {
        lua_getiuservalue(L, 1, 1);
        return 1;
    }
    return push_field(L, s, key) ? 1 : 0;
}

static int mm_tostring(lua_State *L)
{
    ud_structure *u = luaL_checkudata(L, 1, CTL_STRUCTURE);
    if (!u->s) {
        lua_pushliteral(L, "Structure (freed)");
        return 1;
    }
    ct_structure *s = u->s;
    /* the crystal's symmetry; a group the tensor stored is shown only
       where it says something else */
    char formula[256], sg[48];
    int found = ct_symmetry_found(s);
    if (found) snprintf(sg, sizeof sg, "  SG %d", found);
    else snprintf(sg, sizeof sg, "  SG none");
    if (s->spacegroup && s->spacegroup != found)
        snprintf(sg + strlen(sg), sizeof sg - strlen(sg), " (stored %d)", s->spacegroup);
    char line[512];
    snprintf(line, sizeof line,
             "Structure %s  a=%.4f b=%.4f c=%.4f \xce\xb1=%.2f \xce\xb2=%.2f \xce\xb3=%.2f  "
             "%d atom%s%s",
             ct_structure_formula(s, formula, sizeof formula), s->cell[0], s->cell[1],
             s->cell[2], s->cell[3], s->cell[4], s->cell[5], s->natoms,
             s->natoms == 1 ? "" : "s", sg);
    lua_pushstring(L, line);
    return 1;
}

static int mm_gc(lua_State *L)
{
    ud_structure *u = luaL_checkudata(L, 1, CTL_STRUCTURE);
    ct_structure_free(u->s);
    u->s = NULL;
    return 0;
}

static int mm_len(lua_State *L)
{
    lua_pushinteger(L, ctL_checkstructure(L, 1)->natoms);
    return 1;
}

/* Methods ---------------------------------------------------------------- */

static int m_volume(lua_State *L)
{
    lua_pushnumber(L, ct_structure_volume(ctL_checkstructure(L, 1)));
    return 1;
}

static int m_density(lua_State *L)
{
    lua_pushnumber(L, ct_structure_density(ctL_checkstructure(L, 1)));
    return 1;
}

static int check_atom(lua_State *L, const ct_structure *s, int idx)
{
    lua_Integer i = luaL_checkinteger(L, idx);
    if (i < 1 || i > s->natoms)
        luaL_argerror(L, idx, lua_pushfstring(L, "atom %I out of range 1..%d", i, s->natoms));
    return (int)i - 1;
}

static int m_distance(lua_State *L)
{
    ct_structure *s = ctL_checkstructure(L, 1);
    int i = check_atom(L, s, 2), j = check_atom(L, s, 3);
    lua_pushnumber(L, ct_structure_distance(s, i, j));
    return 1;
}

static int m_closest_pair(lua_State *L)
{
    int i, j;
    double d = ct_structure_closest_pair(ctL_checkstructure(L, 1), &i, &j);
    if (i < 0) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushnumber(L, d);
    lua_pushinteger(L, i + 1);
    lua_pushinteger(L, j + 1);
    return 3;
}

/* Most atoms s:distances() takes: 5000 atoms make 300 MB of matrices. */
#define CT_DISTANCES_MAX_ATOMS 5000

static int m_distances(lua_State *L)
{
    ct_structure *s = ctL_checkstructure(L, 1);
    /* natoms² distances, as floats and doubles: 100000 atoms would be 120 GB */
    if (s->natoms > CT_DISTANCES_MAX_ATOMS)
        return luaL_error(L, "s:distances(): a crystal of %d atoms is too large for the "
                          "matrix of all distances (at most %d atoms)", s->natoms,
                          CT_DISTANCES_MAX_ATOMS);
    int64_t shape[2] = {s->natoms, s->natoms};
    ct_error err;
    ct_tensor *t = ct_tensor_new(2, shape, &err);
    ctL_pushtensor(L, t, &err);
    double *d = lua_newuserdatauv(L, (size_t)s->natoms * s->natoms * sizeof *d, 0);
    ct_structure_distance_matrix(s, d);
    for (size_t k = 0; k < (size_t)s->natoms * s->natoms; k++) t->data[k] = (float)d[k];
    lua_pop(L, 1);
    return 1;
}

static const char *const to_cif_keys[] = {"symmetrize", "symprec", NULL};

static int m_to_cif(lua_State *L)
{
    ct_structure *s = ctL_checkstructure(L, 1);
    ctL_Opts o;
    ctL_optoptions(L, &o, 2, "Structure:to_cif", to_cif_keys);
    int sym = ctL_opt_boolean(&o, "symmetrize", 0);
    double symprec = ctL_opt_number(&o, "symprec", CT_SYMPREC);
    if (!(symprec > 0)) ctL_opt_error(&o, "symprec", "must be positive");
    ct_error err;
    char *text;
    if (sym) {
        ct_symmetrized ss;
        int rc = ct_symmetry_refine(s, symprec, &ss, &err);
        if (rc != CT_OK) return ctL_raise(L, &err, rc);
        text = ct_cif_format_symmetrized(&ss, s->name, &err);
        ct_symmetrized_free(&ss);
    } else {
        text = ct_cif_format(s, &err);
    }
    if (!text) return ctL_raise(L, &err, CT_ENOMEM);
    lua_pushstring(L, text);
    free(text);
    return 1;
}

static int m_niggli(lua_State *L)
{
    ct_error err;
    ctL_pushstructure(L, ct_structure_niggli(ctL_checkstructure(L, 1), &err), &err);
    return 1;
}

static int m_sorted(lua_State *L)
{
    ct_error err;
    ct_structure *c = ct_structure_clone(ctL_checkstructure(L, 1), &err);
    ctL_pushstructure(L, c, &err);
    int rc = ct_structure_sort(c, &err);
    if (rc != CT_OK) return ctL_raise(L, &err, rc);
    return 1;
}

/* spglib's failure is an answer here, not an error: generated crystals
   often have atoms too close for any group, and a loop over them must go on. */
static int m_symmetry(lua_State *L)
{
    ct_structure *s = ctL_checkstructure(L, 1);
    double symprec = luaL_optnumber(L, 2, CT_SYMPREC);
    luaL_argcheck(L, symprec > 0, 2, "symprec must be positive");
    int n;
    char symbol[32];
    ct_error err;
    if (ct_symmetry_spacegroup(s, symprec, &n, symbol, &err) != CT_OK) {
        lua_pushnil(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, n);
    lua_setfield(L, -2, "number");
    lua_pushstring(L, symbol);
    lua_setfield(L, -2, "symbol");
    return 1;
}

static int m_refined(lua_State *L)
{
    ct_structure *s = ctL_checkstructure(L, 1);
    double symprec = luaL_optnumber(L, 2, CT_SYMPREC);
    ct_symmetrized ss;
    ct_error err;
    int rc = ct_symmetry_refine(s, symprec, &ss, &err);
    if (rc != CT_OK) return ctL_raise(L, &err, rc);
    ct_structure *cell = ss.cell;
    ss.cell = NULL;
    ct_symmetrized_free(&ss);
    ctL_pushstructure(L, cell, &err);
    return 1;
}

/* Read the operations table at idx, {rotations = {9 integers per
   operation, row by row}, translations = {3 numbers per operation}}, into
   info's arrays (as s:symmetrized returns them); return their count. */
static int read_ops(lua_State *L, int idx, ct_symmetrize_info *info)
{
    lua_getfield(L, idx, "rotations");
    lua_getfield(L, idx, "translations");
    luaL_argcheck(L, lua_istable(L, -2) && lua_istable(L, -1), 2,
                  "operations {rotations=, translations=} expected");
    lua_Integer nr = luaL_len(L, -2), nt = luaL_len(L, -1), n = nt / 3;
    luaL_argcheck(L, nr == 9 * n && nt == 3 * n && n >= 1 && n <= CT_SYMMETRY_MAX_OPS, 2,
                  "9 rotation entries and 3 translations per operation expected");
    for (lua_Integer o = 0; o < n; o++) {
        for (int k = 0; k < 9; k++) {
            lua_geti(L, -2, 9 * o + k + 1);
            int ok;
            lua_Integer v = lua_tointegerx(L, -1, &ok);
            luaL_argcheck(L, ok && v >= -8 && v <= 8, 2, "rotations must be small integers");
            info->rot[o][k / 3][k % 3] = (int)v;
            lua_pop(L, 1);
        }
        for (int k = 0; k < 3; k++) {
            lua_geti(L, -1, 3 * o + k + 1);
            int ok;
            info->trans[o][k] = lua_tonumberx(L, -1, &ok);
            luaL_argcheck(L, ok, 2, "translations must be numbers");
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 2);
    return (int)n;
}

/* Push info's operations as read_ops reads them. */
static void push_ops(lua_State *L, const ct_symmetrize_info *info)
{
    lua_createtable(L, 0, 2);
    lua_createtable(L, 9 * info->nops, 0);
    for (int o = 0; o < info->nops; o++)
        for (int k = 0; k < 9; k++) {
            lua_pushinteger(L, info->rot[o][k / 3][k % 3]);
            lua_rawseti(L, -2, 9 * o + k + 1);
        }
    lua_setfield(L, -2, "rotations");
    lua_createtable(L, 3 * info->nops, 0);
    for (int o = 0; o < info->nops; o++)
        for (int k = 0; k < 3; k++) {
            lua_pushnumber(L, info->trans[o][k]);
            lua_rawseti(L, -2, 3 * o + k + 1);
        }
    lua_setfield(L, -2, "translations");
}

/* s made exactly symmetric in place (ct_symmetry_symmetrize, or with an
   operations table ct_symmetry_symmetrize_ops); as for m_symmetry, spglib
   finding no group is an answer (nil, reason), and so are operations that
   do not map the atoms one to one. */
static int m_symmetrized(lua_State *L)
{
    ct_structure *s = ctL_checkstructure(L, 1);
    ct_symmetrize_info info, given;   /* given: the operations read, kept apart from what
                                         the call writes */
    ct_error err;
    ct_structure *t;
    if (lua_istable(L, 2)) {
        int n = read_ops(L, 2, &given);
        t = ct_symmetry_symmetrize_ops(s, n, (const int (*)[3][3])given.rot,
                                       (const double (*)[3])given.trans, &info, &err);
    } else {
        double symprec = luaL_optnumber(L, 2, CT_SYMPREC);
        luaL_argcheck(L, symprec > 0, 2, "symprec must be positive");
        t = ct_symmetry_symmetrize(s, symprec, &info, &err);
    }
    if (!t && err.status == CT_ENOMEM) return ctL_raise(L, &err, CT_ENOMEM);
    if (!t) {
        lua_pushnil(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    ctL_pushstructure(L, t, &err);
    lua_createtable(L, 0, 7);
    if (info.number > 0) {
        lua_pushinteger(L, info.number);
        lua_setfield(L, -2, "number");
        lua_pushstring(L, info.symbol);
        lua_setfield(L, -2, "symbol");
    }
    lua_pushinteger(L, info.nops);
    lua_setfield(L, -2, "nops");
    lua_pushnumber(L, info.max_move);
    lua_setfield(L, -2, "move");
    lua_pushnumber(L, info.max_length);
    lua_setfield(L, -2, "length_change");
    lua_pushnumber(L, info.max_angle);
    lua_setfield(L, -2, "angle_change");
    if (info.nops <= CT_SYMMETRY_MAX_OPS) {
        push_ops(L, &info);
        lua_setfield(L, -2, "ops");
    }
    return 2;
}

static int m_clone(lua_State *L)
{
    ct_error err;
    ctL_pushstructure(L, ct_structure_clone(ctL_checkstructure(L, 1), &err), &err);
    return 1;
}

/* structure.new ---------------------------------------------------------- */

/* Read the lattice field: {a=,b=,c=,alpha=,beta=,gamma=} or {a,b,c,α,β,γ}. */
static void read_cell(ctL_Opts *o, double cell[6])
{
    static const char *const names[6] = {"a", "b", "c", "alpha", "beta", "gamma"};
    lua_State *L = o->L;
    if (ctL_opt_push(o, "lattice", LUA_TTABLE) == LUA_TNIL)
        ctL_opt_error(o, "lattice", "missing: a table {a=,b=,c=,alpha=,beta=,gamma=}");
    for (int i = 0; i < 6; i++) {
        if (lua_getfield(L, -1, names[i]) == LUA_TNIL) {
            lua_pop(L, 1);
            lua_rawgeti(L, -1, i + 1);
        }
        int ok;
        cell[i] = lua_tonumberx(L, -1, &ok);
        if (!ok) ctL_opt_error(o, "lattice", "%s must be a number", names[i]);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* Read species (Z or symbols) and frac ({x,y,z} rows) into the two arrays,
   which live on the stack; return the atom count. */
static int read_atoms(ctL_Opts *o, int **z, double (**f)[3])
{
    lua_State *L = o->L;
    if (ctL_opt_push(o, "species", LUA_TTABLE) == LUA_TNIL)
        ctL_opt_error(o, "species", "missing: a table of atomic numbers or symbols");
    if (ctL_opt_push(o, "frac", LUA_TTABLE) == LUA_TNIL)
        ctL_opt_error(o, "frac", "missing: a table of {x,y,z}");
    int sp = lua_gettop(L) - 1, fr = lua_gettop(L);
    lua_Integer n = luaL_len(L, sp);
    if (n != luaL_len(L, fr) || n < 1 || n > CT_STRUCTURE_MAXATOMS)
        luaL_argerror(L, 1, "species and frac must have the same, positive length");
    *z = lua_newuserdatauv(L, (size_t)n * sizeof **z, 0);
    *f = lua_newuserdatauv(L, (size_t)n * sizeof **f, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, sp, i);
        size_t len;
        const char *sym = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
        (*z)[i - 1] = sym ? ct_element_z(sym, len) : (int)lua_tointeger(L, -1);
        lua_pop(L, 1);
        if (lua_geti(L, fr, i) != LUA_TTABLE)
            luaL_argerror(L, 1, lua_pushfstring(L, "frac[%I] must be a table {x,y,z}", i));
        for (int k = 0; k < 3; k++) {
            lua_geti(L, -1, k + 1);
            int ok;
            (*f)[i - 1][k] = lua_tonumberx(L, -1, &ok);
            if (!ok) luaL_argerror(L, 1, lua_pushfstring(L, "frac[%I][%d] must be a number", i, k + 1));
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    return (int)n;
}

static const char *const new_keys[] = {"lattice", "species", "frac", "spacegroup", "name", NULL};

static int s_new(lua_State *L)
{
    ctL_Opts o;
    ctL_checkoptions(L, &o, 1, "ct.structure.new", new_keys);
    double cell[6];
    int *z;
    double (*f)[3];
    read_cell(&o, cell);
    int n = read_atoms(&o, &z, &f);
    lua_Integer sg = ctL_opt_integer(&o, "spacegroup", 0);
    if (sg < 0 || sg > 230) ctL_opt_error(&o, "spacegroup", "must be 1-230");
    const char *name = ctL_opt_string(&o, "name", "");
    ct_error err;
    ct_structure *s = ct_structure_new(cell, n, z, (const double (*)[3])f, &err);
    ctL_pushstructure(L, s, &err);
    s->spacegroup = (int)sg;
    if (ct_structure_set_name(s, name, &err) != CT_OK) return ctL_raise(L, &err, CT_ENOMEM);
    return 1;
}

/* spglib over a list, the structures split over threads (spglib is about
   2 ms a structure, 30 ms a cubic supercell: a data set's groups take
   seconds).  A structure spglib cannot place gets 0.  At the default
   tolerance the result is the cached s.spacegroup. */
typedef struct {
    ct_structure *const *s;
    double symprec;
    int *out;
} sg_job;

static void sg_share(void *ctx, size_t begin, size_t end)
{
    sg_job *job = ctx;
    for (size_t i = begin; i < end && !ct_interrupted(); i++) {
        ct_structure *s = job->s[i];
        if (job->symprec == CT_SYMPREC) job->out[i] = ct_symmetry_found(s);
        else if (ct_symmetry_spacegroup(s, job->symprec, &job->out[i], NULL, NULL) != CT_OK)
            job->out[i] = 0;
    }
}

static int s_spacegroups(lua_State *L)
{
    lua_Number symprec = luaL_optnumber(L, 2, CT_SYMPREC);
    luaL_argcheck(L, symprec > 0, 2, "symprec must be positive");
    lua_settop(L, 2);
    size_t n;
    int single;
    ct_structure **arr = ctL_checkstructures(L, 1, &n, &single, 0);
    int *out = lua_newuserdatauv(L, (n ? n : 1) * sizeof *out, 0);
    sg_job job = {arr, symprec, out};
    ct_parallel_for(n, ct_num_threads(n, 16), sg_share, &job);
    if (ct_interrupted()) return ctL_raise(L, NULL, CT_EINTR);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushinteger(L, out[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static const ctL_Reg structure_methods[] = {
    {"volume", m_volume, "s:volume() -> number. The cell volume in Å³."},
    {"density", m_density, "s:density() -> number. The density in g/cm³."},
    {"distance", m_distance, "s:distance(i, j) -> number. The minimum-image distance in Å "
                             "between atoms i and j (1-based), exact also in skewed cells."},
    {"closest_pair", m_closest_pair, "s:closest_pair() -> d, i, j. The shortest minimum-image "
                                     "distance in \xc3\x85 between two distinct atoms, and "
                                     "their indices; nil for one atom. Below 0.5 \xc3\x85 "
                                     "the atoms overlap and cif.write refuses the crystal."},
    {"distances", m_distances, "s:distances() -> Tensor. All minimum-image distances, "
                               "natoms×natoms, in Å."},
    {"to_cif", m_to_cif, "s:to_cif([{symmetrize=false, symprec=0.1}]) -> string. The structure "
                         "as a CIF data block: P1 with every atom, or the spglib-refined "
                         "conventional cell with its space group and asymmetric unit."},
    {"niggli", m_niggli, "s:niggli() -> Structure. The same crystal in its Niggli-reduced "
                         "cell (spglib)."},
    {"sorted", m_sorted, "s:sorted() -> Structure. A copy with atoms ordered by Z, then x, y, z."},
    {"symmetry", m_symmetry, "s:symmetry([symprec=0.1]) -> {number, symbol} | nil, reason. "
                             "The space group spglib finds with tolerance symprec (Å); nil "
                             "and spglib's reason where it finds none (atoms too close, "
                             "a degenerate cell)."},
    {"refined", m_refined, "s:refined([symprec=0.1]) -> Structure. The standardised "
                           "conventional cell (spglib) with every atom."},
    {"symmetrized", m_symmetrized, "s:symmetrized([symprec=0.1 | ops]) -> Structure, info | "
                                   "nil, reason. s made exactly symmetric under the group spglib "
                                   "finds at symprec (Å), in place: the same cell choice, atoms "
                                   "and order, each atom moved to the mean of its images under "
                                   "the group's operations and the metric averaged over them. "
                                   "info = {number, symbol, nops, move (largest atom move, Å), "
                                   "length_change (Å), angle_change (degrees), ops}; nil and the "
                                   "reason where spglib finds no group. ops = {rotations (9 "
                                   "integers per operation, row by row), translations (3 per "
                                   "operation)} on s's fractional columns; given instead of "
                                   "symprec, they are imposed (an earlier state's group on a "
                                   "crystal in the same cell; info then has no number)."},
    {"clone", m_clone, "s:clone() -> Structure. A copy of s (without its properties)."},
    {NULL, NULL, NULL}
};

static const luaL_Reg structure_meta[] = {
    {"__index", mm_index},
    {"__tostring", mm_tostring},
    {"__len", mm_len},
    {"__gc", mm_gc},
    {"__close", mm_gc},
    {NULL, NULL}
};

void ctL_structure_register(lua_State *L)
{
    if (!luaL_newmetatable(L, CTL_STRUCTURE)) return;   /* leaves it on the stack */
    luaL_setfuncs(L, structure_meta, 0);
    lua_newtable(L);
    ctL_setfuncs(L, structure_methods);
    lua_setfield(L, -2, "methods");
}

static const ctL_Reg structure_funcs[] = {
    {"new", s_new, "structure.new{lattice={a=,b=,c=,alpha=,beta=,gamma=}, species={...}, "
                   "frac={{x,y,z},...}, [spacegroup=n], [name=s]} -> Structure. A structure "
                   "from its cell (Å, degrees), atoms (Z or symbols) and fractional "
                   "coordinates, which are wrapped into [0, 1). spacegroup is kept as "
                   "spacegroup_stored, as a decoded tensor's group is."},
    {"spacegroups", s_spacegroups, "structure.spacegroups(structures | dataset, [symprec=0.1]) "
                                   "-> {n, ...}. The space group spglib finds for each (0 where it "
                                   "finds none), on all cores; never the group a tensor stored."},
    {NULL, NULL, NULL}
};

int luaopen_crystens_structure(lua_State *L)
{
    ctL_structure_register(L);
    lua_pop(L, 1);
    ctL_newlib(L, structure_funcs, "crystens.structure: crystal structures. Fields: lattice "
               "{a,b,c,alpha,beta,gamma}, matrix, species (Z), symbols, frac, natoms, formula "
               "(Hill order, explicit counts: C6Cr1Cs1Mn1N6, whatever the atoms' order), "
               "reduced_formula (counts divided by their gcd), "
               "name, spacegroup (the crystal's symmetry: spglib's group at symprec 0.1 Å, "
               "computed once; nil where spglib finds none), spacegroup_stored (the group "
               "a decoded tensor stored, which the atoms need not have; else nil), "
               "declared_spacegroup (from the CIF), properties (data-set row). Methods: "
               "volume, density, distance, closest_pair, distances, to_cif, niggli, sorted, symmetry, "
               "refined, symmetrized, clone.");
    return 1;
}
