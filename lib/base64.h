/*
 * Standard base64 (RFC 4648 §4, alphabet A-Z a-z 0-9 + /, '=' padding), as
 * the JSON shape of an event carries binary payloads (`data_base64`). The
 * decoder is strict so that decoding then encoding gives back the same text:
 * no whitespace, no missing padding, no non-zero bits in the last symbol.
 */
#ifndef ER_BASE64_H
#define ER_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Length of the encoding of n bytes, without a NUL; SIZE_MAX on overflow. */
size_t er__base64_encoded_len(size_t n);

/* Encode n bytes of in into out, which must hold er__base64_encoded_len(n)
 * bytes; no NUL is written. Returns the number of characters written. */
size_t er__base64_encode(const uint8_t *in, size_t n, char *out);

/* Upper bound of the bytes decoded from len characters. */
size_t er__base64_decoded_max(size_t len);

/*
 * Decode len characters of in into out (room for er__base64_decoded_max(len)
 * bytes), the decoded length in *outlen. Returns 0, or -EINVAL for a length
 * that is not a multiple of 4, a character outside the alphabet, misplaced
 * padding or non-canonical trailing bits.
 */
int er__base64_decode(const char *in, size_t len, uint8_t *out, size_t *outlen);

#endif
