/*
 * UUIDv7 with a caller-given time, for the daemon's ingest: one clock read
 * per request instead of one per event.
 */
#ifndef ER_UUID_H
#define ER_UUID_H

#include <stdint.h>

/* As er_uuid7(), with unix_ms as the time (milliseconds since the epoch). */
void er__uuid7_at(char out[37], uint64_t unix_ms);

#endif
