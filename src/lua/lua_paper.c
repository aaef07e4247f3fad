/*
 * lua_paper.c - the crystens.paper_core module: the paper's Table 1/2
 * measures of each tensor (ct_paper); lua/crystens/metrics.lua averages
 * them into ct.metrics.paper.
 */
#include "ct_layout.h"
#include "ct_paper.h"
#include "lua_ct.h"
#include "lua_structure.h"

#define ROW(type, field) CTL_FIELD(ct_paper_row, type, field)
static const ctL_Field row_fields[] = {
    ROW(CTL_F_DOUBLE, var_lengths), ROW(CTL_F_DOUBLE, var_angles), ROW(CTL_F_DOUBLE, var_sg),
    ROW(CTL_F_DOUBLE, var_frac), ROW(CTL_F_DOUBLE, coord_agreement),
    ROW(CTL_F_DOUBLE, pdm_diff), ROW(CTL_F_INT, natoms), {NULL, 0, 0}
};

/* measures(tensors, [structures], [fractional]) -> {row, ...} */
static int p_measures(lua_State *L)
{
    ct_tensor *t = ctL_checktensor(L, 1);
    int batch;
    int S = ctL_checkcrystens(L, 1, t, &batch);
    size_t n = batch ? (size_t)t->shape[0] : 1;
    int have = !lua_isnoneornil(L, 2);
    if (have) luaL_checktype(L, 2, LUA_TTABLE);
    int fractional = lua_toboolean(L, 3);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        const ct_structure *s = NULL;
        if (have) {
            lua_rawgeti(L, 2, (lua_Integer)i + 1);
            s = ctL_tostructure(L, -1);
            lua_pop(L, 1);   /* the table keeps it alive */
        }
        ct_paper_row row;
        ct_error err;
        int rc = ct_paper_measures(t->data + i * ct_layout_len(S), S, s, fractional, &row, &err);
        if (rc != CT_OK) return ctL_raisef(L, &err, rc, "tensor %d: ", (int)i + 1);
        ctL_pushfields(L, &row, row_fields);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static const ctL_Reg paper_funcs[] = {
    {"measures", p_measures, "measures(tensors, [structures], [fractional]) -> {row, ...}. "
                             "The paper's Table 1/2 measures of each raw 4×S×S tensor: "
                             "var_lengths, var_angles, var_sg, var_frac, coord_agreement, "
                             "pdm_diff (NaN without the reconstructed structure), natoms."},
    {NULL, NULL, NULL}
};

int luaopen_crystens_paper_core(lua_State *L)
{
    ctL_newlib(L, paper_funcs, "crystens.paper_core: the paper's own quality measures of "
               "generated tensors (Alverson et al. 2024, Tables 1 and 2).");
    return 1;
}
