/*
 * Error names and texts for negated errnos and the project's ER_E* codes,
 * and the helper that fills an er_error_t.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "eventrouter.h"
#include "proto.h"

const char *er_strerror(int err)
{
    switch (err) {
#define XX(name, val, s)                                                       \
    case ER_##name:                                                            \
        return s;
        ER_ERRNO_MAP(XX)
#undef XX
    case 0:
        return "success";
    default:
        break;
    }
    /* strerror() of glibc returns static strings for known errnos; an
     * unknown one gets a generic text rather than a thread-unsafe buffer. */
    if (err < 0 && err > -4096)
        return strerrordesc_np(-err) ? strerrordesc_np(-err) : "unknown error";
    return "unknown error";
}

const char *er_err_name(int err)
{
    switch (err) {
#define XX(name, val, s)                                                       \
    case ER_##name:                                                            \
        return #name;
        ER_ERRNO_MAP(XX)
#undef XX
    case 0:
        return "OK";
    default:
        break;
    }
    if (err < 0 && err > -4096 && strerrorname_np(-err))
        return strerrorname_np(-err);
    return "EUNKNOWN";
}

int er__error_set(er_error_t *err, int code, int index, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return code;
    err->code = code;
    err->index = index;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return code;
}

const char *er__nack_code_for(int err)
{
    switch (err) {
    case ER_ETOOBIG:
        return "too_large";
    case ER_EFRAME:
    case ER_EBADOP:
        return "protocol";
    case -ENOMEM:
    case -ENOBUFS:
        return "busy";
    default:
        return "invalid";
    }
}
