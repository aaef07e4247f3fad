/*
 * lua_nn.c - the crystens.nn_core module: C layers, losses, Adam, flat
 * parameter buffers and safetensors files as Lua values.
 *
 * Users reach these through crystens.nn (lua/crystens/nn.lua), which
 * composes layers into models; this file only checks arguments and calls
 * the core.  A Layer userdata owns one ct_layer; forward and backward return
 * fresh tensors.
 */
#include <string.h>

#include "ct_checkpoint.h"
#include "ct_nn.h"
#include "lua_ct.h"

static ct_layer *checklayer(lua_State *L, int idx)
{
    return ctL_checkbox(L, idx, CTL_LAYER, "layer");
}

/* Push l as a Layer (NULL raises err). */
static int push_layer(lua_State *L, ct_layer *l, const ct_error *err)
{
    ctL_pushbox(L, CTL_LAYER, 0, l, err, "layer");
    return 1;
}

/* ---- Options --------------------------------------------------------------- */

static const char *const linear_keys[] = {"bias", "rng", NULL};
static const char *const conv_keys[] = {"stride", "padding", "output_padding", "bias", "rng", NULL};
static const char *const batchnorm_keys[] = {"eps", "momentum", NULL};
static const char *const eps_keys[] = {"eps", NULL};
static const char *const attention_keys[] = {"rng", NULL};
static const char *const temb_keys[] = {"max_period", NULL};
static const char *const adam_keys[] = {"lr", "beta1", "beta2", "eps", "weight_decay",
                                        "decoupled", NULL};

/* A per-dimension size: a number for all spatial dimensions, or a list of
   dims numbers; written into out[3 - dims .. 2].  Return 0 (out unspecified)
   if the value at idx is neither. */
static int dims_value(lua_State *L, int idx, int dims, int out[3])
{
    int ok;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        lua_Integer v = lua_tointegerx(L, idx, &ok);
        for (int i = 3 - dims; i < 3; i++) out[i] = (int)v;
        return ok;
    }
    if (lua_type(L, idx) != LUA_TTABLE || luaL_len(L, idx) != dims) return 0;
    for (int i = 0; i < dims; i++) {
        lua_geti(L, idx, i + 1);
        out[3 - dims + i] = (int)lua_tointegerx(L, -1, &ok);
        lua_pop(L, 1);
        if (!ok) return 0;
    }
    return 1;
}

static void opt_dims(ctL_Opts *o, const char *key, int dims, int def, int out[3])
{
    for (int i = 0; i < 3; i++) out[i] = i < 3 - dims ? (key[0] == 's' ? 1 : 0) : def;
    if (ctL_opt_push(o, key, LUA_TNONE) != LUA_TNIL &&
        !dims_value(o->L, lua_gettop(o->L), dims, out))
        ctL_opt_typeerror(o, key, lua_pushfstring(o->L, "integer or list of %d integers", dims));
    lua_pop(o->L, 1);
}

/* ---- Constructors ------------------------------------------------------------ */

static int nn_linear(lua_State *L)
{
    int in = (int)luaL_checkinteger(L, 1), out = (int)luaL_checkinteger(L, 2);
    ctL_Opts o;
    ctL_optoptions(L, &o, 3, "ct.nn.linear", linear_keys);
    ct_error err;
    return push_layer(L, ct_linear_new(in, out, ctL_opt_boolean(&o, "bias", 1), ctL_opt_rng(&o, "rng"),
                                       &err), &err);
}

static int conv_common(lua_State *L, const char *fname, int dims, int transposed)
{
    ctL_Opts o;
    ctL_optoptions(L, &o, 4, fname, conv_keys);
    ct_conv_cfg c = {dims, transposed, (int)luaL_checkinteger(L, 1), (int)luaL_checkinteger(L, 2),
                     {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, {0, 0, 0}, ctL_opt_boolean(&o, "bias", 1)};
    if (!dims_value(L, 3, dims, c.k))
        luaL_typeerror(L, 3, lua_pushfstring(L, "integer or list of %d integers", dims));
    if (dims == 2) c.k[0] = 1;
    opt_dims(&o, "stride", dims, 1, c.stride);
    opt_dims(&o, "padding", dims, 0, c.pad);
    opt_dims(&o, "output_padding", dims, 0, c.outpad);
    ct_error err;
    return push_layer(L, ct_conv_new(&c, ctL_opt_rng(&o, "rng"), &err), &err);
}

static int nn_conv2d(lua_State *L) { return conv_common(L, "ct.nn.conv2d", 2, 0); }
static int nn_conv3d(lua_State *L) { return conv_common(L, "ct.nn.conv3d", 3, 0); }
static int nn_convtranspose2d(lua_State *L) { return conv_common(L, "ct.nn.convtranspose2d", 2, 1); }
static int nn_convtranspose3d(lua_State *L) { return conv_common(L, "ct.nn.convtranspose3d", 3, 1); }

static int nn_batchnorm(lua_State *L)
{
    ctL_Opts o;
    ctL_optoptions(L, &o, 2, "ct.nn.batchnorm", batchnorm_keys);
    ct_error err;
    return push_layer(L, ct_batchnorm_new((int)luaL_checkinteger(L, 1),
                                          (float)ctL_opt_number(&o, "eps", 1e-5),
                                          (float)ctL_opt_number(&o, "momentum", 0.1), &err), &err);
}

/* groupnorm(groups, c, [opts]) and groupnorm_silu, made by make. */
static int groupnorm_common(lua_State *L, const char *fname,
                            ct_layer *(*make)(int groups, int c, float eps, ct_error *err))
{
    ctL_Opts o;
    ctL_optoptions(L, &o, 3, fname, eps_keys);
    ct_error err;
    return push_layer(L, make((int)luaL_checkinteger(L, 1), (int)luaL_checkinteger(L, 2),
                              (float)ctL_opt_number(&o, "eps", 1e-5), &err), &err);
}

static int nn_groupnorm(lua_State *L)
{
    return groupnorm_common(L, "ct.nn.groupnorm", ct_groupnorm_new);
}

static int nn_groupnorm_silu(lua_State *L)
{
    return groupnorm_common(L, "ct.nn.groupnorm_silu", ct_groupnorm_silu_new);
}

static int nn_layernorm(lua_State *L)
{
    int64_t shape[CT_MAXDIM];
    int nd = 1;
    if (lua_type(L, 1) == LUA_TTABLE) {
        nd = ctL_checkshape(L, 1, shape);
    } else {   /* a count, with options after it */
        shape[0] = luaL_checkinteger(L, 1);
        luaL_argcheck(L, shape[0] >= 0, 1, "size must be non-negative");
    }
    ctL_Opts o;
    ctL_optoptions(L, &o, 2, "ct.nn.layernorm", eps_keys);
    ct_error err;
    return push_layer(L, ct_layernorm_new(nd, shape, (float)ctL_opt_number(&o, "eps", 1e-5), &err),
                      &err);
}

static int act_common(lua_State *L, ct_act_kind kind, float slope)
{
    ct_error err;
    return push_layer(L, ct_act_new(kind, slope, &err), &err);
}

static int nn_relu(lua_State *L) { return act_common(L, CT_ACT_RELU, 0); }
static int nn_silu(lua_State *L) { return act_common(L, CT_ACT_SILU, 0); }
static int nn_sigmoid(lua_State *L) { return act_common(L, CT_ACT_SIGMOID, 0); }
static int nn_tanh(lua_State *L) { return act_common(L, CT_ACT_TANH, 0); }
static int nn_leaky_relu(lua_State *L)
{
    return act_common(L, CT_ACT_LEAKY_RELU, (float)luaL_optnumber(L, 1, 0.01));
}

static int nn_upsample(lua_State *L)
{
    ct_error err;
    return push_layer(L, ct_upsample_new((int)luaL_optinteger(L, 1, 2), &err), &err);
}

static int nn_attention(lua_State *L)
{
    ctL_Opts o;
    ctL_optoptions(L, &o, 2, "ct.nn.attention", attention_keys);
    ct_error err;
    return push_layer(L, ct_attention_new((int)luaL_checkinteger(L, 1), ctL_opt_rng(&o, "rng"), &err),
                      &err);
}

static int nn_time_embedding(lua_State *L)
{
    ctL_Opts o;
    ctL_optoptions(L, &o, 2, "ct.nn.time_embedding", temb_keys);
    ct_error err;
    return push_layer(L, ct_timeembed_new((int)luaL_checkinteger(L, 1),
                                          (float)ctL_opt_number(&o, "max_period", 10000), &err), &err);
}

/* ---- Layer methods ------------------------------------------------------------ */

/* Raise a layer failure: shape problems name the tensor argument. */
static int layer_error(lua_State *L, int rc, const ct_error *err)
{
    return ctL_argraise(L, 2, err, rc);
}

static int l_forward(lua_State *L)
{
    ct_layer *l = checklayer(L, 1);
    ct_tensor *x = ctL_checkanytensor(L, 2), *y;
    ct_error err;
    int rc = lua_isnoneornil(L, 3) ? ct_layer_forward(l, x, &y, &err)
                                   : ct_groupnorm_silu_forward(l, x, ctL_checkanytensor(L, 3), &y, &err);
    if (rc == CT_EINVAL && strstr(err.msg, "shift")) return luaL_argerror(L, 3, err.msg);
    if (rc != CT_OK) return layer_error(L, rc, &err);
    ctL_pushtensor(L, y, &err);
    return 1;
}

static int l_backward(lua_State *L)
{
    ct_layer *l = checklayer(L, 1);
    ct_tensor *gy = ctL_checkanytensor(L, 2), *gx;
    int keep = l->param_grads;
    if (!lua_isnoneornil(L, 3)) l->param_grads = lua_toboolean(L, 3);
    ct_error err;
    ct_tensor *ga = NULL;   /* groupnorm_silu's shift gradient */
    const ct_tensor *r = lua_isnoneornil(L, 4) ? NULL : ctL_checkanytensor(L, 4);
    int gns = !strcmp(l->ops->kind, "groupnorm_silu");
    if (r && !gns) {
        l->param_grads = keep;
        return luaL_argerror(L, 4, "a gradient to add needs a groupnorm_silu layer");
    }
    int rc = gns ? ct_groupnorm_silu_backward_add(l, gy, r, &gx, &ga, &err)
                 : ct_layer_backward(l, gy, &gx, &err);
    l->param_grads = keep;
    if (rc == CT_EINVAL && r && strstr(err.msg, "gradient to add")) return luaL_argerror(L, 4, err.msg);
    if (rc != CT_OK) return layer_error(L, rc, &err);
    ctL_pushtensor(L, gx, &err);
    if (ga) ctL_pushtensor(L, ga, &err);
    return ga ? 2 : 1;
}

/* Push a new view of t (Lua owns the view; the bytes stay shared). */
static void push_view(lua_State *L, const ct_tensor *t)
{
    ct_error err;
    ctL_pushtensor(L, ct_tensor_view(t, 0, t->ndim, t->shape, &err), &err);
}

/* Push {{name=, w=, g=}, ...} for params (with grads) or buffers. */
static void push_entries(lua_State *L, const ct_param *ps, int n)
{
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_createtable(L, 0, 3);
        lua_pushstring(L, ps[i].name);
        lua_setfield(L, -2, "name");
        push_view(L, ps[i].w);
        lua_setfield(L, -2, "w");
        if (ps[i].g) {
            push_view(L, ps[i].g);
            lua_setfield(L, -2, "g");
        }
        lua_rawseti(L, -2, i + 1);
    }
}

static int l_parameters(lua_State *L)
{
    ct_layer *l = checklayer(L, 1);
    push_entries(L, l->params, l->nparams);
    return 1;
}

static int l_buffers(lua_State *L)
{
    ct_layer *l = checklayer(L, 1);
    push_entries(L, l->buffers, l->nbuffers);
    return 1;
}

static int l_train(lua_State *L)
{
    ct_layer *l = checklayer(L, 1);
    l->training = lua_isnoneornil(L, 2) ? 1 : lua_toboolean(L, 2);
    lua_settop(L, 1);
    return 1;
}

static int l_kind(lua_State *L)
{
    lua_pushstring(L, checklayer(L, 1)->ops->kind);
    return 1;
}

static int l_gc(lua_State *L)
{
    ct_layer_free(ctL_takebox(L, 1, CTL_LAYER));
    return 0;
}

static int l_tostring(lua_State *L)
{
    luaL_checkudata(L, 1, CTL_LAYER);
    const ct_layer *l = ctL_tobox(L, 1, CTL_LAYER);
    if (!l) {
        lua_pushliteral(L, "Layer (freed)");
        return 1;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "Layer ");
    luaL_addstring(&b, l->ops->kind);
    for (int i = 0; i < l->nparams; i++) {
        char s[96];
        luaL_addstring(&b, i ? ", " : " (");
        luaL_addstring(&b, l->params[i].name);
        luaL_addchar(&b, ' ');
        luaL_addstring(&b, ct_tensor_shape_str(l->params[i].w, s, sizeof s));
    }
    if (l->nparams) luaL_addchar(&b, ')');
    luaL_pushresult(&b);
    return 1;
}

static const ctL_Reg layer_methods[] = {
    {"forward", l_forward, "layer:forward(x, [a]) -> Tensor. The layer's output for x (a new tensor); "
                           "the layer keeps x for backward.  a: groupnorm_silu's N×C shift."},
    {"backward", l_backward, "layer:backward(gy, [param_grads], [r]) -> Tensor. The gradient with "
                             "respect to the last forward's input; adds the parameters' gradients "
                             "into their g unless param_grads is false.  groupnorm_silu also "
                             "returns the shift's gradient when its forward had one, and adds r "
                             "(the input's shape) to the input gradient in the same pass."},
    {"parameters", l_parameters, "layer:parameters() -> {{name, w, g}, ...}. Views of the "
                                 "weights and their gradients."},
    {"buffers", l_buffers, "layer:buffers() -> {{name, w}, ...}. Saved state that is not "
                           "trained (batchnorm's running statistics)."},
    {"train", l_train, "layer:train([on]) -> layer. Training mode (batch statistics) or, with "
                       "false, evaluation mode."},
    {"kind", l_kind, "layer:kind() -> string. The layer type, e.g. 'conv2d'."},
    {NULL, NULL, NULL}
};

static const luaL_Reg layer_meta[] = {{"__tostring", l_tostring}, {NULL, NULL}};

/* ---- Losses -------------------------------------------------------------------- */

/* What a loss of ct_nn.h computes: the loss, its gradient, or an error. */
typedef struct {
    double loss;
    ct_tensor *grad;
    ct_error err;
} loss_out;

/* Return loss, grad for a loss that gave rc into out. */
static int push_loss(lua_State *L, int rc, loss_out *out)
{
    if (rc != CT_OK) return ctL_argraise(L, 1, &out->err, rc);
    lua_pushnumber(L, out->loss);
    ctL_pushtensor(L, out->grad, &out->err);
    return 2;
}

/* A loss of ct_nn.h comparing two tensors (mse, bce_logits). */
typedef int (*pair_loss)(const ct_tensor *a, const ct_tensor *b, double *loss, ct_tensor **grad,
                         ct_error *err);

/* loss(a, b) -> loss, grad */
static int loss_of_pair(lua_State *L, pair_loss f)
{
    loss_out out = {0};
    return push_loss(L, f(ctL_checkanytensor(L, 1), ctL_checkanytensor(L, 2), &out.loss,
                          &out.grad, &out.err), &out);
}

static int nn_mse(lua_State *L) { return loss_of_pair(L, ct_loss_mse); }
static int nn_bce_logits(lua_State *L) { return loss_of_pair(L, ct_loss_bce_logits); }

static int nn_wasserstein(lua_State *L)
{
    loss_out out = {0};
    return push_loss(L, ct_loss_wasserstein(ctL_checkanytensor(L, 1),
                                            (float)luaL_optnumber(L, 2, 1), &out.loss,
                                            &out.grad, &out.err), &out);
}

/* ---- Flat buffers and optimisation ---------------------------------------------- */

static int nn_flatten(lua_State *L)
{
    int n, np = 0;
    ct_layer **ls = ctL_checklayers(L, 1, &n);
    ct_param **ps = lua_newuserdatauv(L, sizeof *ps * (size_t)(n * CT_MAXPARAMS + 1), 0);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < ls[i]->nparams; k++) ps[np++] = &ls[i]->params[k];
    ct_tensor *w, *g;
    ct_error err;
    if (ct_params_flatten(ps, np, &w, &g, &err) != CT_OK) return ctL_raise(L, &err, CT_ENOMEM);
    ctL_pushtensor(L, w, &err);
    ctL_pushtensor(L, g, &err);
    return 2;
}

static ct_adam *checkadam(lua_State *L, int idx)
{
    return ctL_checkbox(L, idx, CTL_ADAM, "optimizer");
}

static int nn_adam_state(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 0, 1, "negative parameter count");
    ctL_Opts o;
    ctL_optoptions(L, &o, 2, "nn_core.adam_state", adam_keys);
    ct_adam_cfg c = {(float)ctL_opt_number(&o, "lr", 1e-3), (float)ctL_opt_number(&o, "beta1", 0.9),
                     (float)ctL_opt_number(&o, "beta2", 0.999), (float)ctL_opt_number(&o, "eps", 1e-8),
                     (float)ctL_opt_number(&o, "weight_decay", 0),
                     ctL_opt_boolean(&o, "decoupled", 1)};
    void **p = ctL_newbox(L, CTL_ADAM, 0);
    ct_error err;
    if (!(*p = ct_adam_new(&c, (size_t)n, &err))) return ctL_raise(L, &err, CT_ENOMEM);
    return 1;
}

static int a_step(lua_State *L)
{
    ct_adam *a = checkadam(L, 1);
    ct_error err;
    int rc = ct_adam_step(a, ctL_checkanytensor(L, 2), ctL_checkanytensor(L, 3), &err);
    if (rc != CT_OK) return ctL_argraise(L, 2, &err, rc);
    return 0;
}

static int a_lr(lua_State *L)
{
    ct_adam *a = checkadam(L, 1);
    if (!lua_isnoneornil(L, 2)) {
        lua_Number lr = luaL_checknumber(L, 2);
        luaL_argcheck(L, lr >= 0, 2, "learning rate must not be negative");
        a->cfg.lr = (float)lr;
    }
    lua_pushnumber(L, a->cfg.lr);
    return 1;
}

static int a_steps(lua_State *L)
{
    ct_adam *a = checkadam(L, 1);
    if (!lua_isnoneornil(L, 2)) a->step = luaL_checkinteger(L, 2);
    lua_pushinteger(L, a->step);
    return 1;
}

static int a_moments(lua_State *L)
{
    ct_adam *a = checkadam(L, 1);
    push_view(L, a->m);
    push_view(L, a->v);
    return 2;
}

static int a_gc(lua_State *L)
{
    ct_adam_free(ctL_takebox(L, 1, CTL_ADAM));
    return 0;
}

static const ctL_Reg adam_methods[] = {
    {"step", a_step, "state:step(w, g) -> nil. One Adam step on flat weights w with gradients g."},
    {"lr", a_lr, "state:lr([new]) -> number. The learning rate, set first when new is given."},
    {"steps", a_steps, "state:steps([n]) -> integer. Steps taken (for bias correction); set with n."},
    {"moments", a_moments, "state:moments() -> m, v. Views of the first and second moments."},
    {NULL, NULL, NULL}
};

static int nn_clip_grad_norm(lua_State *L)
{
    ct_tensor *g = ctL_checkanytensor(L, 1);
    lua_Number max = luaL_checknumber(L, 2);
    luaL_argcheck(L, max > 0, 2, "maximum norm must be positive");
    lua_pushnumber(L, ct_clip_grad_norm(g, max));
    return 1;
}

static int nn_ema_update(lua_State *L)
{
    ct_error err;
    int rc = ct_ema_update(ctL_checkanytensor(L, 1), ctL_checkanytensor(L, 2),
                           (float)luaL_checknumber(L, 3), &err);
    if (rc != CT_OK) return ctL_raise(L, &err, rc);
    return 0;
}

/* ---- Checkpoint files ------------------------------------------------------------ */

/* save(path, names, tensors, meta) */
static int nn_save(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TTABLE);
    luaL_checktype(L, 4, LUA_TTABLE);
    int n = (int)luaL_len(L, 2);
    luaL_argcheck(L, luaL_len(L, 3) == n, 3, "as many tensors as names expected");
    const char **names = lua_newuserdatauv(L, sizeof *names * (size_t)(n + 1), 0);
    ct_tensor **ts = lua_newuserdatauv(L, sizeof *ts * (size_t)(n + 1), 0);
    for (int i = 0; i < n; i++) {
        lua_geti(L, 2, i + 1);
        names[i] = luaL_checkstring(L, -1);   /* the names table keeps it */
        lua_geti(L, 3, i + 1);
        ts[i] = ctL_totensor(L, -1);
        if (!ts[i]) return luaL_argerror(L, 3, lua_pushfstring(L, "item %d is not a tensor", i + 1));
        lua_pop(L, 2);
    }
    const char **keys, **vals;
    int nmeta = ctL_checkmeta(L, 4, &keys, &vals);
    ct_error err;
    int rc = ct_checkpoint_save(path, names, ts, n, keys, vals, nmeta, &err);
    if (rc != CT_OK) return ctL_raise(L, &err, rc);
    return 0;
}

/* load(path) -> names, tensors, meta */
static int nn_load(lua_State *L)
{
    ct_error err;
    ct_checkpoint *ck = ct_checkpoint_load(luaL_checkstring(L, 1), &err);
    if (!ck) return ctL_raise(L, &err, CT_EFORMAT);
    lua_createtable(L, ck->ntensors, 0);
    lua_createtable(L, ck->ntensors, 0);
    for (int i = 0; i < ck->ntensors; i++) {
        lua_pushstring(L, ck->tensors[i].name);
        lua_rawseti(L, -3, i + 1);
        ct_tensor *t = ck->tensors[i].t;
        ck->tensors[i].t = NULL;   /* Lua owns it now */
        ctL_pushtensor(L, t, &err);
        lua_rawseti(L, -2, i + 1);
    }
    ctL_pushmeta(L, ck);
    ct_checkpoint_free(ck);
    return 3;
}

static int nn_release_workspace(lua_State *L)
{
    (void)L;
    ct_nn_workspace_release();
    return 0;
}

static int nn_profile(lua_State *L)
{
    if (!lua_isnoneornil(L, 1)) {
        ct_nn_profile_enable(lua_toboolean(L, 1));
        return 0;
    }
#define PROF(type, field) CTL_FIELD(ct_nn_prof, type, field)
    static const ctL_Field fields[] = {
        PROF(CTL_F_STRING, kind), PROF(CTL_F_DOUBLE, seconds), PROF(CTL_F_DOUBLE, flops),
        PROF(CTL_F_LONG, calls), PROF(CTL_F_DOUBLE, work), {NULL, 0, 0}
    };
    const ct_nn_prof *p;
    int n = ct_nn_profile(&p);
    ctL_pushrecords(L, p, (size_t)n, sizeof *p, fields);
    return 1;
}

static int nn_sgemm_gflops(lua_State *L)
{
    int n = (int)luaL_optinteger(L, 1, 2048), reps = (int)luaL_optinteger(L, 2, 3);
    luaL_argcheck(L, n >= 1 && n <= 16384, 1, "size out of range 1..16384");
    ct_error err;
    double gf = ct_nn_sgemm_gflops(n, reps, &err);
    if (gf < 0) return ctL_raise(L, &err, CT_ENOMEM);
    lua_pushnumber(L, gf);
    return 1;
}

static int nn_winograd(lua_State *L)
{
    lua_pushboolean(L, ct_conv_winograd(lua_isnoneornil(L, 1) ? -1 : lua_toboolean(L, 1)));
    return 1;
}

static const ctL_Reg nn_funcs[] = {
    {"linear", nn_linear, "linear(in, out, [{bias=true, rng=}]) -> Layer. y = x Wᵀ + b on N×in."},
    {"conv2d", nn_conv2d, "conv2d(cin, cout, k, [{stride=1, padding=0, bias=true, rng=}]) -> Layer. "
                          "2-D convolution on N×C×H×W; k, stride, padding are numbers or {h, w}."},
    {"conv3d", nn_conv3d, "conv3d(cin, cout, k, [opts]) -> Layer. 3-D convolution on N×C×D×H×W; "
                          "k, stride, padding are numbers or {d, h, w}."},
    {"convtranspose2d", nn_convtranspose2d, "convtranspose2d(cin, cout, k, [{stride, padding, "
                                            "output_padding, bias, rng}]) -> Layer. Transposed 2-D convolution."},
    {"convtranspose3d", nn_convtranspose3d, "convtranspose3d(cin, cout, k, [opts]) -> Layer. "
                                            "Transposed 3-D convolution."},
    {"batchnorm", nn_batchnorm, "batchnorm(c, [{eps=1e-5, momentum=0.1}]) -> Layer. Batch "
                                "normalisation per channel; layer:train(false) uses running statistics."},
    {"groupnorm", nn_groupnorm, "groupnorm(groups, c, [{eps=1e-5}]) -> Layer. Group normalisation."},
    {"groupnorm_silu", nn_groupnorm_silu, "groupnorm_silu(groups, c, [{eps=1e-5}]) -> Layer. "
     "silu(groupnorm(x + a)) in one pass: forward(x, [a]) with a an N×C shift; backward(g) -> gx, "
     "and ga when forward had a."},
    {"layernorm", nn_layernorm, "layernorm(shape, [{eps=1e-5}]) -> Layer. Normalisation over all "
                                "dimensions but the first, which must equal shape (a table or a count)."},
    {"relu", nn_relu, "relu() -> Layer. max(x, 0)."},
    {"leaky_relu", nn_leaky_relu, "leaky_relu([slope=0.01]) -> Layer. x, or slope·x below 0."},
    {"silu", nn_silu, "silu() -> Layer. x·sigmoid(x)."},
    {"sigmoid", nn_sigmoid, "sigmoid() -> Layer. 1/(1+e^-x)."},
    {"tanh", nn_tanh, "tanh() -> Layer. tanh(x)."},
    {"upsample", nn_upsample, "upsample([factor=2]) -> Layer. Nearest-neighbour upsampling of "
                              "the spatial dimensions."},
    {"attention", nn_attention, "attention(c, [{rng=}]) -> Layer. Single-head self-attention over "
                                "spatial positions (qkv and output projections, no norm or residual)."},
    {"time_embedding", nn_time_embedding, "time_embedding(dim, [{max_period=10000}]) -> Layer. "
                                          "Sinusoidal embedding of N timesteps into N×dim."},
    {"mse", nn_mse, "mse(pred, target) -> loss, grad. Mean squared error and its gradient."},
    {"bce_logits", nn_bce_logits, "bce_logits(logits, target) -> loss, grad. Binary cross-entropy "
                                  "on logits (stable) and its gradient."},
    {"wasserstein", nn_wasserstein, "wasserstein(scores, [sign=1]) -> loss, grad. sign·mean(scores) "
                                    "and its gradient (sign -1 for real samples)."},
    {"flatten", nn_flatten, "flatten({layers}) -> w, g. Move the layers' parameters into one flat "
                            "buffer of values and one of gradients; the layers then use views of them."},
    {"adam_state", nn_adam_state, "adam_state(n, [{lr, beta1, beta2, eps, weight_decay, decoupled}]) "
                                  "-> state. Adam moments for n flat parameters."},
    {"clip_grad_norm", nn_clip_grad_norm, "clip_grad_norm(g, max) -> norm. Scale g to L2 norm at "
                                          "most max; return the norm before."},
    {"ema_update", nn_ema_update, "ema_update(ema, w, decay) -> nil. ema = decay·ema + (1-decay)·w."},
    {"save", nn_save, "save(path, names, tensors, meta) -> nil. Write a safetensors file with "
                      "string metadata, through a temporary file."},
    {"load", nn_load, "load(path) -> names, tensors, meta. Read a safetensors file (F32)."},
    {"release_workspace", nn_release_workspace, "release_workspace() -> nil. Free the shared "
                                                "convolution workspace."},
    {"profile", nn_profile, "profile([on]) -> list | nil. With an argument, turn layer timing on "
                            "(clearing it) or off; without, the entries {kind, seconds, flops, calls, work} "
                            "(flops of the direct algorithm; work, of the GEMMs actually run)."},
    {"sgemm_gflops", nn_sgemm_gflops, "sgemm_gflops([n=2048, reps=3]) -> number. cblas_sgemm's "
                                      "speed on n×n matrices (best of reps), in GFLOP/s."},
    {"winograd", nn_winograd, "winograd([on]) -> boolean. Whether 3×3 stride-1 2-D convolutions "
                              "use Winograd F(4×4, 3×3) (default true) or im2col + sgemm; with an "
                              "argument, set it and return the previous setting."},
    {NULL, NULL, NULL}
};

/* The workspace goes when the Lua state closes, so leak checkers see none. */
static int workspace_gc(lua_State *L)
{
    return nn_release_workspace(L);
}

int luaopen_crystens_nn_core(lua_State *L)
{
    ctL_newclass(L, "crystens.NnWorkspace", NULL, workspace_gc, NULL);
    ctL_newudata(L, 1, 0, "crystens.NnWorkspace");
    lua_setfield(L, LUA_REGISTRYINDEX, "crystens.nn_workspace");
    ctL_newclass(L, CTL_LAYER, layer_methods, l_gc, layer_meta);
    ctL_newclass(L, CTL_ADAM, adam_methods, a_gc, NULL);
    ctL_newlib(L, nn_funcs, "crystens.nn_core: C layers with forward/backward, losses, Adam on "
               "flat buffers and safetensors files; composed into models by crystens.nn.");
    ctL_nn_device_open(L, -1);
    return 1;
}
