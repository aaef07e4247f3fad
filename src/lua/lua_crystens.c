/*
 * lua_crystens.c - the crystens.crystens module: ct.crystens.encode,
 * decode and prepare, ct.crystens.layout (ct_layout.h's constants for the
 * Lua side), and the t:save_png method of tensors.
 *
 * Options (one table, every field optional):
 *   size=64               S: tensors are 4×S×S and hold S-12 atoms
 *   distance="angstrom"   layer 0 in Å (minimum image); "fractional" as the
 *                         original code
 *   reduce=true           Niggli-reduce the cell first
 *   order="sorted"        atoms by Z, then x, y, z; "file" keeps the order
 *   symprec=0.1           spglib tolerance (Å) for the space group
 *   spacegroup="spglib"   or "declared": the group the CIF states
 *   species="z"           or "periodic": also the periodic-table column in
 *                         the padding row (ct_crystens.h)
 *   preset="crystens"     or "paper": file cell and order, fractional
 *                         layer 0, symprec 0.01; later fields override it
 */
#include <string.h>

#include "ct_consist.h"
#include "ct_crystens.h"
#include "ct_layout.h"
#include "ct_png.h"
#include "lua_structure.h"

static const char *const encode_keys[] = {"preset", "size", "distance", "reduce", "order",
                                          "symprec", "spacegroup", "species", NULL};
static const char *const decode_exact_keys[] = {"exact", "preset", "size", "distance", "reduce",
                                                "order", "symprec", "spacegroup", "species", NULL};
static const char *const presets[] = {"crystens", "paper", NULL};
static const char *const distances[] = {"angstrom", "fractional", NULL};
static const char *const orders[] = {"sorted", "file", NULL};
static const char *const groups[] = {"spglib", "declared", NULL};
static const char *const species[] = {"z", "periodic", NULL};

/* Read the encoding options at idx of fname, which accepts keys. */
static void read_opts(lua_State *L, int idx, ct_crystens_opts *o, const char *fname,
                      const char *const keys[])
{
    ctL_Opts opt;
    ctL_optoptions(L, &opt, idx, fname, keys);
    if (ctL_opt_enum(&opt, "preset", "crystens", presets) == 1) ct_crystens_paper(o);
    else ct_crystens_defaults(o);
    o->size = (int)ctL_opt_range(&opt, "size", o->size, CT_CRYSTENS_HEADER + 1,
                                 CT_CRYSTENS_MAX_SIZE);
    o->fractional = ctL_opt_enum(&opt, "distance", o->fractional ? "fractional" : "angstrom",
                                 distances) == 1;
    o->reduce = ctL_opt_boolean(&opt, "reduce", o->reduce);
    o->sort = ctL_opt_enum(&opt, "order", o->sort ? "sorted" : "file", orders) == 0;
    o->symprec = ctL_opt_number(&opt, "symprec", o->symprec);
    if (!(o->symprec > 0)) ctL_opt_error(&opt, "symprec", "must be positive");
    o->declared = ctL_opt_enum(&opt, "spacegroup", "spglib", groups) == 1;
    o->species = ctL_opt_enum(&opt, "species", "z", species) == 1 ? CT_CRYSTENS_SPECIES_PERIODIC
                                                                  : CT_CRYSTENS_SPECIES_Z;
}

/* The encode report: where a CIF declared a group above P1 and spglib found
   another (the spec asks for disagreements to be reported, not fixed: the
   encoded group is spglib's).  The encoded number is read back from the
   tensor's header, so nothing is computed twice. */
static void push_report(lua_State *L, ct_structure *const *arr, size_t n,
                        const ct_crystens_opts *o, const float *data)
{
    size_t k = 0;
    lua_createtable(L, 0, 1);
    lua_newtable(L);
    for (size_t i = 0; i < n && !o->declared; i++) {
        int declared = arr[i]->declared_spacegroup;
        int found = (int)data[i * ct_layout_len(o->size) +
                              ct_layout_index(o->size, 0, CT_CRYSTENS_SG, CT_CRYSTENS_HEADER)];
        if (declared <= 1 || declared == found) continue;
        lua_createtable(L, 0, 4);
        ctL_setinteger(L, "item", (lua_Integer)i + 1);
        lua_pushstring(L, arr[i]->name ? arr[i]->name : "");
        lua_setfield(L, -2, "name");
        ctL_setinteger(L, "declared", declared);
        ctL_setinteger(L, "spglib", found);
        lua_rawseti(L, -2, (lua_Integer)++k);
    }
    lua_setfield(L, -2, "spacegroup_mismatch");
}

static int k_encode(lua_State *L)
{
    ct_crystens_opts o;
    lua_settop(L, 2);   /* the array below goes on top of the arguments */
    read_opts(L, 2, &o, "ct.crystens.encode", encode_keys);
    size_t n;
    int single;
    ct_structure **arr = ctL_checkstructures(L, 1, &n, &single, 0);
    ct_error err;
    ct_tensor *t = ct_crystens_encode(arr, n, !single, &o, &err);
    if (!t) return ctL_raise(L, &err, err.status);
    ctL_pushtensor(L, t, &err);
    push_report(L, arr, n, &o, t->data);
    return 2;
}

#define DIAG(type, field) CTL_FIELD(ct_crystens_diag, type, field)
static const ctL_Field diag_fields[] = {
    DIAG(CTL_F_INT, natoms), DIAG(CTL_F_DOUBLE, header_spread), DIAG(CTL_F_DOUBLE, graph_error),
    DIAG(CTL_F_DOUBLE, distance_error), DIAG(CTL_F_DOUBLE, empty_max), {NULL, 0, 0}
};

/* Decode tensor item data (4×S×S) and push the structure and diagnostics. */
static void decode_one(lua_State *L, const float *data, int S, const ct_crystens_opts *o,
                       int item)
{
    ct_crystens_diag d;
    ct_error err;
    ct_structure *s = ct_crystens_decode(data, S, o, &d, &err);
    if (!s && item) ctL_raisef(L, &err, CT_EINVAL, "tensor %d: ", item);
    ctL_pushstructure(L, s, &err);
    ctL_pushfields(L, &d, diag_fields);
}

static int k_decode(lua_State *L)
{
    int exact = 0;
    if (lua_type(L, 2) == LUA_TTABLE) {
        exact = lua_getfield(L, 2, "exact") == LUA_TBOOLEAN && lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    if (!exact) return ctL_recon_decode(L);   /* which checks every option, exact's too */
    ct_tensor *t = ctL_checktensor(L, 1);
    ct_crystens_opts o;
    read_opts(L, 2, &o, "ct.crystens.decode", decode_exact_keys);
    int batch;
    int S = ctL_checkcrystens(L, 1, t, &batch);
    if (!batch) {
        decode_one(L, t->data, S, &o, 0);
        return 2;
    }
    lua_createtable(L, (int)t->shape[0], 0);
    lua_createtable(L, (int)t->shape[0], 0);
    for (int64_t i = 0; i < t->shape[0]; i++) {
        decode_one(L, t->data + (size_t)i * ct_layout_len(S), S, &o, (int)i + 1);
        lua_rawseti(L, -3, i + 1);
        lua_rawseti(L, -3, i + 1);
    }
    return 2;
}

static int k_prepare(lua_State *L)
{
    ct_structure *s = ctL_checkstructure(L, 1);
    ct_crystens_opts o;
    read_opts(L, 2, &o, "ct.crystens.prepare", encode_keys);
    ct_error err;
    ctL_pushstructure(L, ct_crystens_prepare(s, &o, &err), &err);
    return 1;
}

/* The S of an N×4×S×S batch at idx, or an argument error. */
static int check_batch4(lua_State *L, int idx, const ct_tensor *t)
{
    if (t->ndim != 4 || t->shape[1] != CT_CRYSTENS_LAYERS || t->shape[2] != t->shape[3] ||
        t->shape[2] <= CT_CRYSTENS_HEADER || t->shape[2] > CT_CRYSTENS_MAX_SIZE)
        luaL_argerror(L, idx, "an N×4×S×S tensor expected");
    return (int)t->shape[2];
}

/* The S of an N×C×(S-12)×1 slot tensor at idx, or an argument error. */
static int check_slots(lua_State *L, int idx, const ct_tensor *t, int c)
{
    if (t->ndim != 4 || t->shape[1] != c || t->shape[3] != 1 || t->shape[2] < 1 ||
        t->shape[2] > ct_layout_slots(CT_CRYSTENS_MAX_SIZE))
        luaL_argerror(L, idx, lua_pushfstring(L, "an N×%d×(S-12)×1 tensor expected", c));
    return (int)t->shape[2] + CT_CRYSTENS_HEADER;
}

/* Push map(S, t, out, N) into a new N×c×h×w tensor out: the slot views of
   ct_consist.h, which all share this shape of call. */
static int push_slot_map(lua_State *L, const ct_tensor *t, int S, int64_t c, int64_t h,
                         int64_t w, void (*map)(int, const float *, float *, size_t))
{
    int64_t shape[4] = {t->shape[0], c, h, w};
    ct_error err;
    ct_tensor *out = ct_tensor_empty(4, shape, &err);
    if (out) map(S, t->data, out->data, (size_t)t->shape[0]);
    ctL_pushtensor(L, out, &err);
    return 1;
}

static int k_slot_features(lua_State *L)
{
    ct_tensor *t = ctL_checktensor(L, 1);
    int S = check_batch4(L, 1, t);
    return push_slot_map(L, t, S, CT_CONSIST_FEATURES, ct_layout_slots(S), 1, ct_consist_gather);
}

static int k_slot_scatter(lua_State *L)
{
    ct_tensor *t = ctL_checktensor(L, 1);
    int S = check_slots(L, 1, t, CT_CONSIST_OUTPUTS);
    return push_slot_map(L, t, S, CT_CRYSTENS_LAYERS, S, S, ct_consist_scatter);
}

static int k_slot_scatter_backward(lua_State *L)
{
    ct_tensor *g = ctL_checktensor(L, 1);
    int S = check_batch4(L, 1, g);
    return push_slot_map(L, g, S, CT_CONSIST_OUTPUTS, ct_layout_slots(S), 1,
                         ct_consist_scatter_backward);
}

static int l_max_atoms(lua_State *L)
{
    lua_Integer S = luaL_checkinteger(L, 1);
    luaL_argcheck(L, S > CT_CRYSTENS_HEADER && S <= CT_CRYSTENS_MAX_SIZE, 1,
                  "size must be an integer from 13 to 4096");
    lua_pushinteger(L, ct_layout_slots((int)S));
    return 1;
}

/* Push ct.crystens.layout: ct_layout.h's constants, header rows 1-based as
   t:get counts them, so Lua code need not write 12 or 4096 itself. */
static void push_layout(lua_State *L)
{
    static const char *const rows[CT_CRYSTENS_HEADER] = {
        "Z", "x", "y", "z", "a", "b", "c", "alpha", "beta", "gamma", "sg", "column"
    };
    static const ctL_Reg funcs[] = {
        {"max_atoms", l_max_atoms, "crystens.layout.max_atoms(size) -> integer. The most atoms "
                                   "a CrysTens of that size holds (its slots): size - header."},
        {NULL, NULL, NULL}
    };
    ctL_newlib(L, funcs, "crystens.layout: where things are in a CrysTens (ct_layout.h). "
               "header (12: rows and columns before the first atom slot), layers (4), "
               "copies (8: each header value of a slot stands in its row and its column "
               "of every layer), min_size (13), max_size (4096), rows (the header rows, "
               "1-based as t:get counts: Z, x, y, z, a, b, c, alpha, beta, gamma, sg, "
               "column), max_atoms(size).");
    static const struct {
        const char *name;
        int value;
    } constants[] = {
        {"header", CT_CRYSTENS_HEADER}, {"layers", CT_CRYSTENS_LAYERS},
        {"copies", CT_CRYSTENS_COPIES}, {"min_size", CT_CRYSTENS_HEADER + 1},
        {"max_size", CT_CRYSTENS_MAX_SIZE}
    };
    for (size_t i = 0; i < sizeof constants / sizeof *constants; i++)
        ctL_setinteger(L, constants[i].name, constants[i].value);
    lua_createtable(L, 0, CT_CRYSTENS_HEADER);
    for (int r = 0; r < CT_CRYSTENS_HEADER; r++) {
        lua_pushinteger(L, r + 1);
        lua_setfield(L, -2, rows[r]);
    }
    lua_setfield(L, -2, "rows");
}

static const char *const png_keys[] = {"scale", NULL};

static int m_save_png(lua_State *L)
{
    ct_tensor *t = ctL_checktensor(L, 1);
    const char *path = luaL_checkstring(L, 2);
    ctL_Opts o;
    ctL_optoptions(L, &o, 3, "Tensor:save_png", png_keys);
    lua_Integer scale = ctL_opt_integer(&o, "scale", 4);
    ct_error err;
    int rc = ct_png_write_crystens(t, path, scale > 64 ? 65 : scale < 0 ? 0 : (int)scale, &err);
    return ctL_returnself(L, rc, &err, 0);
}

static const ctL_Reg crystens_funcs[] = {
    {"encode", k_encode, "crystens.encode(structure | {structures} | dataset, [opts]) -> Tensor, "
                         "report. "
                         "The CrysTens of a structure (4×S×S) or of many (N×4×S×S). Options: "
                         "size=64, distance='angstrom'|'fractional', reduce=true (Niggli), "
                         "order='sorted'|'file', symprec=0.1, spacegroup='spglib'|'declared', "
                         "species='z'|'periodic' (also the periodic-table column in row 12), "
                         "preset='crystens'|'paper'. A structure with more than S-12 atoms is "
                         "an error. report.spacegroup_mismatch lists {item, name, declared, "
                         "spglib} for CIFs that declared a group above P1 other than spglib's "
                         "(the tensor holds spglib's). Large batches use all cores "
                         "(CT_NUM_THREADS to change)."},
    {"decode", k_decode, "crystens.decode(tensor, [opts]) -> Structure, diag | nil, reason, "
                         "diag; for N×4×S×S: {Structure | false}, {diag}, {{item, reason}}. "
                         "Reconstructs generated tensors (spec section 2): atom count from all "
                         "header copies, averaged globals and atoms, Fig. 3 voting on the "
                         "circle, K-means on Z and on the pooled coordinates with K chosen "
                         "automatically (k_species=3, k_coords=6: the paper's fixed mode), "
                         "spglib's group of the result. Options: k_species=0, k_coords=0, "
                         "sep=4, coord_sep=2, occupancy=0.5, symmetry=true, symprec=0.1, "
                         "symmetrize=false, distance='angstrom'|'fractional', "
                         "species='auto'|'atom'|'kmeans' (per atom where the copies agree), "
                         "min_distance=0.5 (closer atoms merged if alike, else the item fails), "
                         "strict=false "
                         "(raise instead of nil/false). diag = {natoms, occupancy_margin, "
                         "sg_mean, spacegroup, spacegroup_detected, spacegroup_match, spread = "
                         "{z, coord, length, angle, sg}, vote_spread, coord_delta, pdm_delta, "
                         "snap_max, k_species, k_coords, species_per_atom, periodic, merged, "
                         "snap_reverted, min_distance, reason}. Large batches use all cores. "
                         "exact=true: the exact inverse of encode instead (errors on bad "
                         "tensors; diag = {natoms, header_spread, graph_error, distance_error, "
                         "empty_max})."},
    {"scaler", ctL_scaler, "crystens.scaler(tensors | state) -> Scaler. The networks' input "
                           "scaling, fitted on raw training tensors (N×4×S×S): per quantity "
                           "(Z, coord, length, angle, sg, dist, delta) an affine map of its "
                           "range onto [-0.8, 1], empty slots at -1. sc:scale(t), "
                           "sc:unscale(t), sc:state() -> table; crystens.scaler(state) "
                           "rebuilds it."},
    {"prepare", k_prepare, "crystens.prepare(structure, [opts]) -> Structure. The structure "
                           "as encode sees it: cell reduced, atoms ordered, space group set."},
    {"slot_features", k_slot_features, "crystens.slot_features(x) -> N×20×(S-12)×1. Per atom "
                                       "slot of N×4×S×S tensors: the means of the 8 copies of "
                                       "header rows 0-11, then per layer the mean of the slot's "
                                       "row and of its column in the interatomic block "
                                       "(ct_consist.h); what the 'atoms' network reads."},
    {"slot_scatter", k_slot_scatter, "crystens.slot_scatter(v) -> N×4×S×S. Per-slot values "
                                     "(N×12×(S-12)×1, header rows 0-11) written into all 8 "
                                     "copies of each, zeros elsewhere."},
    {"slot_scatter_backward", k_slot_scatter_backward,
     "crystens.slot_scatter_backward(g) -> N×12×(S-12)×1. The gradient of slot_scatter: "
     "the sums of the 8 copies' gradients."},
    {NULL, NULL, NULL}
};

int luaopen_crystens_crystens(lua_State *L)
{
    static const ctL_Reg png[] = {
        {"save_png", m_save_png, "t:save_png(path, [{scale=4}]) -> t. A PNG picture of the "
                                 "CrysTens t (4×S×S): the four layers side by side, each "
                                 "element a scale×scale block; header band and each "
                                 "layer's atom block on their own colour scales."},
        {NULL, NULL, NULL}
    };
    ctL_structure_register(L);
    luaL_requiref(L, "crystens.tensor", luaopen_crystens_tensor, 0);
    lua_pop(L, 1);
    ctL_addmethods(L, CTL_TENSOR, png);   /* t:save_png joins the tensor methods */
    ctL_newlib(L, crystens_funcs, "crystens.crystens: the CrysTens encoding (4×S×S tensors: a "
               "header band of Z, x, y, z, a, b, c, α, β, γ, SG; layer 0 distances, layers 1-3 "
               "coordinate differences) and its exact inverse.");
    push_layout(L);
    lua_setfield(L, -2, "layout");
    return 1;
}
