#!/usr/bin/env python3
"""Independent computation of the fixed-key WireGuard handshake checked by test_noise.c
(test_vector): written from the whitepaper with Python's cryptography module and hashlib,
sharing no code with src/wg. Prints the expected bytes as C string literals."""
import hashlib, hmac, struct
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

def HASH(*parts): return hashlib.blake2s(b"".join(parts)).digest()
def MAC(key, data): return hashlib.blake2s(data, key=key, digest_size=16).digest()
def HMAC(key, data): return hmac.new(key, data, hashlib.blake2s).digest()
def KDF(n, ck, x):
    prk = HMAC(ck, x); out = []; t = b""
    for i in range(1, n + 1):
        t = HMAC(prk, t + bytes([i])); out.append(t)
    return out
def pub(priv): return X25519PrivateKey.from_private_bytes(priv).public_key().public_bytes_raw()
def DH(priv, p): return X25519PrivateKey.from_private_bytes(priv).exchange(X25519PublicKey.from_public_bytes(p))
def AEAD(key, ctr, pt, ad): return ChaCha20Poly1305(key).encrypt(b"\0" * 4 + struct.pack("<Q", ctr), pt, ad)

s_i, s_r = bytes([0x11]) * 32, bytes([0x22]) * 32
e_i, e_r = bytes([0x33]) * 32, bytes([0x44]) * 32
psk = bytes([0x55]) * 32
idx_i, idx_r = 0x01020304, 0x0a0b0c0d
wall_ns = 1700000000 * 10**9 + 123456789
S_i, S_r = pub(s_i), pub(s_r)

# TAI64N with nanoseconds floored to 2^24
tai = struct.pack(">QI", 0x400000000000000a + wall_ns // 10**9, (wall_ns % 10**9) & ~((1 << 24) - 1))

C = HASH(b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s")
H = HASH(HASH(C, b"WireGuard v1 zx2c4 Jason@zx2c4.com"), S_r)
E_i = pub(e_i)
C, = KDF(1, C, E_i); H = HASH(H, E_i)
C, k = KDF(2, C, DH(e_i, S_r))
enc_static = AEAD(k, 0, S_i, H); H = HASH(H, enc_static)
C, k = KDF(2, C, DH(s_i, S_r))
enc_ts = AEAD(k, 0, tai, H); H = HASH(H, enc_ts)
init = struct.pack("<B3xI", 1, idx_i) + E_i + enc_static + enc_ts
init += MAC(HASH(b"mac1----", S_r), init) + bytes(16)
assert len(init) == 148

E_r = pub(e_r)
C, = KDF(1, C, E_r); H = HASH(H, E_r)
C, = KDF(1, C, DH(e_r, E_i))
C, = KDF(1, C, DH(e_r, S_i))
C, tau, k = KDF(3, C, psk); H = HASH(H, tau)
enc_nothing = AEAD(k, 0, b"", H); H = HASH(H, enc_nothing)
resp = struct.pack("<B3xII", 2, idx_r, idx_i) + E_r + enc_nothing
resp += MAC(HASH(b"mac1----", S_i), resp) + bytes(16)
assert len(resp) == 92

t_send_i, t_recv_i = KDF(2, C, b"")
data = struct.pack("<B3xIQ", 4, idx_r, 0) + AEAD(t_send_i, 0, b"ping" + bytes(12), b"")
back = struct.pack("<B3xIQ", 4, idx_i, 0) + AEAD(t_recv_i, 0, b"pong" + bytes(12), b"")

for name, v in (("initiation", init), ("response", resp), ("data_i2r", data), ("data_r2i", back)):
    print(f"static const char vec_{name}[] =")
    h = v.hex()
    print("\n".join(f'\t"{h[i:i + 64]}"' for i in range(0, len(h), 64)) + ";")
