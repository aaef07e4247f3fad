/*
 * lua_fingerprint.c - crystens.fingerprint: the CDVAE structure
 * fingerprint (CrystalNN + order parameters, 61 values) from Lua.
 */
#include <stdlib.h>

#include "ct_crystalnn.h"
#include "ct_fingerprint.h"
#include "ct_parallel.h"
#include "lua_structure.h"

/* Fingerprints of a list, split over threads; each keeps its error. */
typedef struct {
    ct_structure *const *s;
    double (*fp)[CT_FP_LEN];
    int *status;
    ct_error *err;
} fp_job;

static void fp_share(void *ctx, size_t begin, size_t end)
{
    fp_job *job = ctx;
    for (size_t i = begin; i < end && !ct_interrupted(); i++)
        job->status[i] = ct_fingerprint_structure(job->s[i], job->fp[i], &job->err[i]);
}

static int f_structure(lua_State *L)
{
    lua_settop(L, 1);
    size_t n;
    int single;
    ct_structure **arr = ctL_checkstructures(L, 1, &n, &single, 0);
    size_t m = n ? n : 1;
    fp_job job = {arr, lua_newuserdatauv(L, m * sizeof *job.fp, 0),
                  lua_newuserdatauv(L, m * sizeof *job.status, 0),
                  lua_newuserdatauv(L, m * sizeof *job.err, 0)};
    ct_parallel_for(n, ct_num_threads(n, 4), fp_share, &job);
    if (ct_interrupted()) return ctL_raise(L, NULL, CT_EINTR);
    if (single) {
        if (job.status[0] != CT_OK) return ctL_argraise(L, 1, &job.err[0], job.status[0]);
        ctL_pushnumbers(L, job.fp[0], CT_FP_LEN);
        return 1;
    }
    lua_createtable(L, (int)n, 0);
    lua_newtable(L);
    for (size_t i = 0; i < n; i++) {
        if (job.status[i] == CT_OK) {
            ctL_pushnumbers(L, job.fp[i], CT_FP_LEN);
        } else {
            lua_pushstring(L, job.err[i].msg);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
            lua_pushboolean(L, 0);
        }
        lua_rawseti(L, -3, (lua_Integer)i + 1);
    }
    return 2;
}

static int check_site(lua_State *L, const ct_structure *s, int idx)
{
    lua_Integer i = luaL_checkinteger(L, idx);
    luaL_argcheck(L, i >= 1 && i <= s->natoms, idx, "site index out of range");
    return (int)i - 1;
}

static int f_site(lua_State *L)
{
    ct_structure *s = ctL_checkstructure(L, 1);
    int i = check_site(L, s, 2);
    double fp[CT_FP_LEN];
    ct_error err;
    int rc = ct_fingerprint_site(s, i, fp, &err);
    if (rc != CT_OK) return ctL_argraise(L, 1, &err, rc);
    ctL_pushnumbers(L, fp, CT_FP_LEN);
    return 1;
}

static int f_crystalnn(lua_State *L)
{
    ct_structure *s = ctL_checkstructure(L, 1);
    int i = check_site(L, s, 2);
    ct_crystalnn nn;
    ct_error err;
    int rc = ct_crystalnn_site(s, i, &nn, &err);
    if (rc != CT_OK) {
        ct_crystalnn_free(&nn);
        return ctL_argraise(L, 1, &err, rc);
    }
    lua_createtable(L, 0, 2);
    lua_newtable(L);
    for (int cn = 0; cn <= nn.max_cn; cn++)
        if (nn.cn_weight[cn] > 0) {
            lua_pushnumber(L, nn.cn_weight[cn]);
            lua_rawseti(L, -2, cn);
        }
    lua_setfield(L, -2, "cn_weights");
    lua_createtable(L, nn.nn, 0);
    for (int k = 0; k < nn.nn; k++) {
        const ct_crystalnn_neighbor *b = &nn.nbr[k];
        lua_createtable(L, 0, 4);
        lua_pushinteger(L, b->site + 1);
        lua_setfield(L, -2, "site");
        lua_pushnumber(L, b->dist);
        lua_setfield(L, -2, "distance");
        lua_pushnumber(L, b->weight);
        lua_setfield(L, -2, "weight");
        double d[3] = {b->pos[0] - nn.centre[0], b->pos[1] - nn.centre[1], b->pos[2] - nn.centre[2]};
        ctL_pushnumbers(L, d, 3);
        lua_setfield(L, -2, "vector");
        lua_rawseti(L, -2, k + 1);
    }
    lua_setfield(L, -2, "neighbors");
    ct_crystalnn_free(&nn);
    return 1;
}

static const ctL_Reg fingerprint_funcs[] = {
    {"structure", f_structure,
     "fingerprint.structure(s | {s, ...} | dataset) -> {61 numbers} | {fp|false, ...}, errors. "
     "CDVAE's structure fingerprint: matminer's CrystalNNFingerprint \"ops\" preset averaged "
     "over the sites (labels in fingerprint.names). For one Structure a failure (an element "
     "without radius: Bk..Lr) raises; for a list or data set, computed "
     "on all cores, a failed crystal gets false and errors[i] says why."},
    {"site", f_site, "fingerprint.site(s, i) -> {61 numbers}. The fingerprint of atom i."},
    {"crystalnn", f_crystalnn,
     "fingerprint.crystalnn(s, i) -> {cn_weights = {[cn] = p}, neighbors = {{site, distance, "
     "weight, vector}, ...}}. pymatgen's CrystalNN for atom i: the probability of each "
     "coordination number and the neighbours by weight (a CN takes the first cn of them); "
     "vector points from atom i to the neighbour's periodic image, in Å."},
    {NULL, NULL, NULL}
};

int luaopen_crystens_fingerprint(lua_State *L)
{
    ctL_newlib(L, fingerprint_funcs,
               "crystens.fingerprint: the CDVAE structure fingerprint for coverage (COV-R, "
               "COV-P): pymatgen's CrystalNN (Voronoi solid angles, electronegativity, "
               "covalent-radius cutoffs) and the local structure order parameters of matminer's "
               "CrystalNNFingerprint.from_preset(\"ops\"), 61 values per site, mean over sites. "
               "Functions: structure, site, crystalnn; names lists the 61 labels.");
    lua_createtable(L, CT_FP_LEN, 0);
    for (int i = 0; i < CT_FP_LEN; i++) {
        lua_pushstring(L, ct_fingerprint_names[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "names");
    return 1;
}
