/* Seeded random numbers: xoshiro256** (Blackman and Vigna, 2018), seeded through splitmix64
 * so that any 64-bit seed gives a well-mixed state. Same seed, same stream, everywhere. */
#include <math.h>

#include "thinice/core.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void ti_rng_seed(ti_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

void ti_rng_split(ti_rng *child, const ti_rng *parent, uint64_t key)
{
    uint64_t x = parent->s[0] ^ (parent->s[1] << 1) ^ (parent->s[2] >> 3) ^ parent->s[3];
    x ^= splitmix64(&key);
    ti_rng_seed(child, x);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t ti_rng_u64(ti_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double ti_rng_double(ti_rng *r)
{
    return (double)(ti_rng_u64(r) >> 11) * 0x1.0p-53;
}

float ti_rng_uniform(ti_rng *r, float lo, float hi)
{
    /* 24 random bits: every float in [0,1) on the grid 2^-24, never 1.0 after rounding */
    float u = (float)(ti_rng_u64(r) >> 40) * 0x1.0p-24f;
    return lo + (hi - lo) * u;
}

float ti_rng_normal(ti_rng *r)
{
    /* Box-Muller; 1 - u keeps the log argument in (0, 1] */
    double u1 = 1.0 - ti_rng_double(r), u2 = ti_rng_double(r);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

uint64_t ti_rng_below(ti_rng *r, uint64_t n)
{
    /* rejection sampling removes the modulo bias */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = ti_rng_u64(r);
    while (x >= limit);
    return x % n;
}

void ti_rng_shuffle(ti_rng *r, int *a, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)ti_rng_below(r, i);
        int t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}
