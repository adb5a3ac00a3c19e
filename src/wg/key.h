/* 32-byte WireGuard keys as text: base64 (wg(8), config files) and hex (the uapi socket).
 * Decoders are strict and do not branch on key bytes; they reject wrong length, bad characters
 * and non-canonical base64 (stray low bits in the last character), exactly as wg does. */
#ifndef CULVERT_KEY_H
#define CULVERT_KEY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	KEY_LEN = 32,
	KEY_B64_LEN = 44,	/* 43 characters + one '=' */
	KEY_HEX_LEN = 64,
};

/* out receives KEY_B64_LEN characters and a NUL. */
void key_to_base64(char out[KEY_B64_LEN + 1], const uint8_t key[KEY_LEN]);
/* s must be exactly 44 characters (NUL-terminated, no whitespace). On failure key is zeroed. */
bool key_from_base64(uint8_t key[KEY_LEN], const char *s);

/* Lower-case hex, as the uapi emits it; out receives 64 characters and a NUL. */
void key_to_hex(char out[KEY_HEX_LEN + 1], const uint8_t key[KEY_LEN]);
/* Exactly 64 hex digits of either case (wireguard-go accepts both). On failure key is zeroed. */
bool key_from_hex(uint8_t key[KEY_LEN], const char *s);
/* The same on a counted string (uapi values are not NUL-terminated in place). */
bool key_from_hexn(uint8_t key[KEY_LEN], const char *s, size_t len);

/* Constant time. */
bool key_is_zero(const uint8_t key[KEY_LEN]);
bool key_equal(const uint8_t a[KEY_LEN], const uint8_t b[KEY_LEN]);

/* Overwrites a key (or any secret) in a way the compiler cannot elide. */
void key_wipe(void *p, size_t len);
/* Grows a buffer that holds secrets (realloc would leave a copy behind): the first used bytes
 * move to a new block of new_cap bytes, the old block of old_cap bytes is wiped and freed.
 * NULL, with the old block untouched, when memory runs out. */
void *key_grow(void *old, size_t old_cap, size_t used, size_t new_cap);

#endif
