/* lua_modules.h - registering the C modules of crystens with package.preload. */
#ifndef LUA_MODULES_H
#define LUA_MODULES_H

#include <lua.h>

/* Add every crystens C module to package.preload. */
void ctL_preload(lua_State *L);

#endif
