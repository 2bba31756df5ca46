/*
 * The event object behind the plugin ABI's er_ev_t: immutable, atomically
 * reference-counted, one allocation holding an er_event_t view and every
 * byte it points to. Made from any view (a decoded frame's, a plugin's
 * fields) by a deep copy, so it outlives the buffer it came from. Shared by
 * the daemon and the testing kit's fake host.
 */
#ifndef ER_EVOBJ_H
#define ER_EVOBJ_H

#include <stddef.h>
#include <stdint.h>

#include "eventrouter.h"
#include "eventrouter/plugin.h"

/*
 * A deep copy of src (borrowed until return): every string, the meta
 * entries (packed or array form; the copy is an array, so a plugin reads
 * view.meta[i] without a msgpack reader) and the data. Returns a new
 * reference (refs = 1), or NULL on ENOMEM (or a size that overflows).
 * Any thread.
 */
er_ev_t *er__ev_new(const er_event_t *src);

/* Returns ev with one more reference. Any thread. */
er_ev_t *er__ev_ref(er_ev_t *ev);
/* Drop a reference; the last one frees. NULL is a no-op. Any thread. */
void er__ev_unref(er_ev_t *ev);

/* The bytes the copy holds (what caching it costs, before any
 * encoding). */
size_t er__ev_size(const er_ev_t *ev);

/* The view (valid while a reference is held). */
const er_event_t *er__ev_view(const er_ev_t *ev);

/*
 * The msgpack encoding of the whole event (daemon fields included), made
 * on first use and kept; *p valid while a reference is held. Returns 0 or
 * -ENOMEM. Thread-safe.
 */
int er__ev_encoded(er_ev_t *ev, const uint8_t **p, size_t *n);

/*
 * A new event from the encoding er__ev_encoded gives (daemon fields
 * included; p borrowed until return). Returns 0 with *out a new reference,
 * -EBADMSG when the bytes are not one valid event, -ENOMEM. Any thread.
 */
int er__ev_decode(const uint8_t *p, size_t n, er_ev_t **out);

/* The plugin ABI's event_get: copy min(out_size, sizeof(er_event_t)) bytes
 * of the view into *out. Returns 0, or -EINVAL for a NULL argument. */
int er__ev_get(const er_ev_t *ev, er_event_t *out, size_t out_size);

#endif
