/*
 * lua_device.c - devices in Lua: t:to("cuda"), t:device(), tensors made on
 * another tensor's device (like:new_zeros(shape), ...), and in
 * crystens.nn_core the list of devices, the GPU precision, its memory, and
 * moving layers and optimizer state between devices.
 *
 * The GPU is reached through the CUDA plugin (nn/ct_backend.h); where it is
 * missing (no CUDA build, no driver, no GPU) the functions that need it
 * raise an error saying which, and everything on the CPU works as before.
 */
#include <string.h>

#include "ct_backend.h"
#include "ct_nn.h"
#include "ct_tensor_ops.h"
#include "lua_ct.h"

#define checktensor(L, i) ctL_checkanytensor(L, i)

/* The device named by the string at idx. */
static int checkdevice(lua_State *L, int idx)
{
    int dev;
    ct_error err;
    if (ct_device_parse(luaL_checkstring(L, idx), &dev, &err) != CT_OK)
        luaL_argerror(L, idx, err.msg);
    return dev;
}

/* The CUDA backend, or a Lua error saying what is missing. */
static const ct_cuda_api *need_cuda(lua_State *L)
{
    ct_error err;
    const ct_cuda_api *cu = ct_cuda(&err);
    if (!cu) luaL_error(L, "no GPU: %s", err.msg);
    return cu;
}

/* ---- Tensor methods ---------------------------------------------------------- */

static int m_to(lua_State *L)
{
    ct_tensor *t = checktensor(L, 1);
    int dev = checkdevice(L, 2);
    if (t->device == dev) {
        lua_settop(L, 1);
        return 1;
    }
    if (dev == CT_DEV_CUDA) need_cuda(L);
    ct_error err;
    ctL_pushtensor(L, ct_tensor_to(t, dev, &err), &err);
    return 1;
}

static int m_device(lua_State *L)
{
    lua_pushstring(L, ct_device_name(checktensor(L, 1)->device));
    return 1;
}

/* like:new_*(shape, ...): a tensor on like's device. */
static ct_tensor *new_like_device(lua_State *L, int zero)
{
    ct_tensor *like = checktensor(L, 1);
    int64_t shape[CT_MAXDIM];
    int nd = ctL_checkshape(L, 2, shape);
    ct_error err;
    ct_tensor *t = zero ? ct_tensor_new_on(like->device, nd, shape, &err)
                        : ct_tensor_empty_on(like->device, nd, shape, &err);
    ctL_pushtensor(L, t, &err);
    return t;
}

static int m_new_zeros(lua_State *L)
{
    new_like_device(L, 1);
    return 1;
}

static int m_new_full(lua_State *L)
{
    float v = (float)luaL_checknumber(L, 3);
    ct_tensor_fill(new_like_device(L, 0), v);
    return 1;
}

/* like:new_randn/new_rand(shape, [rng]): draws of fill (ct_tensor_randn
   or ct_tensor_rand) with parameters 0 and 1. */
static int new_random(lua_State *L, void (*fill)(ct_tensor *t, ct_rng *r, float a, float b))
{
    ct_rng *r = ctL_optrng(L, 3);
    fill(new_like_device(L, 0), r, 0.0f, 1.0f);
    return 1;
}

static int m_new_randn(lua_State *L) { return new_random(L, ct_tensor_randn); }
static int m_new_rand(lua_State *L) { return new_random(L, ct_tensor_rand); }

static const ctL_Reg device_methods[] = {
    {"to", m_to, "t:to(device) -> Tensor. t on device (\"cpu\" or \"cuda\"): t itself if it is "
                 "there, else a copy."},
    {"device", m_device, "t:device() -> string. Where t lives: \"cpu\" or \"cuda\"."},
    {"new_zeros", m_new_zeros, "like:new_zeros(shape) -> Tensor. Zeros on like's device."},
    {"new_full", m_new_full, "like:new_full(shape, v) -> Tensor. A tensor of v on like's device."},
    {"new_randn", m_new_randn, "like:new_randn(shape, [rng]) -> Tensor. N(0, 1) draws on like's "
                               "device (on the GPU a Philox stream keyed by one draw of rng)."},
    {"new_rand", m_new_rand, "like:new_rand(shape, [rng]) -> Tensor. Uniform [0, 1) draws on "
                             "like's device."},
    {NULL, NULL, NULL}
};

void ctL_tensor_device_open(lua_State *L)
{
    ctL_addmethods(L, CTL_TENSOR, device_methods);
}

/* ---- crystens.nn_core: devices, precision, memory, moving models ------------- */

static int nn_devices(lua_State *L)
{
    lua_newtable(L);
    lua_createtable(L, 0, 2);
    lua_pushliteral(L, "cpu");
    lua_setfield(L, -2, "name");
    lua_pushliteral(L, "cpu");
    lua_setfield(L, -2, "device");
    lua_rawseti(L, -2, 1);
    ct_error err;
    const ct_cuda_api *cu = ct_cuda(&err);
    if (!cu) {
        lua_pushstring(L, err.msg);   /* why there is no GPU */
        return 2;
    }
    int n = 0;
    if (cu->device_count(&n, &err) != CT_OK) {
        lua_pushstring(L, err.msg);
        return 2;
    }
    for (int i = 0; i < n; i++) {
        ct_device_info info;
        if (cu->device_info(i, &info, &err) != CT_OK) return luaL_error(L, "%s", err.msg);
        static const ctL_Field fields[] = {
            {"memory", CTL_F_SIZE, offsetof(ct_device_info, total_bytes)},
            {"free", CTL_F_SIZE, offsetof(ct_device_info, free_bytes)},
            CTL_FIELD(ct_device_info, CTL_F_INT, multiprocessors), {NULL, 0, 0}
        };
        ctL_pushfields(L, &info, fields);
        lua_pushstring(L, info.name);
        lua_setfield(L, -2, "name");
        lua_pushfstring(L, i ? "cuda:%d" : "cuda", i);
        lua_setfield(L, -2, "device");
        lua_pushfstring(L, "%d.%d", info.major, info.minor);
        lua_setfield(L, -2, "capability");
        lua_rawseti(L, -2, i + 2);
    }
    return 1;
}

static int nn_precision(lua_State *L)
{
    static const char *const names[] = {"fp32", "tf32", "bf16", NULL};
    if (lua_isnoneornil(L, 1)) {
        const ct_cuda_api *cu = ct_cuda_loaded();
        lua_pushstring(L, names[cu ? (int)cu->precision() : 0]);
        return 1;
    }
    int p = luaL_checkoption(L, 1, NULL, names);
    const ct_cuda_api *cu = need_cuda(L);
    ct_error err;
    if (cu->set_precision((ct_precision)p, &err) != CT_OK) return luaL_error(L, "%s", err.msg);
    lua_pushstring(L, names[p]);
    return 1;
}

static int nn_gpu_memory(lua_State *L)
{
    static const ctL_Field fields[] = {
        CTL_FIELD(ct_device_mem, CTL_F_SIZE, in_use), CTL_FIELD(ct_device_mem, CTL_F_SIZE, peak),
        CTL_FIELD(ct_device_mem, CTL_F_SIZE, cached), {NULL, 0, 0}
    };
    const ct_cuda_api *cu = need_cuda(L);
    ct_device_mem m;
    cu->mem_stats(&m);
    ctL_pushfields(L, &m, fields);
    if (lua_toboolean(L, 1)) cu->mem_reset_peak();
    if (lua_type(L, 1) == LUA_TSTRING && strcmp(lua_tostring(L, 1), "release") == 0)
        cu->mem_release_cache();
    return 1;
}

static int nn_gpu_sync(lua_State *L)
{
    const ct_cuda_api *cu = ct_cuda_loaded();
    ct_error err;
    if (cu && cu->sync(&err) != CT_OK) return luaL_error(L, "%s", err.msg);
    return 0;
}

/* to_device(layers, w, g, device): move the layers' parameters and buffers;
   w and g (the flat buffers, or nil) are updated in place. */
static int nn_to_device(lua_State *L)
{
    int n;
    ct_layer **ls = ctL_checklayers(L, 1, &n);
    int dev = checkdevice(L, 4);
    if (dev == CT_DEV_CUDA) need_cuda(L);
    ct_tensor **w = lua_isnil(L, 2) ? NULL : luaL_checkudata(L, 2, CTL_TENSOR);
    ct_tensor **g = lua_isnil(L, 3) ? NULL : luaL_checkudata(L, 3, CTL_TENSOR);
    ct_error err;
    if (ct_layers_to(ls, n, w, g, dev, &err) != CT_OK) return ctL_raise(L, &err, CT_ENOMEM);
    return 0;
}

/* adam_state:to(device): the moments follow the model. */
static int a_to(lua_State *L)
{
    ct_adam *a = ctL_checkbox(L, 1, CTL_ADAM, "optimizer");
    int dev = checkdevice(L, 2);
    if (dev == CT_DEV_CUDA) need_cuda(L);
    ct_error err;
    return ctL_returnself(L, ct_adam_to(a, dev, &err), &err, 0);
}

static const ctL_Reg nn_device_funcs[] = {
    {"devices", nn_devices, "devices() -> list, [why]. The devices: {name, device} for the CPU, "
                            "then each GPU {name, device=\"cuda\", memory, free (bytes), "
                            "capability, multiprocessors}; when there is no GPU, the second "
                            "value says why (no CUDA build, no driver, no device)."},
    {"precision", nn_precision, "precision([\"fp32\"|\"tf32\"|\"bf16\"]) -> string. The GEMM "
                                "precision on the GPU (fp32 default; tf32 tensor cores; bf16 "
                                "inputs with fp32 accumulation and fp32 weights)."},
    {"gpu_memory", nn_gpu_memory, "gpu_memory([reset]) -> {in_use, peak, cached}. Bytes of GPU "
                                  "memory crystens holds; reset=true restarts the peak, "
                                  "\"release\" gives the cache back to the driver."},
    {"gpu_sync", nn_gpu_sync, "gpu_sync() -> nil. Wait for the GPU's queued work (for timing); "
                              "raises its error if one happened."},
    {"to_device", nn_to_device, "to_device(layers, w, g, device) -> nil. Move layers' parameters "
                                "and buffers; the flat buffers w and g are moved in place."},
    {NULL, NULL, NULL}
};

static const ctL_Reg adam_device_methods[] = {
    {"to", a_to, "state:to(device) -> state. Move the moments with the model."},
    {NULL, NULL, NULL}
};

void ctL_nn_device_open(lua_State *L, int lib)
{
    ctL_addfuncs(L, lib, nn_device_funcs);
    ctL_addmethods(L, CTL_ADAM, adam_device_methods);
}
