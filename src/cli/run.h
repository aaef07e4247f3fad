/*
 * run.h - running Lua chunks for the crystens program: a traceback message
 * handler, Ctrl-C turned into the error "interrupted!", errors reported on
 * stderr.  main.c (scripts, -e, standard input) and repl.c (what the user
 * types) both run their chunks through here.
 */
#ifndef RUN_H
#define RUN_H

#include <lua.h>

/* Name error reports after progname (argv[0]) and let Ctrl-C reach L: the
   SIGINT handler sets its hook on L.  Call once, before run_chunk. */
void run_init(lua_State *L, const char *progname);

/* Call the function below narg arguments on the stack, with a traceback
   message handler and SIGINT turned into the error "interrupted!". */
int run_chunk(lua_State *L, int narg, int nres);

/* Return non-zero if the last chunk run_chunk ran was ended by Ctrl-C. */
int run_interrupted(void);

/* Print the error message on top of the stack (if status is an error) to
   stderr, prefixed with the program name; pop it.  Return status. */
int report_error(lua_State *L, int status);

#endif
