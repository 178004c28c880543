#!/usr/bin/env python3
"""An independent reader of a SaMDKit key store and of one envelope sealed under a subject key, written from
KeyStoreFormat.md and EnvelopeFormat.md alone (no SaMDKit code): Python `cryptography` (HKDF-Expand, HMAC,
AES-KWP, AES-GCM) and `argon2-cffi` (Argon2id).

A key store whose KEKs are in a PKCS#11 token cannot be opened without the token; --token-store checks the shape
of its documents instead, and writes the version 2 MAC input for the caller to have the token's HMAC key sign.

usage: keystore_reader.py STORE_DIRECTORY PASSPHRASE_FILE SUBJECT ENVELOPE_FILE CONTEXT_JSON
       keystore_reader.py --token-store STORE_DIRECTORY MAC_INPUT_FILE
The first prints the envelope's plaintext in hex on standard output; the second prints what it found (token,
store id, module path, KEK versions, subject files) and the stored MAC in hex. Both exit 1 (with a reason on
standard error) when anything does not authenticate or is out of shape.
"""
import base64, hashlib, hmac, json, os, re, struct, sys, unicodedata
from argon2.low_level import hash_secret_raw, Type
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


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
    elif store["format"] in ("samd-keystore-v2", "samd-keystore-v3"):  # v3: the same shape and MAC input
        if store["custody"]["type"] != "passphrase":
            fail("not a passphrase custody")
        kdf = store["custody"]["kdf"]
    else:
        fail("not a samd-keystore-v1, -v2 or -v3 store")
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
        mac_input = (store["format"].encode("ascii") + b"\x00" + field(b"passphrase") + field(kdf["algorithm"].encode("utf-8"))
                     + struct.pack(">I", kdf["iterations"]) + struct.pack(">Q", kdf["memory"]) + field(salt)
                     + struct.pack(">Q", len(state_bytes)) + state_bytes)
    if not hmac.compare_digest(hmac.new(mac_key, mac_input, hashlib.sha256).digest(), b64(store["mac"])):
        fail("wrong passphrase, or keystore.json was modified")
    state = json.loads(state_bytes)

    index_key = aes_key_unwrap_with_padding(wrap_key, b64(state["indexKey"]))
    # Version 3: every live recipient key version unwraps under its KEK, bound to its version, KEK and public key,
    # and its private key is that public key's.
    for recipient in state.get("recipientKeys", []) if store["format"] == "samd-keystore-v3" else []:
        if recipient["state"] == "destroyed":
            continue
        kek_id = recipient["wrappedBy"]
        kek = aes_key_unwrap_with_padding(wrap_key, b64(next(
            k for k in state["keys"] if k["metadata"]["identifier"] == kek_id)["wrapped"]))
        public = b64(recipient["publicKey"])
        wrapped = b64(recipient["wrapped"])
        binding = (b"samd-recipient-key-v1\x00" + f"recipient:{recipient['version']}".encode("ascii") + b"\x00"
                   + f"{kek_id['name']}:{kek_id['version']}".encode("ascii") + b"\x00" + public)
        private = AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], binding)
        derived = X25519PrivateKey.from_private_bytes(private).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        if derived != public:
            fail(f"recipient:{recipient['version']} does not match its public key")
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


def token_store(directory, mac_input_file):
    """The documents of a PKCS#11 custody store, checked against KeyStoreFormat.md field by field."""
    store = json.load(open(f"{directory}/keystore.json", "rb"))
    if set(store) != {"format", "custody", "state", "mac"} or store["format"] not in ("samd-keystore-v2",
                                                                                        "samd-keystore-v3"):
        fail(f"not a samd-keystore-v2 or -v3 document of four fields: {sorted(store)}")
    custody = store["custody"]
    if set(custody) != {"type", "uri"} or custody["type"] != "pkcs11":
        fail(f"not a pkcs11 custody of two fields: {sorted(custody)}")
    uri = custody["uri"]
    if len(uri.encode("utf-8")) > 4096 or "pin-value" in uri.lower():
        fail("the token URI is over 4096 bytes or holds a PIN")
    # pkcs11:token=LABEL;id=%XX x 16?module-path=/ABSOLUTE (RFC 7512): the id every byte percent-encoded.
    match = re.fullmatch(r"pkcs11:token=([A-Za-z0-9._~%-]+);id=((?:%[0-9A-F]{2}){16})\?module-path=(/[A-Za-z0-9._~%/-]+)",
                         uri)
    if match is None:
        fail(f"the token URI is not pkcs11:token=…;id=<16 bytes>?module-path=/…: {uri!r}")
    unquote = lambda text: re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), text)
    label, module_path = unquote(match.group(1)), unquote(match.group(3))
    store_id = bytes(int(match.group(2)[i + 1:i + 3], 16) for i in range(0, 48, 3))
    state_bytes = b64(store["state"])
    mac = b64(store["mac"])
    if len(mac) != 32:
        fail("the MAC is not 32 bytes")
    state = json.loads(state_bytes)
    if set(state) - {"recipientKeys"} != {"generation", "indexKey", "keys", "minimumVersions"}:
        fail(f"the state's fields are {sorted(state)}")
    if len(b64(state["indexKey"])) != 12 + 32 + 16:
        fail("the wrapped index key is not IV (12) ‖ ciphertext (32) ‖ tag (16)")
    versions = []
    for key in state["keys"]:
        identifier = key["metadata"]["identifier"]
        text = f"{identifier['name']}:{identifier['version']}"
        if "wrapped" in key:
            fail(f"{text} has wrapped KEK material in a token store")
        if key["metadata"]["state"] == "destroyed":
            if "object" in key:
                fail(f"destroyed {text} still names a token object")
        elif key.get("object") != {"label": text, "id": store_id.hex()}:
            fail(f"{text} does not name the token object {text} of this store: {key.get('object')}")
        versions.append(text)
    subjects = 0
    for entry in sorted(os.listdir(f"{directory}/subjects")):
        if not re.fullmatch(r"s-[0-9a-f]{32}\.json", entry):
            continue
        subject = json.load(open(f"{directory}/subjects/{entry}", "rb"))
        if subject["id"] + ".json" != entry:
            fail(f"{entry} names another subject key")
        for version in subject["versions"]:
            kek = version["wrappedBy"]
            if f"{kek['name']}:{kek['version']}" not in versions:
                fail(f"{entry} is wrapped under a KEK version the store does not have")
            if version["state"] != "destroyed" and len(b64(version["wrapped"])) != 60:
                fail(f"{entry} version {version['version']}: the wrapped key is not 60 bytes")
        subjects += 1

    def field(data):
        return struct.pack(">H", len(data)) + data
    mac_input = (store["format"].encode("ascii") + b"\x00" + field(b"pkcs11") + field(uri.encode("utf-8"))
                 + struct.pack(">Q", len(state_bytes)) + state_bytes)
    open(mac_input_file, "wb").write(mac_input)
    print(f"token {label}\nid {store_id.hex()}\nmodule-path {module_path}\nkeks {' '.join(versions)}\n"
          f"subjects {subjects}\nmac {mac.hex()}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--token-store":
        token_store(sys.argv[2], sys.argv[3])
        sys.exit(0)
    if len(sys.argv) != 6:
        fail("usage: keystore_reader.py STORE_DIRECTORY PASSPHRASE_FILE SUBJECT ENVELOPE_FILE CONTEXT_JSON, "
             "or keystore_reader.py --token-store STORE_DIRECTORY MAC_INPUT_FILE")
    main(*sys.argv[1:])
