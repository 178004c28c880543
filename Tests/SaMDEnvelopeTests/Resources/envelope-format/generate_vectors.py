"""Computes the published envelope test vectors (envelope-format-vectors.json) independently of SaMDKit.

Written from Sources/SaMDEnvelope/SaMDEnvelope.docc/EnvelopeFormat.md with Python's `cryptography`
(AES-256-GCM, HKDF-Expand SHA-512, HMAC-SHA-256) and PyNaCl's libsodium bindings (XChaCha20-Poly1305 IETF,
X25519, crypto_box, BLAKE2b). Every key below is a test key made for these vectors, never a real store's.
Run: .build/tools/venv/bin/python generate_vectors.py > envelope-format-vectors.json
SaMDKit's EnvelopeFormatVectorTests re-derives every vector with SaMDKit and compares every byte.
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

CHUNK = 16384


def seq(start, count):
    return bytes((start + i) % 256 for i in range(count))


def context_bytes(pairs):
    pairs = sorted(((k.encode("ascii"), unicodedata.normalize("NFC", v).encode("utf-8")) for k, v in pairs))
    out = b"samd-context-v1\x00" + struct.pack(">H", len(pairs))
    for k, v in pairs:
        out += bytes([len(k)]) + k + struct.pack(">H", len(v)) + v
    return out


def prefix(suite, mode, name, version):
    wrapped_len = {1: 60, 2: 112}[mode]
    n = name.encode("ascii")
    return b"SMDE" + bytes([1, suite, mode, len(n)]) + n + struct.pack(">IH", version, wrapped_len)


def payload(suite, dek, salt, context, plaintext):
    aead, key_len, nonce_len = {1: ("AEAD_AES_256_GCM", 32, 12), 2: ("AEAD_XCHACHA20_POLY1305", 32, 24)}[suite]
    info = b"c2sp.org/chunked-encryption@v1+" + aead.encode() + b"\x00" + salt + context
    okm = HKDFExpand(hashes.SHA512(), key_len + nonce_len + 32, info).derive(dek)
    key, base, commitment = okm[:key_len], okm[key_len : key_len + nonce_len], okm[key_len + nonce_len :]
    out = salt + commitment
    chunks = [plaintext[i : i + CHUNK] for i in range(0, len(plaintext) // CHUNK * CHUNK, CHUNK)]
    chunks.append(plaintext[len(chunks) * CHUNK :])
    for index, chunk in enumerate(chunks):
        nonce = bytes(a ^ b for a, b in zip(base, index.to_bytes(nonce_len, "big")))
        if suite == 1:
            out += AESGCM(key).encrypt(nonce, chunk, b"")
        else:
            out += sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(chunk, b"", nonce, key)
    return out


def vector(name, suite, mode, key_name, key_version, context, plaintext, **inputs):
    ctx = context_bytes(context)
    head = prefix(suite, mode, key_name, key_version)
    dek = bytes.fromhex(inputs["dek"])
    if mode == 1:
        nonce = bytes.fromhex(inputs["wrap_nonce"])
        wrapped = nonce + AESGCM(bytes.fromhex(inputs["kek"])).encrypt(nonce, dek, head)
    else:
        recipient_pk = sodium.crypto_scalarmult_base(bytes.fromhex(inputs["recipient_private_key"]))
        esk = bytes.fromhex(inputs["ephemeral_private_key"])
        epk = sodium.crypto_scalarmult_base(esk)
        box_nonce = hashlib.blake2b(epk + recipient_pk, digest_size=24).digest()
        wrapped = epk + sodium.crypto_box(dek + hashlib.sha256(head).digest(), box_nonce, recipient_pk, esk)
        inputs["recipient_public_key"] = recipient_pk.hex()
        inputs["ephemeral_public_key"] = epk.hex()
    envelope = head + wrapped + payload(suite, dek, bytes.fromhex(inputs["salt"]), ctx, plaintext)
    out = {"name": name, "suite": suite, "wrap_mode": mode, "key_id": f"{key_name}:{key_version}"}
    out.update(inputs)
    out.update(
        {
            "context": [[k, v] for k, v in context],
            "context_bytes": ctx.hex(),
            "plaintext": plaintext.hex(),
            "envelope": envelope.hex(),
        }
    )
    return out


KEK = seq(0x00, 32).hex()
DEK = seq(0x40, 32).hex()
WRAP_NONCE = seq(0x60, 12).hex()
SALT = seq(0x70, 24).hex()
INDEX_KEY = seq(0xC0, 32)
SUBJECT = "patient-0001"
subject_name = "s-" + hmac.new(INDEX_KEY, b"samd-subject-v1\x00" + SUBJECT.encode(), hashlib.sha256).digest()[:16].hex()

vectors = [
    vector(
        "1 — Cobblestone-256, one short chunk, three-pair context", 1, 1, "records", 1,
        [("patient", "p-1"), ("record", "r-1"), ("type", "fhir")],
        b'{"resourceType":"Patient","id":"p-1"}', kek=KEK, dek=DEK, wrap_nonce=WRAP_NONCE, salt=SALT,
    ),
    vector(
        "2 — Cobblestone-256, a full chunk and a 5-byte final chunk, empty context", 1, 1, "records", 7, [],
        bytes((7 * i + 3) % 256 for i in range(16389)), kek=KEK, dek=DEK, wrap_nonce=WRAP_NONCE, salt=SALT,
    ),
    vector(
        "3 — suite 2 (SaMDKit's chunked XChaCha20-Poly1305), one short chunk", 2, 1, "device-records", 2,
        [("type", "hl7v2")], bytes.fromhex("4d53487c5e7e5c26"), kek=KEK, dek=DEK, wrap_nonce=WRAP_NONCE, salt=SALT,
    ),
    vector(
        "4 — wrap mode 2 (recipient: X25519 sealed box), Cobblestone-256", 1, 2, "gateway-recipient", 3,
        [("patient", "p-2"), ("record", "r-9"), ("type", "fhir")], b'{"resourceType":"Observation","id":"r-9"}',
        recipient_private_key=seq(0x80, 32).hex(), ephemeral_private_key=seq(0xA0, 32).hex(), dek=DEK, salt=SALT,
    ),
    vector(
        "5 — a subject key (s-…) as the wrapping key, Cobblestone-256", 1, 1, subject_name, 1,
        [("record", "r-5"), ("subject", SUBJECT), ("type", "fhir")], b'{"resourceType":"Patient","id":"patient-0001"}',
        kek=seq(0xE0, 32).hex(), dek=DEK, wrap_nonce=WRAP_NONCE, salt=SALT,
        subject_id=SUBJECT, subject_index_key=INDEX_KEY.hex(),
    ),
]
# The plaintext of vector 2 is byte i = (7·i + 3) mod 256; it is also given in full.
vectors[1]["plaintext_pattern"] = "byte i = (7 * i + 3) mod 256"
json.dump(
    {
        "about": "SaMDKit envelope format v1 test vectors (EnvelopeFormat.md). Every key is a test key made for "
        "these vectors, never a key of a real store. All byte strings are lower-case hex. This file is the "
        "reference; EnvelopeFormat.md quotes it.",
        "vectors": vectors,
    },
    sys.stdout,
    indent=1,
    ensure_ascii=False,
)
sys.stdout.write("\n")
