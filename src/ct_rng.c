/* ct_rng.c - xoshiro256** with splitmix64 seeding (see ct_rng.h). */
#include "ct_rng.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void ct_rng_seed(ct_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t ct_rng_next(ct_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* The top 24 bits make every float in [0, 1) a multiple of 2^-24: exact. */
float ct_rng_uniform(ct_rng *r)
{
    return (float)(ct_rng_next(r) >> 40) * 0x1.0p-24f;
}

/* A uniform double in (0, 1]: safe to take the logarithm of. */
static double uniform_open0(ct_rng *r)
{
    return ((double)(ct_rng_next(r) >> 11) + 1.0) * 0x1.0p-53;
}

uint64_t ct_rng_below(ct_rng *r, uint64_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;   /* reject the partial top slice */
    uint64_t x;
    do x = ct_rng_next(r); while (x >= limit);
    return x % n;
}

double ct_rng_normal(ct_rng *r)
{
    double u = uniform_open0(r), v = uniform_open0(r);
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

void ct_rng_fill_uniform(ct_rng *r, float *buf, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++) buf[i] = lo + (hi - lo) * ct_rng_uniform(r);
}

/* Both Box-Muller outputs are used: half the logarithms and square roots. */
void ct_rng_fill_normal(ct_rng *r, float *buf, size_t n, float mean, float std)
{
    size_t i = 0;
    for (; i + 1 < n; i += 2) {
        double u = uniform_open0(r), v = uniform_open0(r);
        double rad = sqrt(-2.0 * log(u));
        buf[i] = mean + std * (float)(rad * cos(2.0 * M_PI * v));
        buf[i + 1] = mean + std * (float)(rad * sin(2.0 * M_PI * v));
    }
    if (i < n) buf[i] = mean + std * (float)ct_rng_normal(r);
}

void ct_rng_state_str(const ct_rng *r, char buf[CT_RNG_STATE_LEN])
{
    snprintf(buf, CT_RNG_STATE_LEN, "xoshiro256:%016llx%016llx%016llx%016llx",
             (unsigned long long)r->s[0], (unsigned long long)r->s[1],
             (unsigned long long)r->s[2], (unsigned long long)r->s[3]);
}

int ct_rng_set_state_str(ct_rng *r, const char *s, ct_error *err)
{
    static const char prefix[] = "xoshiro256:";
    size_t plen = sizeof prefix - 1;
    if (strncmp(s, prefix, plen) != 0 || strlen(s) != plen + 64)
        return ct_fail(err, CT_EFORMAT, "RNG state '%.40s' is not 'xoshiro256:' and 64 hex digits", s);
    uint64_t v[4] = {0, 0, 0, 0};
    for (int i = 0; i < 64; i++) {
        char c = s[plen + (size_t)i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return ct_fail(err, CT_EFORMAT, "RNG state has a bad hex digit '%c'", c);
        v[i / 16] = v[i / 16] << 4 | (uint64_t)d;
    }
    if (!(v[0] | v[1] | v[2] | v[3]))
        return ct_fail(err, CT_EFORMAT, "RNG state of all zeros is not valid");
    memcpy(r->s, v, sizeof v);
    return CT_OK;
}
