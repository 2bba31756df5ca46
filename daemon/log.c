/*
 * Daemon logging (see log.h). Lines go to stderr with one write(2) each, so
 * lines from different threads never interleave. Under systemd (stderr is
 * the journal stream named by $JOURNAL_STREAM) a line starts with "<N>",
 * the syslog priority, and carries no timestamp (the journal adds one).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"

int er__log_level = ER_LOG_INFO;
static int log_format = ER_LOG_FORMAT_TEXT;
static int log_journal;

static const char *const level_names[] = {
    [ER_LOG_ERROR] = "error", [ER_LOG_WARN] = "warn",   [ER_LOG_NOTICE] = "notice",
    [ER_LOG_INFO] = "info",   [ER_LOG_DEBUG] = "debug",
};

/* $JOURNAL_STREAM is "DEV:INODE" of the journal socket systemd connected to
 * stderr; it only counts if stderr still is that socket. */
static int stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;

    if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
        return 0;
    if (fstat(STDERR_FILENO, &st) != 0)
        return 0;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void er__log_init(int level, int format)
{
    er__log_level = level;
    log_format = format;
    log_journal = stderr_is_journal();
}

int er__log_level_parse(const char *s)
{
    int i;
    for (i = ER_LOG_ERROR; i <= ER_LOG_DEBUG; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

const char *er__log_level_name(int level)
{
    if (level < ER_LOG_ERROR || level > ER_LOG_DEBUG)
        return "?";
    return level_names[level];
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void emit_line(int level, const char *component, const char *msg)
{
    char line[2048];
    int n;

    if (log_format == ER_LOG_FORMAT_JSON) {
        json_t *o = json_pack("{s:s, s:s, s:s}", "level", er__log_level_name(level), "component",
                              component ? component : "", "msg", msg);
        char *s;
        if (o == NULL)
            return;
        if (!log_journal) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            json_object_set_new(o, "time",
                                json_integer((json_int_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000));
        }
        s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (s == NULL)
            return;
        n = log_journal ? snprintf(line, sizeof(line), "<%d>%s\n", level, s)
                        : snprintf(line, sizeof(line), "%s\n", s);
        free(s);
    } else if (log_journal) {
        n = snprintf(line, sizeof(line), "<%d>[%s] %s\n", level, component ? component : "-",
                     msg);
    } else {
        struct timespec ts;
        struct tm tm;
        char stamp[32];
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
        n = snprintf(line, sizeof(line), "%s.%03ldZ %-6s [%s] %s\n", stamp,
                     ts.tv_nsec / 1000000, er__log_level_name(level),
                     component ? component : "-", msg);
    }
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(line)) {
        n = sizeof(line) - 1;
        line[n - 1] = '\n';
    }
    write_all(line, (size_t)n);
}

void er__log_emit(int level, const char *component, const char *fmt, ...)
{
    char msg[1536];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    emit_line(level, component, msg);
}

bool er__log_rate_ok(er_log_rate_t *r, int level, const char *component)
{
    uint64_t now = now_ms();

    if (now - r->window_start_ms >= ER_LOG_RATE_INTERVAL_MS) {
        if (r->suppressed > 0)
            er__log_emit(level, component, "%u similar messages suppressed in the last %u s",
                         r->suppressed, ER_LOG_RATE_INTERVAL_MS / 1000);
        r->window_start_ms = now;
        r->count = 0;
        r->suppressed = 0;
    }
    if (r->count < ER_LOG_RATE_BURST) {
        r->count++;
        return true;
    }
    r->suppressed++;
    return false;
}
