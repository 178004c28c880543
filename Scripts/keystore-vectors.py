#!/usr/bin/env python3
"""Writes Tests/SaMDKeysTests/Resources/keystore-vectors.json: a whole key store (passphrase -> Argon2id ->
wrap and MAC keys -> KEK records:1 -> subject key -> envelope), its keystore.json in format version 1, in
version 2, and in version 3 with a recipient key, computed with Python's `cryptography` and `argon2-cffi` only, from KeyStoreFormat.md and
EnvelopeFormat.md -- independently of SaMDKit.

Every key below is a test key made for these vectors (counting byte patterns); none belongs to a real store.
Run: .build/tools/venv/bin/python Scripts/keystore-vectors.py > Tests/SaMDKeysTests/Resources/keystore-vectors.json
"""
import base64, hashlib, hmac, json, struct, sys, unicodedata
from argon2.low_level import hash_secret_raw, Type
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def seq(start, n):
    return bytes((start + i) & 0xFF for i in range(n))


def expand(hash_algorithm, prk, info, n):
    return HKDFExpand(hash_algorithm, n, info).derive(prk)


def b64(data):
    return base64.b64encode(data).decode("ascii")


passphrase = "correct horse battery staple".encode("utf-8")
salt = seq(0x00, 16)
iterations, memory_bytes = 2, 65536
root = hash_secret_raw(passphrase, salt, time_cost=iterations, memory_cost=memory_bytes // 1024, parallelism=1,
                       hash_len=32, type=Type.ID, version=0x13)
wrap_key = expand(hashes.SHA256(), root, b"samd-keystore-v1 wrap", 32)
mac_key = expand(hashes.SHA256(), root, b"samd-keystore-v1 mac", 32)

kek = seq(0x20, 32)
index_key = seq(0x40, 32)
kek_wrapped = aes_key_wrap_with_padding(wrap_key, kek)
index_key_wrapped = aes_key_wrap_with_padding(wrap_key, index_key)
created = "2026-01-01T00:00:00Z"
state = {
    "generation": 1,
    "indexKey": b64(index_key_wrapped),
    "keys": [{
        "metadata": {
            "activatedAt": created, "createdAt": created, "cryptoperiod": 31536000,
            "identifier": {"name": "records", "version": 1}, "state": "active",
        },
        "wrapped": b64(kek_wrapped),
    }],
    "minimumVersions": {"records": 1},
}
state_bytes = json.dumps(state, sort_keys=True, indent=2).encode("utf-8")
mac_input = b"samd-keystore-v1\x00" + struct.pack(">I", iterations) + struct.pack(">Q", memory_bytes) + salt + state_bytes
mac = hmac.new(mac_key, mac_input, hashlib.sha256).digest()
keystore = {
    "format": "samd-keystore-v1",
    "kdf": {"algorithm": "argon2id", "iterations": iterations, "memory": memory_bytes, "salt": b64(salt)},
    "mac": b64(mac),
    "state": b64(state_bytes),
}
keystore_bytes = (json.dumps(keystore, sort_keys=True, indent=2) + "\n").encode("utf-8")


def field(data):
    """A variable-length field of a version 2 MAC input: u16 big-endian length, then the bytes."""
    return struct.pack(">H", len(data)) + data


# Format version 2: the same state and keys; the custody recorded as an object, and every field under the MAC.
v2_mac_input = (b"samd-keystore-v2\x00" + field(b"passphrase") + field(b"argon2id") + struct.pack(">I", iterations)
                + struct.pack(">Q", memory_bytes) + field(salt) + struct.pack(">Q", len(state_bytes)) + state_bytes)
v2_mac = hmac.new(mac_key, v2_mac_input, hashlib.sha256).digest()
keystore_v2 = {
    "custody": {"kdf": {"algorithm": "argon2id", "iterations": iterations, "memory": memory_bytes, "salt": b64(salt)},
                "type": "passphrase"},
    "format": "samd-keystore-v2",
    "mac": b64(v2_mac),
    "state": b64(state_bytes),
}
keystore_v2_bytes = (json.dumps(keystore_v2, sort_keys=True, indent=2) + "\n").encode("utf-8")
# A token custody's MAC input (its MAC is the token's HMAC key's, not a vector).
pkcs11_uri = "pkcs11:token=samd;object=records?module-path=/usr/lib/softhsm/libsofthsm2.so"
v2_pkcs11_mac_input = (b"samd-keystore-v2\x00" + field(b"pkcs11") + field(pkcs11_uri.encode("utf-8"))
                       + struct.pack(">Q", len(state_bytes)) + state_bytes)

# Format version 3: the same keys; the state also holds the recipient key recipient:1, an X25519 key pair whose
# private key is wrapped under records:1 as a subject key is (AES-256-GCM, the binding as associated data).
recipient_private = seq(0xE0, 32)
recipient_public = X25519PrivateKey.from_private_bytes(recipient_private).public_key().public_bytes(
    Encoding.Raw, PublicFormat.Raw)
recipient_nonce = seq(0x90, 12)
recipient_binding = (b"samd-recipient-key-v1\x00" + b"recipient:1" + b"\x00" + b"records:1" + b"\x00"
                     + recipient_public)
recipient_wrapped = recipient_nonce + AESGCM(kek).encrypt(recipient_nonce, recipient_private, recipient_binding)
state_v3 = dict(state)
state_v3["recipientKeys"] = [{
    "createdAt": created, "publicKey": b64(recipient_public), "state": "active", "version": 1,
    "wrapped": b64(recipient_wrapped), "wrappedBy": {"name": "records", "version": 1},
}]
state_v3_bytes = json.dumps(state_v3, sort_keys=True, indent=2).encode("utf-8")
v3_mac_input = (b"samd-keystore-v3\x00" + field(b"passphrase") + field(b"argon2id") + struct.pack(">I", iterations)
                + struct.pack(">Q", memory_bytes) + field(salt) + struct.pack(">Q", len(state_v3_bytes))
                + state_v3_bytes)
v3_mac = hmac.new(mac_key, v3_mac_input, hashlib.sha256).digest()
keystore_v3 = dict(keystore_v2)
keystore_v3.update({"format": "samd-keystore-v3", "mac": b64(v3_mac), "state": b64(state_v3_bytes)})
keystore_v3_bytes = (json.dumps(keystore_v3, sort_keys=True, indent=2) + "\n").encode("utf-8")

subject = "Zoe\u0308-0001"  # decomposed; NFC is "Zo\u00eb-0001"
subject_nfc = unicodedata.normalize("NFC", subject).encode("utf-8")
blind_input = b"samd-subject-v1\x00" + subject_nfc
blind_mac = hmac.new(index_key, blind_input, hashlib.sha256).digest()
subject_name = "s-" + blind_mac[:16].hex()
subject_key = seq(0x60, 32)
subject_nonce = seq(0x80, 12)
binding = b"samd-subject-key-v1\x00" + f"{subject_name}:1".encode("ascii") + b"\x00" + b"records:1"
subject_wrapped = subject_nonce + AESGCM(kek).encrypt(subject_nonce, subject_key, binding)
subject_file = {
    "id": subject_name,
    "versions": [{
        "createdAt": created, "state": "active", "version": 1,
        "wrapped": b64(subject_wrapped), "wrappedBy": {"name": "records", "version": 1},
    }],
}
subject_bytes = (json.dumps(subject_file, sort_keys=True, indent=2) + "\n").encode("utf-8")

# The envelope (EnvelopeFormat.md): suite 1, wrap mode 1 under the subject key.
dek = seq(0xA0, 32)
wrap_nonce = seq(0xC0, 12)
payload_salt = seq(0xD0, 24)
context_pairs = sorted([("record", "r-1"), ("subject", unicodedata.normalize("NFC", subject))])
context = b"samd-context-v1\x00" + struct.pack(">H", len(context_pairs))
for key, value in context_pairs:
    v = value.encode("utf-8")
    context += bytes([len(key)]) + key.encode("ascii") + struct.pack(">H", len(v)) + v
name = subject_name.encode("ascii")
prefix = b"SMDE" + bytes([1, 1, 1, len(name)]) + name + struct.pack(">I", 1) + struct.pack(">H", 60)
wrapped_dek = wrap_nonce + AESGCM(subject_key).encrypt(wrap_nonce, dek, prefix)
derived = expand(hashes.SHA512(), dek, b"c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM\x00" + payload_salt + context,
                 32 + 12 + 32)
payload_key, base_nonce, commitment = derived[:32], derived[32:44], derived[44:]
plaintext = b'{"resourceType":"Patient","id":"p-1"}'
chunk0 = AESGCM(payload_key).encrypt(base_nonce, plaintext, None)  # chunk index 0: nonce = base nonce
envelope = prefix + wrapped_dek + payload_salt + commitment + chunk0

vectors = {
    "comment": "SaMDKit key-store test vectors (KeyStoreFormat.md). Test keys made for these vectors, never keys of a real store. Computed by Scripts/keystore-vectors.py with Python cryptography and argon2-cffi.",
    "passphrase": passphrase.hex(),
    "argon2id": {"salt": salt.hex(), "iterations": iterations, "memoryBytes": memory_bytes,
                 "memoryKiB": memory_bytes // 1024, "parallelism": 1, "version": 19, "outputBytes": 32,
                 "root": root.hex()},
    "wrapKeyInfo": b"samd-keystore-v1 wrap".hex(),
    "wrapKey": wrap_key.hex(),
    "macKeyInfo": b"samd-keystore-v1 mac".hex(),
    "macKey": mac_key.hex(),
    "kekIdentifier": "records:1",
    "kek": kek.hex(),
    "kekWrapped": kek_wrapped.hex(),
    "indexKey": index_key.hex(),
    "indexKeyWrapped": index_key_wrapped.hex(),
    "state": state_bytes.hex(),
    "macInput": mac_input.hex(),
    "mac": mac.hex(),
    "keystoreJSON": keystore_bytes.hex(),
    "v2": {
        "macInput": v2_mac_input.hex(),
        "mac": v2_mac.hex(),
        "keystoreJSON": keystore_v2_bytes.hex(),
        "pkcs11URI": pkcs11_uri,
        "pkcs11MacInput": v2_pkcs11_mac_input.hex(),
    },
    "v3": {
        "recipientIdentifier": "recipient:1",
        "recipientPrivateKey": recipient_private.hex(),
        "recipientPublicKey": recipient_public.hex(),
        "recipientKeyNonce": recipient_nonce.hex(),
        "recipientKeyAssociatedData": recipient_binding.hex(),
        "recipientKeyWrapped": recipient_wrapped.hex(),
        "state": state_v3_bytes.hex(),
        "macInput": v3_mac_input.hex(),
        "mac": v3_mac.hex(),
        "keystoreJSON": keystore_v3_bytes.hex(),
    },
    "subject": subject.encode("utf-8").hex(),
    "subjectNFC": subject_nfc.hex(),
    "blindIndexInput": blind_input.hex(),
    "blindIndexMAC": blind_mac.hex(),
    "subjectKeyName": subject_name,
    "subjectKey": subject_key.hex(),
    "subjectKeyNonce": subject_nonce.hex(),
    "subjectKeyAssociatedData": binding.hex(),
    "subjectKeyWrapped": subject_wrapped.hex(),
    "subjectFileName": f"subjects/{subject_name}.json",
    "subjectJSON": subject_bytes.hex(),
    "envelope": {
        "dek": dek.hex(), "wrapNonce": wrap_nonce.hex(), "salt": payload_salt.hex(),
        "context": {k: v for k, v in context_pairs}, "contextBytes": context.hex(),
        "headerPrefix": prefix.hex(), "wrappedDEK": wrapped_dek.hex(),
        "payloadKey": payload_key.hex(), "baseNonce": base_nonce.hex(), "commitment": commitment.hex(),
        "plaintext": plaintext.hex(), "envelope": envelope.hex(),
    },
}
json.dump(vectors, sys.stdout, indent=2, ensure_ascii=True)
sys.stdout.write("\n")
