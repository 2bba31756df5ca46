/*
 * UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, version 7, 12 bits of
 * sub-millisecond counter, variant 10, 62 random bits. Ids generated in one
 * process are strictly increasing (method 1 of RFC 9562 §6.2: a counter
 * seeded per millisecond), so the daemon's ids also sort by arrival.
 *
 * The random bits come from xoshiro256**, seeded from getrandom(2) and
 * reseeded every 2^20 ids: ids must not repeat and should not be
 * predictable by accident, but they are not secrets (clients may choose
 * their own), and the kernel's CSPRNG cost 6% of the daemon's ingest.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "eventrouter.h"
#include "uuid.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t last_ms;
static uint32_t counter; /* 12 bits used */
static uint64_t state[4];
static uint32_t until_reseed;

static void seed(void)
{
    size_t got = 0;
    while (got < sizeof(state)) {
        ssize_t r = getrandom((char *)state + got, sizeof(state) - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got < sizeof(state) || (state[0] | state[1] | state[2] | state[3]) == 0) {
        /* getrandom cannot fail on Linux >= 3.17 after boot; stay unique
         * anyway with a time- and address-seeded state. */
        state[0] ^= (uint64_t)time(NULL) | 1;
        state[1] ^= (uint64_t)(uintptr_t)&got;
    }
    until_reseed = 1u << 20;
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256** (Blackman and Vigna, public domain algorithm). */
static uint64_t next64(void)
{
    uint64_t r, t;
    if (until_reseed-- == 0)
        seed();
    r = rotl(state[1] * 5, 7) * 9;
    t = state[1] << 17;
    state[2] ^= state[0];
    state[3] ^= state[1];
    state[1] ^= state[2];
    state[0] ^= state[3];
    state[2] ^= t;
    state[3] = rotl(state[3], 45);
    return r;
}

static void random_bytes(uint8_t *out, size_t n)
{
    while (n > 0) {
        uint64_t r = next64();
        size_t k = n < 8 ? n : 8;
        memcpy(out, &r, k);
        out += k;
        n -= k;
    }
}

void er_uuid7(char out[37])
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    er__uuid7_at(out, (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

void er__uuid7_at(char out[37], uint64_t ms)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t b[16];
    int i, o = 0;

    pthread_mutex_lock(&lock);
    random_bytes(b + 6, 10);
    if (ms > last_ms) {
        last_ms = ms;
        counter = (uint32_t)(b[6] & 0x07) << 8 | b[7]; /* random start, room to count */
    } else {
        /* Same (or earlier: clock stepped back) millisecond: count on; on
         * overflow borrow the next millisecond. */
        if (++counter > 0xfff) {
            last_ms++;
            counter = 0;
        }
        ms = last_ms;
    }
    b[6] = (uint8_t)(0x70 | (counter >> 8));
    b[7] = (uint8_t)counter;
    pthread_mutex_unlock(&lock);

    for (i = 0; i < 6; i++)
        b[i] = (uint8_t)(ms >> (40 - 8 * i));
    b[8] = (uint8_t)(0x80 | (b[8] & 0x3f));

    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
}
