/*
 * UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, version 7, 12 bits of
 * sub-millisecond counter, variant 10, 62 random bits. Ids generated in one
 * process are strictly increasing (method 1 of RFC 9562 §6.2: a counter
 * seeded per millisecond), so the daemon's ids also sort by arrival.
 *
 * Randomness comes from getrandom(2) in blocks, refilled under a mutex.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "eventrouter.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t last_ms;
static uint32_t counter; /* 12 bits used */
static uint8_t pool[4096];
static size_t pool_left;

static void random_bytes(uint8_t *out, size_t n)
{
    if (pool_left < n) {
        size_t got = 0;
        while (got < sizeof(pool)) {
            ssize_t r = getrandom(pool + got, sizeof(pool) - got, 0);
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        if (got < sizeof(pool)) {
            /* getrandom cannot fail on Linux >= 3.17 after boot; keep ids
             * unique anyway with a time-seeded xorshift. */
            uint64_t x = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&got;
            for (; got < sizeof(pool); got++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                pool[got] = (uint8_t)x;
            }
        }
        pool_left = sizeof(pool);
    }
    memcpy(out, pool + sizeof(pool) - pool_left, n);
    pool_left -= n;
}

void er_uuid7(char out[37])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t b[16];
    struct timespec ts;
    uint64_t ms;
    int i, o = 0;

    clock_gettime(CLOCK_REALTIME, &ts);
    ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;

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
