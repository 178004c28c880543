#!/usr/bin/env python3
"""An independent reader of a SaMDKit key store and of one envelope sealed under a subject key, written from
KeyStoreFormat.md and EnvelopeFormat.md alone (no SaMDKit code): Python `cryptography` (HKDF-Expand, HMAC,
AES-KWP, AES-GCM) and `argon2-cffi` (Argon2id).

usage: keystore_reader.py STORE_DIRECTORY PASSPHRASE_FILE SUBJECT ENVELOPE_FILE CONTEXT_JSON
Prints the envelope's plaintext in hex on standard output; exits 1 (with a reason on standard error) when
anything does not authenticate.
"""
import base64, hashlib, hmac, json, struct, sys, unicodedata
from argon2.low_level import hash_secret_raw, Type
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def fail(reason):
    sys.stderr.write(f"keystore_reader: {reason}\n")
    sys.exit(1)


def b64(text):
    return base64.b64decode(text, validate=True)  # standard alphabet, with padding


def expand(algorithm, prk, info, n):
    return HKDFExpand(algorithm, n, info).derive(prk)  # HKDF-Expand only: no Extract, no salt


def main(directory, passphrase_file, subject, envelope_file, context_json):
    passphrase = open(passphrase_file, "rb").read()
    store = json.load(open(f"{directory}/keystore.json", "rb"))
    if store["format"] == "samd-keystore-v1":
        kdf = store["kdf"]
    elif store["format"] == "samd-keystore-v2":
        if store["custody"]["type"] != "passphrase":
            fail("not a passphrase custody")
        kdf = store["custody"]["kdf"]
    else:
        fail("not a samd-keystore-v1 or -v2 store")
    if kdf["algorithm"] != "argon2id":
        fail("unknown KDF")
    salt = b64(kdf["salt"])
    if len(salt) != 16 or kdf["memory"] % 1024:
        fail("bad KDF parameters")
    # memory is in bytes in keystore.json; Argon2's m is in KiB. Argon2 version 0x13, p = 1, 32-byte tag.
    root = hash_secret_raw(passphrase, salt, time_cost=kdf["iterations"], memory_cost=kdf["memory"] // 1024,
                           parallelism=1, hash_len=32, type=Type.ID, version=0x13)
    wrap_key = expand(hashes.SHA256(), root, b"samd-keystore-v1 wrap", 32)
    mac_key = expand(hashes.SHA256(), root, b"samd-keystore-v1 mac", 32)
    state_bytes = b64(store["state"])
    if store["format"] == "samd-keystore-v1":
        mac_input = (b"samd-keystore-v1\x00" + struct.pack(">I", kdf["iterations"]) + struct.pack(">Q", kdf["memory"])
                     + salt + state_bytes)
    else:  # every field, each variable-length one after its u16 big-endian length; the state after its u64 length
        def field(data):
            return struct.pack(">H", len(data)) + data
        mac_input = (b"samd-keystore-v2\x00" + field(b"passphrase") + field(kdf["algorithm"].encode("utf-8"))
                     + struct.pack(">I", kdf["iterations"]) + struct.pack(">Q", kdf["memory"]) + field(salt)
                     + struct.pack(">Q", len(state_bytes)) + state_bytes)
    if not hmac.compare_digest(hmac.new(mac_key, mac_input, hashlib.sha256).digest(), b64(store["mac"])):
        fail("wrong passphrase, or keystore.json was modified")
    state = json.loads(state_bytes)

    index_key = aes_key_unwrap_with_padding(wrap_key, b64(state["indexKey"]))
    nfc = unicodedata.normalize("NFC", subject).encode("utf-8")
    name = "s-" + hmac.new(index_key, b"samd-subject-v1\x00" + nfc, hashlib.sha256).digest()[:16].hex()
    subject_file = json.load(open(f"{directory}/subjects/{name}.json", "rb"))
    if subject_file["id"] != name:
        fail("the subject file names another subject key")

    envelope = open(envelope_file, "rb").read()
    if envelope[:4] != b"SMDE" or envelope[4] != 1 or envelope[5] != 1 or envelope[6] != 1:
        fail("not a version 1, suite 1, wrap mode 1 envelope")
    n = envelope[7]
    key_name = envelope[8:8 + n].decode("ascii")
    (key_version,) = struct.unpack(">I", envelope[8 + n:12 + n])
    (w,) = struct.unpack(">H", envelope[12 + n:14 + n])
    if key_name != name or w != 60:
        fail(f"the envelope names {key_name}, not this subject's key {name}")
    prefix, wrapped_dek, payload = envelope[:14 + n], envelope[14 + n:14 + n + w], envelope[14 + n + w:]

    version = next(v for v in subject_file["versions"] if v["version"] == key_version)
    if version["state"] == "destroyed" or version.get("wrapped") is None:
        fail("the subject key was crypto-shredded")
    kek_id = version["wrappedBy"]
    stored = next(k for k in state["keys"] if k["metadata"]["identifier"] == kek_id)
    if state["minimumVersions"].get(kek_id["name"], 0) > kek_id["version"]:
        fail("the KEK version is below the minimum version")
    kek = aes_key_unwrap_with_padding(wrap_key, b64(stored["wrapped"]))
    wrapped = b64(version["wrapped"])
    binding = (b"samd-subject-key-v1\x00" + f"{name}:{key_version}".encode("ascii") + b"\x00"
               + f"{kek_id['name']}:{kek_id['version']}".encode("ascii"))
    subject_key = AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], binding)

    dek = AESGCM(subject_key).decrypt(wrapped_dek[:12], wrapped_dek[12:], prefix)
    pairs = sorted((k, unicodedata.normalize("NFC", v)) for k, v in json.loads(context_json).items())
    context = b"samd-context-v1\x00" + struct.pack(">H", len(pairs))
    for k, v in pairs:
        v = v.encode("utf-8")
        context += bytes([len(k)]) + k.encode("ascii") + struct.pack(">H", len(v)) + v
    salt, commitment = payload[:24], payload[24:56]
    derived = expand(hashes.SHA512(), dek, b"c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM\x00" + salt + context, 76)
    if not hmac.compare_digest(derived[44:], commitment):
        fail("the key commitment does not match (wrong key or context)")
    key, base_nonce = AESGCM(derived[:32]), int.from_bytes(derived[32:44], "big")
    plaintext, body, index = b"", payload[56:], 0
    while True:
        chunk, body = body[:16400], body[16400:]
        plaintext += key.decrypt((base_nonce ^ index).to_bytes(12, "big"), chunk, None)
        if len(chunk) < 16400:
            break
        index += 1
    print(plaintext.hex())


if __name__ == "__main__":
    if len(sys.argv) != 6:
        fail(__doc__.strip().splitlines()[-3])
    main(*sys.argv[1:])
