/*
 * ct_rng.h - the seeded random number generator behind every random draw.
 *
 * xoshiro256** (Blackman & Vigna): 256 bits of state, fast, and good enough
 * for initialising weights, drawing noise and shuffling batches.  The same
 * seed gives the same stream on every machine, and the state can be saved as
 * a string (in a checkpoint) and restored, so a resumed run draws what the
 * uninterrupted run would have drawn.
 *
 *     ct_rng r;
 *     ct_rng_seed(&r, 42);
 *     float u = ct_rng_uniform(&r);            // [0, 1)
 *     ct_rng_fill_normal(&r, buf, n, 0, 1);   // n draws of N(0, 1)
 *     char s[CT_RNG_STATE_LEN];
 *     ct_rng_state_str(&r, s);                 // "xoshiro256:..."
 *
 * Ownership: a ct_rng is a plain value the caller owns; nothing is allocated.
 */
#ifndef CT_RNG_H
#define CT_RNG_H

#include <stddef.h>
#include <stdint.h>

#include "ct_common.h"

typedef struct {
    uint64_t s[4];
} ct_rng;

/* Room for the state string, its NUL included. */
#define CT_RNG_STATE_LEN 80

/* Seed r from a 64-bit seed (expanded with splitmix64). */
void ct_rng_seed(ct_rng *r, uint64_t seed);

/* Return the next 64 random bits. */
uint64_t ct_rng_next(ct_rng *r);

/* Return a uniform float in [0, 1). */
float ct_rng_uniform(ct_rng *r);

/* Return a uniform integer in [0, n) without modulo bias (n > 0). */
uint64_t ct_rng_below(ct_rng *r, uint64_t n);

/* Return a standard normal draw (Box-Muller on two fresh uniforms). */
double ct_rng_normal(ct_rng *r);

/* Fill buf with n uniform draws in [lo, hi). */
void ct_rng_fill_uniform(ct_rng *r, float *buf, size_t n, float lo, float hi);

/* Fill buf with n normal draws of the given mean and standard deviation. */
void ct_rng_fill_normal(ct_rng *r, float *buf, size_t n, float mean, float std);

/* Write r's state as "xoshiro256:" and 64 hex digits into buf. */
void ct_rng_state_str(const ct_rng *r, char buf[CT_RNG_STATE_LEN]);

/* Restore r from a string written by ct_rng_state_str. */
int ct_rng_set_state_str(ct_rng *r, const char *s, ct_error *err);

#endif
