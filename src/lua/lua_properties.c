/*
 * lua_properties.c - the crystens.properties_core module: the crystal-graph
 * property model of ct_cgcnn.h and its graphs as Lua values.
 *
 * Users reach these through crystens.properties (lua/crystens/properties.lua),
 * which trains, predicts and ranks; this file checks arguments and calls the
 * core.  A Model userdata owns one ct_cgcnn and, once asked for, its Adam
 * state; a Graphs userdata owns the graphs of a list of structures, NULL
 * where a structure gave none (the reason is returned beside it).
 */
#include <stdlib.h>
#include <string.h>

#include "ct_cgcnn.h"
#include "ct_elements.h"
#include "ct_parallel.h"
#include "ct_tensor_ops.h"
#include "lua_structure.h"

#define CTL_MODEL "crystens.PropertyModel"
#define CTL_GRAPHS "crystens.CrystalGraphs"

typedef struct {
    ct_cgcnn *m;
    ct_adam *opt;
} ud_model;

typedef struct {
    int n;
    ct_graph **g;
} ud_graphs;

static ud_model *checkmodel(lua_State *L, int idx)
{
    ud_model *u = luaL_checkudata(L, idx, CTL_MODEL);
    if (!u->m) luaL_argerror(L, idx, "model has been freed");
    return u;
}

static ud_graphs *checkgraphs(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, CTL_GRAPHS);
}

static const char *const cgcnn_keys[] = {"cutoff", "max_nbr", "ngauss", "atom_fea", "nconv",
                                         "hidden", "ntargets", NULL};

/* core.new(cfg, magpie_dir, seed) */
static int p_new(lua_State *L)
{
    ctL_Opts o;
    ctL_checkoptions(L, &o, 1, "ct.properties.train", cgcnn_keys);
    const char *dir = luaL_checkstring(L, 2);
    ct_rng r;
    ct_rng_seed(&r, (uint64_t)luaL_optinteger(L, 3, 0));
    ct_cgcnn_cfg c = ct_cgcnn_cfg_default();
    c.cutoff = ctL_opt_number(&o, "cutoff", c.cutoff);
    c.max_nbr = (int)ctL_opt_range(&o, "max_nbr", c.max_nbr, 1, 1 << 20);
    c.ngauss = (int)ctL_opt_range(&o, "ngauss", c.ngauss, 1, 1 << 20);
    c.atom_fea = (int)ctL_opt_range(&o, "atom_fea", c.atom_fea, 1, 1 << 20);
    c.nconv = (int)ctL_opt_range(&o, "nconv", c.nconv, 1, 1 << 20);
    c.hidden = (int)ctL_opt_range(&o, "hidden", c.hidden, 1, 1 << 20);
    c.ntargets = (int)ctL_opt_range(&o, "ntargets", c.ntargets, 1, 1 << 20);
    ct_error err;
    ud_model *u = ctL_newudata(L, sizeof *u, 0, CTL_MODEL);
    ct_magpie *mp = ct_magpie_load(dir, &err);
    if (!mp) return ctL_raise(L, &err, CT_EIO);
    u->m = ct_cgcnn_new(&c, mp, &r, &err);
    ct_magpie_free(mp);
    if (!u->m) return ctL_raise(L, &err, CT_EINVAL);
    return 1;
}

/* core.load(path) -> Model, {metadata} */
static int p_load(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    ud_model *u = ctL_newudata(L, sizeof *u, 0, CTL_MODEL);
    ct_error err;
    ct_checkpoint *ck;
    if (!(u->m = ct_cgcnn_load(path, &ck, &err))) return ctL_raise(L, &err, CT_EIO);
    ctL_pushmeta(L, ck);
    ct_checkpoint_free(ck);
    return 2;
}

typedef struct {
    ct_structure **s;
    const ct_cgcnn_cfg *c;
    ct_graph **g;
    ct_error *err;
} graph_job;

static void graph_share(void *ctx, size_t i0, size_t i1)
{
    graph_job *j = ctx;
    for (size_t i = i0; i < i1 && !ct_interrupted(); i++)
        if (ct_graph_build(j->s[i], j->c, &j->g[i], &j->err[i]) != CT_OK) j->g[i] = NULL;
}

static int g_gc(lua_State *L)
{
    ud_graphs *u = checkgraphs(L, 1);
    for (int i = 0; i < u->n && u->g; i++) ct_graph_free(u->g[i]);
    free(u->g);
    u->g = NULL;
    u->n = 0;
    return 0;
}

/* core.graphs(structures, model) -> Graphs, {[i] = reason} */
static int p_graphs(lua_State *L)
{
    size_t n;
    int single;
    ct_structure **arr = ctL_checkstructures(L, 1, &n, &single, 0);
    ud_model *m = checkmodel(L, 2);
    if (n > (size_t)1 << 30) return luaL_error(L, "too many structures (%zu)", n);
    ud_graphs *u = ctL_newudata(L, sizeof *u, 0, CTL_GRAPHS);
    ct_error *errs = lua_newuserdatauv(L, (n ? n : 1) * sizeof *errs, 0);
    if (!(u->g = calloc(n ? n : 1, sizeof *u->g))) return luaL_error(L, "out of memory");
    u->n = (int)n;
    graph_job job = {arr, ct_cgcnn_config(m->m), u->g, errs};
    ct_parallel_for(n, ct_num_threads(n, 8), graph_share, &job);
    if (ct_interrupted()) return ctL_raise(L, NULL, CT_EINTR);
    lua_pop(L, 1);
    lua_newtable(L);
    for (size_t i = 0; i < n; i++)
        if (!u->g[i]) {
            lua_pushstring(L, errs[i].msg);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
    return 2;
}

static int g_len(lua_State *L)
{
    lua_pushinteger(L, checkgraphs(L, 1)->n);
    return 1;
}

/* A batch of the graphs listed (1-based) in the table at idx. */
static ct_graph *batch_of(lua_State *L, ud_graphs *gs, int idx, int *count)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    int n = (int)luaL_len(L, idx);
    if (n < 1) luaL_argerror(L, idx, "empty list of graph indices");
    const ct_graph **sel = lua_newuserdatauv(L, (size_t)n * sizeof *sel, 0);
    for (int k = 0; k < n; k++) {
        lua_geti(L, idx, k + 1);
        lua_Integer i = lua_tointeger(L, -1);
        lua_pop(L, 1);
        if (i < 1 || i > gs->n) luaL_argerror(L, idx, lua_pushfstring(L, "index %d out of range", (int)i));
        if (!gs->g[i - 1])
            luaL_argerror(L, idx, lua_pushfstring(L, "structure %d has no graph", (int)i));
        sel[k] = gs->g[i - 1];
    }
    ct_error err;
    ct_graph *b = ct_graph_batch(sel, n, &err);
    lua_pop(L, 1);
    if (!b) ctL_raise(L, &err, CT_EINVAL);
    *count = n;
    return b;
}

static int m_config(lua_State *L)
{
    const ct_cgcnn_cfg *c = ct_cgcnn_config(checkmodel(L, 1)->m);
    lua_createtable(L, 0, 7);
    lua_pushnumber(L, c->cutoff);
    lua_setfield(L, -2, "cutoff");
    const char *keys[6] = {"max_nbr", "ngauss", "atom_fea", "nconv", "hidden", "ntargets"};
    int vals[6] = {c->max_nbr, c->ngauss, c->atom_fea, c->nconv, c->hidden, c->ntargets};
    for (int i = 0; i < 6; i++) {
        lua_pushinteger(L, vals[i]);
        lua_setfield(L, -2, keys[i]);
    }
    return 1;
}

static int m_nparams(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)ct_cgcnn_weights(checkmodel(L, 1)->m)->numel);
    return 1;
}

static int m_mark_known(lua_State *L)
{
    ud_model *m = checkmodel(L, 1);
    ud_graphs *gs = checkgraphs(L, 2);
    for (int i = 0; i < gs->n; i++)
        if (gs->g[i]) ct_cgcnn_mark_known(m->m, gs->g[i]);
    return 0;
}

static int m_known(lua_State *L)
{
    ud_model *m = checkmodel(L, 1);
    lua_newtable(L);
    int k = 0;
    for (int z = 1; z < CT_CGCNN_NZ; z++)
        if (ct_cgcnn_known(m->m, z)) {
            lua_pushstring(L, ct_element_symbol(z));
            lua_rawseti(L, -2, ++k);
        }
    return 1;
}

/* m:check(gs, i) -> nil | reason */
static int m_check(lua_State *L)
{
    ud_model *m = checkmodel(L, 1);
    ud_graphs *gs = checkgraphs(L, 2);
    lua_Integer i = luaL_checkinteger(L, 3);
    luaL_argcheck(L, i >= 1 && i <= gs->n, 3, "index out of range");
    if (!gs->g[i - 1]) return luaL_argerror(L, 3, "structure has no graph");
    ct_error err;
    if (ct_cgcnn_check(m->m, gs->g[i - 1], &err) == CT_OK) return 0;
    lua_pushstring(L, err.msg);
    return 1;
}

static void read_numbers(lua_State *L, int idx, int n, double *out)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    if (luaL_len(L, idx) != n) luaL_argerror(L, idx, lua_pushfstring(L, "expected %d numbers", n));
    for (int i = 0; i < n; i++) {
        lua_geti(L, idx, i + 1);
        out[i] = luaL_checknumber(L, -1);
        lua_pop(L, 1);
    }
}

static int m_set_scale(lua_State *L)
{
    ud_model *m = checkmodel(L, 1);
    int T = ct_cgcnn_config(m->m)->ntargets;
    double mean[CT_CGCNN_MAXTARGETS], sd[CT_CGCNN_MAXTARGETS];
    read_numbers(L, 2, T, mean);
    read_numbers(L, 3, T, sd);
    for (int t = 0; t < T; t++)
        if (!(sd[t] > 0)) luaL_argerror(L, 3, "standard deviations must be positive");
    ct_cgcnn_set_scale(m->m, mean, sd);
    return 0;
}

static int m_scale(lua_State *L)
{
    ud_model *m = checkmodel(L, 1);
    int T = ct_cgcnn_config(m->m)->ntargets;
    double mean[CT_CGCNN_MAXTARGETS], sd[CT_CGCNN_MAXTARGETS];
    ct_cgcnn_get_scale(m->m, mean, sd);
    ctL_pushnumbers(L, mean, (size_t)T);
    ctL_pushnumbers(L, sd, (size_t)T);
    return 2;
}

/* m:predict(gs, {indices}) -> Tensor B×T in property units */
static int m_predict(lua_State *L)
{
    ud_model *m = checkmodel(L, 1);
    ud_graphs *gs = checkgraphs(L, 2);
    int n;
    ct_graph *b = batch_of(L, gs, 3, &n);
    ct_tensor *y;
    ct_error err;
    int rc = ct_cgcnn_forward(m->m, b, &y, &err);
    ct_graph_free(b);
    if (rc != CT_OK) return ctL_raise(L, &err, rc);
    int T = ct_cgcnn_config(m->m)->ntargets;
    double mean[CT_CGCNN_MAXTARGETS], sd[CT_CGCNN_MAXTARGETS];
    ct_cgcnn_get_scale(m->m, mean, sd);
    for (int k = 0; k < n; k++)
        for (int t = 0; t < T; t++) {
            float *v = &y->data[(size_t)k * T + t];
            *v = (float)((double)*v * sd[t] + mean[t]);
        }
    ctL_pushtensor(L, y, &err);
    return 1;
}

static const char *const optimizer_keys[] = {"lr", "weight_decay", NULL};

static int m_optimizer(lua_State *L)
{
    ud_model *m = checkmodel(L, 1);
    ctL_Opts o;
    ctL_optoptions(L, &o, 2, "m:optimizer", optimizer_keys);
    ct_adam_cfg c = {(float)ctL_opt_number(&o, "lr", 1e-3), 0.9f, 0.999f, 1e-8f,
                     (float)ctL_opt_number(&o, "weight_decay", 0), 1};
    ct_error err;
    ct_adam *a = ct_adam_new(&c, ct_cgcnn_weights(m->m)->numel, &err);
    if (!a) return ctL_raise(L, &err, CT_ENOMEM);
    ct_adam_free(m->opt);
    m->opt = a;
    return 0;
}

static int m_set_lr(lua_State *L)
{
    ud_model *m = checkmodel(L, 1);
    lua_Number lr = luaL_checknumber(L, 2);
    luaL_argcheck(L, lr >= 0, 2, "learning rate must be >= 0");
    if (!m->opt) return luaL_error(L, "no optimizer: call m:optimizer{lr=...} first");
    m->opt->cfg.lr = (float)lr;
    return 0;
}

/* m:train_step(gs, {indices}, targets B×T (property units), mask B×T[, max_norm])
   -> the L1 loss in standardised units */
static int m_train_step(lua_State *L)
{
    ud_model *m = checkmodel(L, 1);
    ud_graphs *gs = checkgraphs(L, 2);
    if (!m->opt) return luaL_error(L, "no optimizer: call m:optimizer{lr=...} first");
    ct_tensor *target = ctL_checktensor(L, 4), *mask = ctL_checktensor(L, 5);
    lua_Number max_norm = luaL_optnumber(L, 6, 0);
    int n;
    ct_graph *b = batch_of(L, gs, 3, &n);
    int T = ct_cgcnn_config(m->m)->ntargets;
    if (target->ndim != 2 || target->shape[0] != n || target->shape[1] != T ||
        !ct_tensor_same_shape(target, mask)) {
        ct_graph_free(b);
        return luaL_error(L, "targets and mask must be %d×%d", n, T);
    }
    double mean[CT_CGCNN_MAXTARGETS], sd[CT_CGCNN_MAXTARGETS], loss = 0;
    ct_cgcnn_get_scale(m->m, mean, sd);
    ct_error err;
    ct_tensor *y = NULL, *gy = NULL, *std = ct_tensor_clone(target, &err);
    int rc = std ? CT_OK : CT_ENOMEM;
    if (rc == CT_OK) {
        for (int k = 0; k < n; k++)
            for (int t = 0; t < T; t++) {
                float *v = &std->data[(size_t)k * T + t];
                *v = (float)(((double)*v - mean[t]) / sd[t]);
            }
        ct_tensor_fill(ct_cgcnn_grads(m->m), 0.0f);
        rc = ct_cgcnn_forward(m->m, b, &y, &err);
    }
    if (rc == CT_OK) rc = ct_cgcnn_loss_l1(y, std, mask, &loss, &gy, &err);
    if (rc == CT_OK) rc = ct_cgcnn_backward(m->m, gy, &err);
    if (rc == CT_OK) {
        if (max_norm > 0) ct_clip_grad_norm(ct_cgcnn_grads(m->m), max_norm);
        rc = ct_adam_step(m->opt, ct_cgcnn_weights(m->m), ct_cgcnn_grads(m->m), &err);
    }
    ct_tensor_free(y);
    ct_tensor_free(gy);
    ct_tensor_free(std);
    ct_graph_free(b);
    if (rc != CT_OK) return ctL_raise(L, &err, rc);
    lua_pushnumber(L, loss);
    return 1;
}

/* m:save(path, {key = string}) */
static int m_save(lua_State *L)
{
    ud_model *m = checkmodel(L, 1);
    const char *path = luaL_checkstring(L, 2);
    const char **k, **v;
    int n = ctL_checkmeta(L, 3, &k, &v);
    ct_error err;
    int rc = ct_cgcnn_save(m->m, path, k, v, n, &err);
    if (rc != CT_OK) return ctL_raise(L, &err, rc);
    return 0;
}

static int m_gc(lua_State *L)
{
    ud_model *u = luaL_checkudata(L, 1, CTL_MODEL);
    ct_cgcnn_free(u->m);
    ct_adam_free(u->opt);
    u->m = NULL;
    u->opt = NULL;
    return 0;
}

static const ctL_Reg model_methods[] = {
    {"config", m_config, "m:config() -> {cutoff, max_nbr, ngauss, atom_fea, nconv, hidden, ntargets}."},
    {"nparams", m_nparams, "m:nparams() -> integer. The number of trained parameters."},
    {"mark_known", m_mark_known, "m:mark_known(graphs). Record the elements of the graphs as "
                                 "known (seen in training)."},
    {"known", m_known, "m:known() -> {symbol}. The elements the model was trained on."},
    {"check", m_check, "m:check(graphs, i) -> nil | reason. Why structure i cannot be predicted "
                       "(an element absent from training), or nil."},
    {"set_scale", m_set_scale, "m:set_scale(means, stds). Target standardisation: property = "
                               "output·std + mean."},
    {"scale", m_scale, "m:scale() -> means, stds."},
    {"predict", m_predict, "m:predict(graphs, {i...}) -> Tensor n×ntargets. Predictions in "
                           "property units for the listed structures."},
    {"optimizer", m_optimizer, "m:optimizer{lr=1e-3, weight_decay=0}. A fresh AdamW state."},
    {"set_lr", m_set_lr, "m:set_lr(lr). Change the optimizer's learning rate."},
    {"train_step", m_train_step, "m:train_step(graphs, {i...}, targets, mask[, max_norm]) -> "
                                 "loss. One AdamW step on the masked L1 loss (standardised "
                                 "units); targets and mask n×ntargets."},
    {"save", m_save, "m:save(path[, {key=value}]). Write a safetensors file with extra metadata."},
    {NULL, NULL, NULL}
};

static const luaL_Reg graphs_meta[] = {{"__len", g_len}, {NULL, NULL}};

static const ctL_Reg properties_funcs[] = {
    {"new", p_new, "new(cfg, magpie_dir[, seed]) -> Model. A fresh crystal-graph model."},
    {"load", p_load, "load(path) -> Model, {metadata}. A model saved by m:save."},
    {"graphs", p_graphs, "graphs(structures, model) -> Graphs, {[i] = reason}. The crystal "
                         "graphs of a Structure list or Dataset with the model's cutoff; a "
                         "structure without one (an isolated atom) is listed with its reason."},
    {NULL, NULL, NULL}
};

int luaopen_crystens_properties_core(lua_State *L)
{
    ctL_newclass(L, CTL_MODEL, model_methods, m_gc, NULL);
    ctL_newclass(L, CTL_GRAPHS, NULL, g_gc, graphs_meta);
    ctL_newlib(L, properties_funcs, "crystens.properties_core: the crystal-graph property model "
               "(CGCNN family) and its graphs; used by crystens.properties.");
    return 1;
}
