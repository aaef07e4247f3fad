/*
 * lua_cif.c - the crystens.cif module: ct.cif.read, ct.cif.parse,
 * ct.cif.write.
 *
 * read and parse are strict: a block that gives no structure raises an
 * error naming the file, the block and the reason (ct.dataset.load is the
 * lenient path that skips such blocks).
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ct_cif.h"
#include "ct_elements.h"
#include "ct_symmetry.h"
#include "lua_structure.h"

#define CIF_RESULT "crystens.CifResult"

/* A ct_cif_result in a userdata whose __gc frees what it still holds, so
   nothing leaks when a Lua error interrupts the hand-over. */
static ct_cif_result *new_result(lua_State *L)
{
    return ctL_newudata(L, sizeof(ct_cif_result), 0, CIF_RESULT);
}

static int result_gc(lua_State *L)
{
    ct_cif_result_free(luaL_checkudata(L, 1, CIF_RESULT));
    return 0;
}

/* Push r's structures as an array, moving them out of r; raise on the first
   failed block.  Warnings (elements guessed from atom labels) go to stderr,
   one line per block. */
static int push_result(lua_State *L, ct_cif_result *r, const char *source)
{
    if (r->nfailed)
        return luaL_error(L, "%s: block '%s': %s", source, r->failed[0].block,
                          r->failed[0].reason);
    for (size_t i = 0; i < r->nwarnings; i++)
        fprintf(stderr, "warning: %s: %s\n", source, r->warnings[i]);
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

/* Whether path names a folder: it ends in '/' or is one already. */
static int is_folder(const char *path)
{
    size_t len = strlen(path);
    struct stat st;
    return (len && path[len - 1] == '/') || (stat(path, &st) == 0 && S_ISDIR(st.st_mode));
}

/* Refuse to write a crystal with two atoms closer than CIF_OVERLAP: no CIF
   reader can take it (pymatgen drops the block: "Invalid cif file with no
   structures!"), and no real crystal has it.  The cut-off is CDVAE's for
   structural validity. */
#define CIF_OVERLAP 0.5

static void check_overlaps(lua_State *L, ct_structure *const *arr, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if (!arr[k]) continue;
        int i, j;
        double d = ct_structure_closest_pair(arr[k], &i, &j);
        if (d >= CIF_OVERLAP) continue;
        char formula[256], msg[640];
        ct_structure_formula(arr[k], formula, sizeof formula);
        snprintf(msg, sizeof msg,
                 "cif.write: structure %d (%s) has atoms %d (%s) and %d (%s) %.3f \xc3\x85 "
                 "apart, closer than %.1f \xc3\x85: overlapping atoms make an invalid CIF; "
                 "pass {force=true} to write it anyway",
                 (int)k + 1, *arr[k]->name ? arr[k]->name : formula, i + 1,
                 ct_element_symbol(arr[k]->z[i]), j + 1, ct_element_symbol(arr[k]->z[j]), d,
                 CIF_OVERLAP);
        luaL_error(L, "%s", msg);
    }
}

static const char *const write_keys[] = {"symprec", "symmetrize", "force", NULL};

static int c_write(lua_State *L)
{
    size_t n;
    int single;
    lua_settop(L, 3);   /* the array below goes on top of the arguments */
    /* false marks a failed reconstruction: its slot is NULL, nothing is written */
    ct_structure **arr = ctL_checkstructures(L, 1, &n, &single, 1);
    const char *path = luaL_checkstring(L, 2);
    ctL_Opts o;
    ctL_optoptions(L, &o, 3, "ct.cif.write", write_keys);
    double symprec = ctL_opt_number(&o, "symprec", CT_SYMPREC);
    if (!(symprec > 0)) ctL_opt_error(&o, "symprec", "must be positive");
    if (!ctL_opt_boolean(&o, "symmetrize", 0)) symprec = 0;
    if (!ctL_opt_boolean(&o, "force", 0)) check_overlaps(L, arr, n);
    ct_error err;
    size_t kept = 0;
    int rc;
    if (is_folder(path)) {
        rc = ct_cif_write_dir(arr, n, path, symprec, &kept, &err);
    } else {
        for (size_t i = 0; i < n; i++)
            if (arr[i]) arr[kept++] = arr[i];
        luaL_argcheck(L, kept > 0, 1, "no structures to write");
        rc = ct_cif_write(arr, kept, path, symprec, &err);
    }
    if (rc != CT_OK) return ctL_raise(L, &err, rc);
    lua_pushinteger(L, (lua_Integer)kept);
    return 1;
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
                       "symprec=0.1, force=false}]) -> count. Write the structures as CIF data "
                       "blocks: P1 "
                       "with every atom, or the spglib-refined cell with space group, "
                       "operations and asymmetric unit. A path ending in '/' or naming a "
                       "folder gets one file per structure, NNNN_name.cif (NNNN its place "
                       "in the list; the folder is made if missing); any other path one "
                       "multi-block file. false entries (failed reconstructions) are "
                       "skipped. A structure with two atoms closer than 0.5 \xc3\x85 (overlapping: "
                       "no CIF reader accepts it) is an error naming it, the atoms and "
                       "their distance, and nothing is written, unless force=true. Files "
                       "are written to a temporary name and renamed."},
    {NULL, NULL, NULL}
};

int luaopen_crystens_cif(lua_State *L)
{
    ctL_structure_register(L);
    ctL_newclass(L, CIF_RESULT, NULL, result_gc, NULL);
    ctL_newlib(L, cif_funcs, "crystens.cif: Crystallographic Information Files in and out "
               "(gemmi's parser; P1 or symmetrised output).");
    return 1;
}
