"""An independent reader of SaMDKit envelopes (format version 1), written from EnvelopeFormat.md alone.

Uses Python's `cryptography` (AES-256-GCM, HKDF-Expand SHA-512) and PyNaCl's libsodium bindings
(XChaCha20-Poly1305 IETF, sealed boxes); no SaMDKit code. Given the vectors file, it opens every vector's
envelope with the vector's key and context and prints one JSON object: {vector name: plaintext hex}.
EnvelopeFormatVectorTests runs it and compares every plaintext byte.
Run: .build/tools/venv/bin/python read_envelope.py envelope-format-vectors.json
"""

import hashlib
import hmac
import json
import struct
import sys
import unicodedata

import nacl.bindings as sodium
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

CHUNK, TAG, SALT, COMMITMENT = 16384, 16, 24, 32
SUITES = {1: ("AEAD_AES_256_GCM", 12), 2: ("AEAD_XCHACHA20_POLY1305", 24)}
WRAPPED = {1: 60, 2: 112}
NAME_CHARS = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")


class Refused(Exception):
    pass


def encode_context(pairs):
    encoded = []
    for key, value in pairs:
        value = unicodedata.normalize("NFC", value).encode("utf-8")
        encoded.append((key.encode("ascii"), value))
    encoded.sort()
    out = b"samd-context-v1\x00" + struct.pack(">H", len(encoded))
    for key, value in encoded:
        out += bytes([len(key)]) + key + struct.pack(">H", len(value)) + value
    return out


def parse_header(env):
    if len(env) < 8:
        raise Refused("truncated")
    if env[:4] != b"SMDE":
        raise Refused("malformed")
    if env[4] != 1:
        raise Refused("unsupportedVersion")
    suite, mode, n = env[5], env[6], env[7]
    if suite not in SUITES or mode not in WRAPPED:
        raise Refused("unsupportedSuite")
    if not 1 <= n <= 64:
        raise Refused("malformed")
    if len(env) < 14 + n:
        raise Refused("truncated")
    name = env[8 : 8 + n]
    if not set(name) <= NAME_CHARS:
        raise Refused("malformed")
    version, wrapped_len = struct.unpack(">IH", env[8 + n : 14 + n])
    if version < 1 or wrapped_len != WRAPPED[mode]:
        raise Refused("malformed")
    end = 14 + n + wrapped_len
    if len(env) < end:
        raise Refused("truncated")
    return suite, mode, f"{name.decode()}:{version}", env[: 14 + n], env[14 + n : end], end


def unwrap_dek(mode, prefix, wrapped, vector):
    if mode == 1:
        kek = bytes.fromhex(vector["kek"])
        return AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], prefix)
    secret = bytes.fromhex(vector["recipient_private_key"])
    public = sodium.crypto_scalarmult_base(secret)
    message = sodium.crypto_box_seal_open(wrapped, public, secret)
    if len(message) != 64 or not hmac.compare_digest(message[32:], hashlib.sha256(prefix).digest()):
        raise Refused("authenticationFailed")
    return message[:32]


def open_payload(suite, dek, context, payload):
    aead, nonce_len = SUITES[suite]
    if len(payload) < SALT + COMMITMENT + TAG or (len(payload) - SALT - COMMITMENT) % (CHUNK + TAG) < TAG:
        raise Refused("truncated")
    salt = payload[:SALT]
    info = b"c2sp.org/chunked-encryption@v1+" + aead.encode() + b"\x00" + salt + context
    okm = HKDFExpand(hashes.SHA512(), 32 + nonce_len + COMMITMENT, info).derive(dek)
    key, base, commitment = okm[:32], okm[32 : 32 + nonce_len], okm[32 + nonce_len :]
    if not hmac.compare_digest(commitment, payload[SALT : SALT + COMMITMENT]):
        raise Refused("authenticationFailed")
    body, plaintext, index = payload[SALT + COMMITMENT :], b"", 0
    while True:
        chunk = body[index * (CHUNK + TAG) : (index + 1) * (CHUNK + TAG)]
        nonce = bytes(a ^ b for a, b in zip(base, index.to_bytes(nonce_len, "big")))
        if suite == 1:
            plaintext += AESGCM(key).decrypt(nonce, chunk, b"")
        else:
            plaintext += sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(chunk, b"", nonce, key)
        if len(chunk) < CHUNK + TAG:  # the final chunk is the only short one
            return plaintext
        index += 1


def open_envelope(env, vector):
    context = encode_context(vector["context"])
    if context.hex() != vector["context_bytes"]:
        raise Refused("context encoding differs from the vector's context_bytes")
    suite, mode, key_id, prefix, wrapped, end = parse_header(env)
    if key_id != vector["key_id"]:
        raise Refused(f"header names {key_id}, the vector {vector['key_id']}")
    if "subject_id" in vector:  # the name of a subject key (KeyManagement.md)
        subject = unicodedata.normalize("NFC", vector["subject_id"]).encode("utf-8")
        mac = hmac.new(bytes.fromhex(vector["subject_index_key"]), b"samd-subject-v1\x00" + subject, "sha256")
        if key_id != "s-" + mac.digest()[:16].hex() + ":" + key_id.split(":")[1]:
            raise Refused("the subject key's name is not its blind name")
    return open_payload(suite, unwrap_dek(mode, prefix, wrapped, vector), context, env[end:])


def main():
    with open(sys.argv[1], encoding="utf-8") as file:
        vectors = json.load(file)["vectors"]
    json.dump({v["name"]: open_envelope(bytes.fromhex(v["envelope"]), v).hex() for v in vectors}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
