/*
 * repl.h - the interactive loop of the crystens program (repl.c).
 *
 * repl.c reads chunks with GNU Readline, decides like lua.c when a chunk is
 * incomplete, runs them through run.h, prints results, keeps history and
 * completes names (repl_complete.h).
 */
#ifndef REPL_H
#define REPL_H

#include <lua.h>

/* Run the read-eval-print loop until end of input; return the exit status. */
int repl_run(lua_State *L);

#endif
