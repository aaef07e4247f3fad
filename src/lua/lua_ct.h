/*
 * lua_ct.h - the binding toolkit: what every Lua binding (src/lua/lua_*.c)
 * uses to check its arguments and options and to raise the core's errors.
 * It is to crystens what lauxlib is to Lua; lua_ct.c implements it.
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
 *
 * Options tables.  A function that takes an options table declares the keys
 * it accepts and reads each through one reader of the ctL_opt_* family:
 *
 *     static const char *const gn_keys[] = {"eps", NULL};
 *     ctL_Opts o;
 *     ctL_optoptions(L, &o, 3, "ct.nn.groupnorm", gn_keys);   // nil or a table
 *     float eps = (float)ctL_opt_number(&o, "eps", 1e-5);
 *
 * Every mistake raises an error in Lua's own format, naming the option and
 * the function (the name given, so the message is the same whatever name the
 * user reached the function by):
 *
 *     bad argument #3 to 'ct.nn.groupnorm' (options table expected, got string)
 *     bad option 'esp' to 'ct.nn.groupnorm' (unknown option; did you mean 'eps'?)
 *     bad option 'eps' to 'ct.nn.groupnorm' (number expected, got string)
 *
 * Readers are strict: a number is not a string, "no" is not a boolean, 2.5 is
 * not an integer.  An absent key (or nil) gives the default.  Reading a key
 * the list does not declare is a bug in the binding and raises an error.
 * lua/crystens/options.lua gives Lua-level functions the same checks and
 * messages.
 *
 * Core errors.  A core call that fails returns a ct_status and fills a
 * ct_error; ctL_raise (and ctL_raisef, ctL_argraise) is the one way to turn
 * it into a Lua error.  Each keeps what the status says: CT_EINTR always
 * raises exactly "interrupted!" (what the REPL and ct.interrupt recognise as
 * Ctrl-C), whatever the context, and a CT_ENOMEM message always says "out of
 * memory" (or "too large"); never raise err.msg with luaL_error.
 *
 * Classes and boxes.  A userdata class is made once, with its methods and the
 * one function that serves __gc and __close; most classes are boxes, a
 * userdata owning one C object, NULL once freed:
 *
 *     static int l_gc(lua_State *L) { ct_layer_free(ctL_takebox(L, 1, CTL_LAYER)); return 0; }
 *     ctL_newclass(L, CTL_LAYER, layer_methods, l_gc, layer_meta);
 *     *ctL_newbox(L, CTL_LAYER, 0) = layer;                  // push: valid from birth
 *     ct_layer *l = ctL_checkbox(L, 1, CTL_LAYER, "layer");  // or "layer has been freed"
 *
 * Results.  A C struct becomes a table through a list of its fields
 * (ctL_pushfields), an array of them a list of tables (ctL_pushrecords).
 *
 * Structure lists.  ctL_checkstructures gathers a Structure, an array of
 * Structures or a Dataset into one C array (lua_structure.h).
 */
#ifndef LUA_CT_H
#define LUA_CT_H

#include <stddef.h>

#include <lauxlib.h>
#include <lua.h>

#include "ct_checkpoint.h"
#include "ct_common.h"
#include "ct_nn.h"
#include "ct_rng.h"
#include "ct_tensor.h"

typedef struct {
    const char *name;
    lua_CFunction func;
    const char *doc;
} ctL_Reg;

/* Metatable name of tensor userdata. */
#define CTL_TENSOR "crystens.Tensor"

/* Metatable name of random generator userdata (lua_rng.c). */
#define CTL_RNG "crystens.Rng"

/* Metatable names of the boxes of layers and Adam states (lua_nn.c). */
#define CTL_LAYER "crystens.Layer"
#define CTL_ADAM "crystens.Adam"

/* Metatable name of the box of a SMACT table (lua_metrics.c). */
#define CTL_SMACT "crystens.SmactTable"

/* Return the Rng at idx, or the shared default generator when idx is 0 or nil. */
ct_rng *ctL_optrng(lua_State *L, int idx);

/* Create the Rng class and the default generator; add tensor.rng, seed and
   default_rng to the module table at lib (lua_rng.c). */
void ctL_rng_open(lua_State *L, int lib);

/* Add the arithmetic of lua_tensor_ops.c to the tensor class and its
   constructors to the module table at lib. */
void ctL_tensor_ops_open(lua_State *L, int lib);

/* Push a new table holding l's functions; record their docs and moddoc. */
void ctL_newlib(lua_State *L, const ctL_Reg *l, const char *moddoc);

/* Set l's functions into the table on top of the stack, recording their docs. */
void ctL_setfuncs(lua_State *L, const ctL_Reg *l);

/* As ctL_setfuncs, into the table at idx (a module adding to another's
   table, as lua_rng.c to crystens.tensor's). */
void ctL_addfuncs(lua_State *L, int idx, const ctL_Reg *l);

/* Record doc as the documentation of the value at index idx. */
void ctL_setdoc(lua_State *L, int idx, const char *doc);

/* ---- Classes ------------------------------------------------------------------ */

/* Create the metatable tname unless it exists; the stack is left as it was.
   Its methods (docs recorded) are in a table of their own, mt.methods,
   which is also __index unless metamethods give an __index function (one
   that serves fields too, and finds methods with ctL_getmethod); gc, when
   not NULL, serves both __gc and __close (a closed object is freed at once
   and raises an error if used); metamethods may be NULL. */
void ctL_newclass(lua_State *L, const char *tname, const ctL_Reg *methods, lua_CFunction gc,
                  const luaL_Reg *metamethods);

/* Add methods to the existing class tname (a module extending another's
   class, as t:save_png joins the tensors). */
void ctL_addmethods(lua_State *L, const char *tname, const ctL_Reg *methods);

/* For an __index function: push the method of the class of the userdata at
   obj that the key at key names; return its type (LUA_TNIL: none). */
int ctL_getmethod(lua_State *L, int obj, int key);

/* Push a userdata of class tname (ctL_newclass) of size bytes, all zero,
   with nuv user values; return it.  It is valid from birth: its __gc has
   nothing to free until the caller fills it. */
void *ctL_newudata(lua_State *L, size_t size, int nuv, const char *tname);

/* Boxes.  Most classes are a box: a userdata holding one pointer to the C
   object it owns, NULL once __gc or __close has freed it.  ctL_newbox
   pushes an empty box (NULL: valid from birth) and returns its slot, for
   the caller to store the object in once made. */
void **ctL_newbox(lua_State *L, const char *tname, int nuv);

/* Push a new box of class tname (nuv user values) owning obj, which a core
   call made; NULL raises as ctL_raisenone. */
void ctL_pushbox(lua_State *L, const char *tname, int nuv, void *obj, const ct_error *err,
                 const char *what);

/* The object in the box of class tname at idx, or NULL if idx holds no such
   box or its object was freed. */
void *ctL_tobox(lua_State *L, int idx, const char *tname);

/* The object in the box of class tname at idx; another value raises Lua's
   "bad argument" type error, a freed box "bad argument #idx to 'f' (<what>
   has been freed)". */
void *ctL_checkbox(lua_State *L, int idx, const char *tname, const char *what);

/* For __gc and __close: take the object out of the box of class tname at
   idx (NULL if it was taken already), so that it is freed once. */
void *ctL_takebox(lua_State *L, int idx, const char *tname);

/* Push a box of class tname holding load(path, err) for the path at
   argument 1 (a table of data read from a file or folder); raise the
   load's error (as CT_EIO) when it fails. */
void ctL_loadbox(lua_State *L, const char *tname, void *(*load)(const char *path, ct_error *err));

/* ---- Core errors ---------------------------------------------------------- */

/* Raise err, which a core call failing with status filled, as a Lua error:
   "interrupted!" for CT_EINTR (err may then be NULL), else err's message
   (for CT_ENOMEM prefixed "out of memory: " unless it says so).  Never
   returns: the int is for `return ctL_raise(...)`. */
int ctL_raise(lua_State *L, const ct_error *err, int status);

/* As ctL_raise, err's message prefixed with a context in lua_pushfstring's
   format ("tensor %d: "); Ctrl-C still raises exactly "interrupted!". */
int ctL_raisef(lua_State *L, const ct_error *err, int status, const char *fmt, ...);

/* As ctL_raise, but a bad value (CT_EINVAL, CT_EFORMAT) is blamed on argument
   arg in Lua's "bad argument #arg to 'f' (message)" form. */
int ctL_argraise(lua_State *L, int arg, const ct_error *err, int status);

/* Raise the error of a core call that made no object: err, "out of memory
   for a <what>" where it filled none, "interrupted!" after Ctrl-C. */
int ctL_raisenone(lua_State *L, const ct_error *err, const char *what);

/* Return argument 1 (a method's self, a path written) from a function whose
   core call gave status: raise err unless it is CT_OK, blamed on argument
   arg as ctL_argraise does (0: as ctL_raise).  Use as `return
   ctL_returnself(L, rc, &err, 0)`. */
int ctL_returnself(lua_State *L, int status, const ct_error *err, int arg);

/* ---- Options tables ---------------------------------------------------------- */

/* An options table being read: made by ctL_optoptions or ctL_checkoptions. */
typedef struct {
    lua_State *L;
    int idx;                  /* absolute index of the table; 0 when none was given */
    int arg;                  /* its argument number as the caller counts (self left out) */
    const char *fname;        /* the function, as messages name it */
    const char *const *keys;  /* the keys it accepts, NULL-terminated */
} ctL_Opts;

/* Begin reading the options table at idx of function fname, which accepts
   keys (NULL-terminated): nil or absent means all defaults; anything but a
   table raises "options table expected"; a key not in keys raises "unknown
   option" with a "did you mean" hint when one is close.  Argument numbers
   in messages leave out a method call's self, as luaL_argerror does. */
void ctL_optoptions(lua_State *L, ctL_Opts *o, int idx, const char *fname,
                    const char *const keys[]);

/* As ctL_optoptions, but the table must be given. */
void ctL_checkoptions(lua_State *L, ctL_Opts *o, int idx, const char *fname,
                      const char *const keys[]);

/* Whether option key was given (not nil). */
int ctL_opt_given(ctL_Opts *o, const char *key);

/* Option key as a number (an integer is one); def when absent. */
lua_Number ctL_opt_number(ctL_Opts *o, const char *key, lua_Number def);

/* Option key as an integer (a float with an exact integer value is one). */
lua_Integer ctL_opt_integer(ctL_Opts *o, const char *key, lua_Integer def);

/* Option key as an integer from lo to hi; def (unchecked) when absent.
   Another value raises "must be an integer from lo to hi". */
lua_Integer ctL_opt_range(ctL_Opts *o, const char *key, lua_Integer def, lua_Integer lo,
                          lua_Integer hi);

/* Option key as a boolean: true or false only. */
int ctL_opt_boolean(ctL_Opts *o, const char *key, int def);

/* Option key as a string (kept alive by the options table). */
const char *ctL_opt_string(ctL_Opts *o, const char *key, const char *def);

/* Option key as one of names (NULL-terminated): return its index, or def's
   when absent; any other string raises, with a hint when one is close. */
int ctL_opt_enum(ctL_Opts *o, const char *key, const char *def, const char *const names[]);

/* Option key as the Rng it holds, or the shared default generator. */
ct_rng *ctL_opt_rng(ctL_Opts *o, const char *key);

/* Push option key's value (nil when absent) and return its type; type is
   LUA_TNONE to accept any, else a value of another type raises. */
int ctL_opt_push(ctL_Opts *o, const char *key, int type);

/* Raise "bad option 'key' to 'fname' (...)" with a message in
   lua_pushfstring's format: for a value of the right type that is out of
   range, or of a type the caller checked ("expected" messages). */
int ctL_opt_error(ctL_Opts *o, const char *key, const char *fmt, ...);

/* Raise "bad option 'key' to 'fname' (<expected> expected, got T)" about
   the value key holds now. */
int ctL_opt_typeerror(ctL_Opts *o, const char *key, const char *expected);

/* Push the name of the type of the value at idx as Lua's messages give it
   (a userdata's __name, e.g. "crystens.Tensor") and return it. */
const char *ctL_typename(lua_State *L, int idx);

/* ---- Arguments ----------------------------------------------------------------- */

/* Set field k of the table on top of the stack to the number (integer) v. */
void ctL_setnumber(lua_State *L, const char *k, lua_Number v);
void ctL_setinteger(lua_State *L, const char *k, lua_Integer v);

/* A C struct's field as a Lua table's: its key, type and offset.  A list of
   them, ended by {NULL}, turns a result struct into a table in one call, so
   each binding lists its fields instead of writing a setter call for each. */
typedef enum {
    CTL_F_DOUBLE, CTL_F_FLOAT,           /* numbers */
    CTL_F_INT, CTL_F_LONG, CTL_F_SIZE,   /* integers: int, long, size_t */
    CTL_F_BOOL,                          /* an int read as true when non-zero */
    CTL_F_STRING                         /* a const char * (NULL: the field is left out) */
} ctL_FieldType;
typedef struct {
    const char *key;
    ctL_FieldType type;
    size_t offset;        /* offsetof(struct, field) */
} ctL_Field;
#define CTL_FIELD(st, type, field) {#field, type, offsetof(st, field)}

/* Set the fields of the struct at base, as fields lists them, in the table
   on top of the stack. */
void ctL_setfields(lua_State *L, const void *base, const ctL_Field *fields);

/* Push an array of the n numbers (integers) at x. */
void ctL_pushnumbers(lua_State *L, const double *x, size_t n);
void ctL_pushints(lua_State *L, const int *x, size_t n);

/* Push a new table of the fields of the struct at base. */
void ctL_pushfields(lua_State *L, const void *base, const ctL_Field *fields);

/* Push a list of n such tables, of the structs at base, size bytes apart
   (an array of them: sizeof its element). */
void ctL_pushrecords(lua_State *L, const void *base, size_t n, size_t size,
                     const ctL_Field *fields);

/* Read the metadata table of a checkpoint at idx, {string = string or
   number} (nil: none), into arrays *keys and *vals pushed on the stack
   with what keeps their strings alive (a number is written as tostring
   writes it); return their count.  Another value raises "bad argument"
   ("metadata must map strings to strings or numbers"). */
int ctL_checkmeta(lua_State *L, int idx, const char ***keys, const char ***vals);

/* Push the metadata of checkpoint ck as a table {key = value}. */
void ctL_pushmeta(lua_State *L, const ct_checkpoint *ck);

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

/* Gather the Layers of the array at idx into an array on the stack (n of
   them); an item that is no live Layer raises "bad argument" naming it. */
ct_layer **ctL_checklayers(lua_State *L, int idx, int *n);

/* Add the device methods (t:to, t:device, like:new_zeros, ...) to the
   tensor class (lua_device.c). */
void ctL_tensor_device_open(lua_State *L);

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

/* Return the size S of the CrysTens tensor t (argument idx): 4×S×S, or a
   batch N×4×S×S (*batch set to 1); else raise "bad argument" naming t's
   shape. */
int ctL_checkcrystens(lua_State *L, int idx, const ct_tensor *t, int *batch);
int luaopen_crystens_progress(lua_State *L);
int luaopen_crystens_picture(lua_State *L);
int luaopen_crystens_file(lua_State *L);
int luaopen_crystens_interrupt(lua_State *L);
int luaopen_crystens_properties_core(lua_State *L);

#endif
