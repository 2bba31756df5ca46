/*
 * Standard base64 with padding (see base64.h). Table-driven both ways; the
 * decoder refuses anything a canonical encoder would not have produced.
 */
#include <errno.h>
#include <stdint.h>

#include "base64.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The value of a base64 symbol, or -1 outside the alphabet ('=' included). */
static int symbol(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+')
        return 62;
    if (ch == '/')
        return 63;
    return -1;
}

size_t er__base64_encoded_len(size_t n)
{
    size_t groups = n / 3 + (n % 3 != 0);
    if (groups > SIZE_MAX / 4)
        return SIZE_MAX;
    return groups * 4;
}

size_t er__base64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t i, o = 0;

    for (i = 0; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = alphabet[v >> 18];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = alphabet[(v >> 6) & 63];
        out[o++] = alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = alphabet[v >> 18];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = alphabet[v >> 18];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = alphabet[(v >> 6) & 63];
        out[o++] = '=';
    }
    return o;
}

size_t er__base64_decoded_max(size_t len)
{
    return len / 4 * 3;
}

int er__base64_decode(const char *in, size_t len, uint8_t *out, size_t *outlen)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t i, o = 0;

    if (len % 4 != 0)
        return -EINVAL;
    for (i = 0; i < len; i += 4) {
        int pad = 0, a, b, c, d;
        uint32_t v;

        /* Padding only in the last group: "xx==" or "xxx=". */
        if (i + 4 == len && s[i + 3] == '=')
            pad = s[i + 2] == '=' ? 2 : 1;
        a = symbol(s[i]);
        b = symbol(s[i + 1]);
        c = pad == 2 ? 0 : symbol(s[i + 2]);
        d = pad >= 1 ? 0 : symbol(s[i + 3]);
        if (a < 0 || b < 0 || c < 0 || d < 0)
            return -EINVAL;
        v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
        /* Canonical only: the bits a padded group drops must be zero. */
        if ((pad == 2 && (v & 0xffff)) || (pad == 1 && (v & 0xff)))
            return -EINVAL;
        out[o++] = (uint8_t)(v >> 16);
        if (pad < 2)
            out[o++] = (uint8_t)(v >> 8);
        if (pad < 1)
            out[o++] = (uint8_t)v;
    }
    *outlen = o;
    return 0;
}
