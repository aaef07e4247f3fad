/*
 * repl.h - the interactive loop of the crystens program and what it shares
 * with main.c.
 *
 * main.c owns the Lua state and runs chunks (run_chunk: with a traceback
 * handler and Ctrl-C armed); repl.c reads chunks with GNU Readline, decides
 * like lua.c when a chunk is incomplete, prints results, keeps history and
 * completes names (repl_complete.c).
 */
#ifndef REPL_H
#define REPL_H

#include <lua.h>

/* Call the function below narg arguments on the stack, with a traceback
   message handler and SIGINT turned into the error "interrupted!". */
int run_chunk(lua_State *L, int narg, int nres);

/* Print the error message on top of the stack (if status is an error) to
   stderr, prefixed with the program name; pop it.  Return status. */
int report_error(lua_State *L, int status);

/* Run the read-eval-print loop until end of input; return the exit status. */
int repl_run(lua_State *L);

/* Install tab completion of Lua names and quoted file names for L. */
void repl_complete_init(lua_State *L);

#endif
