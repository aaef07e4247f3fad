/*
 * lua_ct.h - what the Lua bindings (src/lua_*.c) share.
 *
 * Bindings check arguments, call the C core, and turn a ct_error into a Lua
 * error; they do no maths.  Each exported function is declared in a ctL_Reg
 * array with its one-paragraph documentation beside it, so help(x) in the REPL
 * prints what the code that registers x says.
 *
 *     static const ctL_Reg tensor_funcs[] = {
 *         {"load", t_load, "load(path) -> Tensor. Read a NumPy .npy file ..."},
 *         {NULL, NULL, NULL}
 *     };
 *     int luaopen_crystens_tensor(lua_State *L) {
 *         ctL_newlib(L, tensor_funcs, "Dense float32 tensors ...");
 *         return 1;
 *     }
 */
#ifndef LUA_CT_H
#define LUA_CT_H

#include <lauxlib.h>
#include <lua.h>

#include "ct_common.h"
#include "ct_rng.h"
#include "ct_tensor.h"

typedef struct {
    const char *name;
    lua_CFunction func;
    const char *doc;
} ctL_Reg;

/* Metatable name of tensor userdata. */
#define CTL_TENSOR "crystens.Tensor"

/* Metatable name of random generator userdata (lua_tensor_ops.c). */
#define CTL_RNG "crystens.Rng"

/* Return the Rng at idx, or the shared default generator when idx is 0 or nil. */
ct_rng *ctL_optrng(lua_State *L, int idx);

/* Add the arithmetic of lua_tensor_ops.c to the tensor metatable, its
   methods table and the module table at the given indices. */
void ctL_tensor_ops_open(lua_State *L, int mt, int methods, int lib);

/* Push a new table holding l's functions; record their docs and moddoc. */
void ctL_newlib(lua_State *L, const ctL_Reg *l, const char *moddoc);

/* Set l's functions into the table on top of the stack, recording their docs. */
void ctL_setfuncs(lua_State *L, const ctL_Reg *l);

/* Record doc as the documentation of the value at index idx. */
void ctL_setdoc(lua_State *L, int idx, const char *doc);

/* Create metatable tname with methods (reached through __index) and
   metamethods; leave it on the stack.  Docs of methods are recorded. */
void ctL_newclass(lua_State *L, const char *tname, const ctL_Reg *methods,
                  const luaL_Reg *metamethods);

/* Raise err as a Lua error; ct_interrupted failures raise "interrupted!". */
int ctL_raise(lua_State *L, const ct_error *err, int status);

/* Return the CPU tensor at idx, or raise a "bad argument" error (also for a
   tensor on the GPU: the functions taking these read its bytes). */
ct_tensor *ctL_checktensor(lua_State *L, int idx);

/* Return the CPU tensor at idx, or NULL if it is not one (a GPU tensor
   raises the error of ctL_checktensor). */
ct_tensor *ctL_totensor(lua_State *L, int idx);

/* ctL_checktensor and ctL_totensor for functions that take tensors on
   any device (tensor ops, layers, losses, optimizers). */
ct_tensor *ctL_checkanytensor(lua_State *L, int idx);
ct_tensor *ctL_toanytensor(lua_State *L, int idx);

/* Add the device methods (t:to, t:device, like:new_zeros, ...) to the
   tensor methods table at idx (lua_device.c). */
void ctL_tensor_device_open(lua_State *L, int methods);

/* Add devices(), precision(), gpu_memory(), gpu_sync(), to_device() to the
   crystens.nn_core table at lib, and state:to() to the Adam class. */
void ctL_nn_device_open(lua_State *L, int lib);

/* Push t as a Lua tensor, which takes ownership of it (NULL raises err). */
void ctL_pushtensor(lua_State *L, ct_tensor *t, const ct_error *err);

/* Read a shape from a table of sizes or from integer arguments starting at
   idx; return ndim. */
int ctL_checkshape(lua_State *L, int idx, int64_t *shape);

/* Open the C modules: each is a lua_CFunction for package.preload. */
int luaopen_crystens_doc(lua_State *L);
int luaopen_crystens_tensor(lua_State *L);
int luaopen_crystens_metrics_core(lua_State *L);
int luaopen_crystens_cdvae_core(lua_State *L);
int luaopen_crystens_kmeans(lua_State *L);
int luaopen_crystens_fingerprint(lua_State *L);
int luaopen_crystens_nn_core(lua_State *L);
int luaopen_crystens_structure(lua_State *L);
int luaopen_crystens_cif(lua_State *L);
int luaopen_crystens_dataset(lua_State *L);
int luaopen_crystens_crystens(lua_State *L);
int luaopen_crystens_paper_core(lua_State *L);

/* crystens.scaler(tensor | state) (lua_scale.c), part of crystens.crystens. */
int ctL_scaler(lua_State *L);

/* crystens.decode of generated tensors (lua_recon.c), part of crystens.crystens. */
int ctL_recon_decode(lua_State *L);
int luaopen_crystens_progress(lua_State *L);
int luaopen_crystens_picture(lua_State *L);
int luaopen_crystens_file(lua_State *L);
int luaopen_crystens_interrupt(lua_State *L);
int luaopen_crystens_properties_core(lua_State *L);

#endif
