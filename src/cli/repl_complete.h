/*
 * repl_complete.h - tab completion in the REPL (repl_complete.c): Lua
 * names (globals, fields after '.', methods after ':', no metamethod ever
 * called) and, inside a string literal, file names.
 */
#ifndef REPL_COMPLETE_H
#define REPL_COMPLETE_H

#include <lua.h>

/* Install tab completion of Lua names and quoted file names for L. */
void repl_complete_init(lua_State *L);

#endif
