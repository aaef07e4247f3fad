/*
 * lua_structure.h - what the crystal bindings (lua_structure.c, lua_cif.c,
 * lua_dataset.c, lua_crystens.c) share: Structure and Dataset userdata.
 *
 * Both are boxes (lua_ct.h).  A Structure owns one ct_structure and has one
 * user value: a table of per-row properties when it came from a data set,
 * else nil.  A Dataset owns one ct_dataset.  ds[i] hands out a copy, so a
 * Structure never dangles when its data set is collected.
 */
#ifndef LUA_STRUCTURE_H
#define LUA_STRUCTURE_H

#include "ct_dataset.h"
#include "ct_structure.h"
#include "lua_ct.h"

#define CTL_STRUCTURE "crystens.Structure"
#define CTL_DATASET "crystens.Dataset"

/* Create the Structure class if it does not exist yet. */
void ctL_structure_register(lua_State *L);

/* Push s as a Structure, which takes ownership (NULL raises err). */
void ctL_pushstructure(lua_State *L, ct_structure *s, const ct_error *err);

/* Return the structure at idx, or raise a "bad argument" error. */
ct_structure *ctL_checkstructure(lua_State *L, int idx);

/* Return the structure at idx, or NULL if it is not one. */
ct_structure *ctL_tostructure(lua_State *L, int idx);

/* Return the data set at idx, or NULL if it is not one. */
ct_dataset *ctL_todataset(lua_State *L, int idx);

/* The one structure-list gatherer: gather the structures of an array of
   Structures or a Dataset at idx (and, when single is not NULL, of one
   Structure, telling in *single whether it was one) into an array that lives
   on the Lua stack (pushed; borrowed pointers, n of them).  With holes, an
   array may hold false where a reconstruction failed: its slot is NULL.
   Anything else raises "bad argument" naming the offending item. */
ct_structure **ctL_checkstructures(lua_State *L, int idx, size_t *n, int *single, int holes);

#endif
