/*
 * Logging for the daemon (STYLE 9): one line per message on stderr, the level
 * checked before anything is formatted, a component prefix ("[server]",
 * "[broker:kafka-main]"), printf checking, and rate limiting of repeats at a
 * call site. When stderr is the systemd journal (JOURNAL_STREAM names it),
 * lines carry "<N>" priority prefixes instead of a timestamp.
 *
 * Loop thread and worker threads alike may log: a line is written with one
 * write(2).
 */
#ifndef ER_LOG_H
#define ER_LOG_H

#include <stdbool.h>
#include <stdint.h>

/* syslog(3) priorities, so "<N>" prefixes are the level itself. */
enum er_log_level {
    ER_LOG_ERROR = 3,
    ER_LOG_WARN = 4,
    ER_LOG_NOTICE = 5,
    ER_LOG_INFO = 6,
    ER_LOG_DEBUG = 7,
};

enum er_log_format {
    ER_LOG_FORMAT_TEXT = 0, /* "2026-11-27T19:27:05.123Z warn [server] ..." */
    ER_LOG_FORMAT_JSON = 1, /* {"time":..., "level":..., "component":..., "msg":...} */
};

extern int er__log_level;

/* Set level and format; detects the journal from $JOURNAL_STREAM and stderr. */
void er__log_init(int level, int format);
/* "error" "warn" "notice" "info" "debug" → level, or -1. */
int er__log_level_parse(const char *s);
const char *er__log_level_name(int level);

void er__log_emit(int level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define er_log(level, component, ...)                                          \
    do {                                                                       \
        if ((level) <= er__log_level)                                          \
            er__log_emit((level), (component), __VA_ARGS__);                   \
    } while (0)

/*
 * Rate limiting per call site: at most `burst` lines per `interval_ms`; when
 * the window ends, one line says how many were suppressed.
 */
typedef struct er_log_rate_s {
    uint64_t window_start_ms;
    uint32_t count;
    uint32_t suppressed;
} er_log_rate_t;

/* Returns true when the caller may log now (and reports suppressed lines
 * of the previous window itself). */
bool er__log_rate_ok(er_log_rate_t *r, int level, const char *component);

#define ER_LOG_RATE_BURST       10
#define ER_LOG_RATE_INTERVAL_MS 10000

#define er_log_limited(level, component, ...)                                  \
    do {                                                                       \
        static er_log_rate_t er__rate_;                                        \
        if ((level) <= er__log_level && er__log_rate_ok(&er__rate_, (level), (component))) \
            er__log_emit((level), (component), __VA_ARGS__);                   \
    } while (0)

#endif
