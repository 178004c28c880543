// The references, written as a careful C-level caller would: one keyed context reused, output into a
// buffer the caller owns, nothing else. They are the upper bound SaMDKit is measured against.

import BenchmarkSupport
import CReference
import SaMDCrypto

/// One AEAD called directly: seal into and open from caller buffers (ciphertext ‖ tag).
protocol RawAEAD: AnyObject {
    func seal(_ plaintext: [UInt8], into output: inout [UInt8])
    /// False when the tag does not verify.
    func open(_ sealed: [UInt8], into output: inout [UInt8]) -> Bool
}

extension RawAEAD {
    func check(_ sealed: [UInt8], opensTo plaintext: [UInt8]) throws {
        var opened = [UInt8](repeating: 0, count: plaintext.count)
        try BenchmarkCheck.that(self.open(sealed, into: &opened), "the raw output does not open")
        try BenchmarkCheck.equal(opened, plaintext)
    }
}

/// AES-256-GCM on OpenSSL EVP with one keyed context: per message only the nonce is set.
final class RawAESGCM: RawAEAD {
    private let encrypt: OpaquePointer
    private let decrypt: OpaquePointer
    private let nonce = [UInt8](repeating: 7, count: 12)

    init() throws {
        let key = try SecureRandom.bytes(count: 32)
        guard let encrypt = EVP_CIPHER_CTX_new(), let decrypt = EVP_CIPHER_CTX_new() else {
            fatalError("EVP_CIPHER_CTX_new")
        }
        guard
            EVP_EncryptInit_ex2(encrypt, EVP_aes_256_gcm(), key, nil, nil) == 1,
            EVP_DecryptInit_ex2(decrypt, EVP_aes_256_gcm(), key, nil, nil) == 1
        else { fatalError("EVP_*Init_ex2") }
        self.encrypt = encrypt
        self.decrypt = decrypt
    }

    deinit {
        EVP_CIPHER_CTX_free(self.encrypt)
        EVP_CIPHER_CTX_free(self.decrypt)
    }

    /// ciphertext ‖ tag into `output` (plaintext count + 16 bytes).
    func seal(_ plaintext: [UInt8], into output: inout [UInt8]) {
        let count = plaintext.count
        var length: Int32 = 0
        output.withUnsafeMutableBufferPointer { output in
            guard
                EVP_EncryptInit_ex2(self.encrypt, nil, nil, self.nonce, nil) == 1,
                EVP_EncryptUpdate(self.encrypt, output.baseAddress, &length, plaintext, Int32(count)) == 1,
                EVP_EncryptFinal_ex(self.encrypt, output.baseAddress! + count, &length) == 1,
                EVP_CIPHER_CTX_ctrl(self.encrypt, EVP_CTRL_AEAD_GET_TAG, 16, output.baseAddress! + count) == 1
            else { fatalError("EVP seal") }
        }
    }

    /// Opens ciphertext ‖ tag into `output`; false when the tag does not verify.
    func open(_ sealed: [UInt8], into output: inout [UInt8]) -> Bool {
        let count = sealed.count - 16
        var length: Int32 = 0
        return output.withUnsafeMutableBufferPointer { output in
            sealed.withUnsafeBufferPointer { sealed in
                guard
                    EVP_DecryptInit_ex2(self.decrypt, nil, nil, self.nonce, nil) == 1,
                    EVP_DecryptUpdate(self.decrypt, output.baseAddress, &length, sealed.baseAddress, Int32(count)) == 1,
                    EVP_CIPHER_CTX_ctrl(
                        self.decrypt, EVP_CTRL_AEAD_SET_TAG, 16,
                        UnsafeMutableRawPointer(mutating: sealed.baseAddress! + count)) == 1
                else { fatalError("EVP open") }
                return EVP_DecryptFinal_ex(self.decrypt, output.baseAddress! + count, &length) == 1
            }
        }
    }

    /// One message of `pieces` × `piece` bytes, encrypted piece by piece into `output` (reused; when `keep` is
    /// given, each piece is also kept there in order). Returns the tag.
    func sealStream(pieces: Int, piece: [UInt8], output: inout [UInt8], keep: UnsafeMutableRawBufferPointer? = nil)
        -> [UInt8]
    {
        var length: Int32 = 0
        var tag = [UInt8](repeating: 0, count: 16)
        output.withUnsafeMutableBufferPointer { output in
            guard EVP_EncryptInit_ex2(self.encrypt, nil, nil, self.nonce, nil) == 1 else { fatalError("EVP init") }
            for index in 0..<pieces {
                guard EVP_EncryptUpdate(self.encrypt, output.baseAddress, &length, piece, Int32(piece.count)) == 1
                else {
                    fatalError("EVP update")
                }
                if let keep {
                    (keep.baseAddress! + index * piece.count).copyMemory(
                        from: output.baseAddress!, byteCount: piece.count)
                }
            }
            guard
                EVP_EncryptFinal_ex(self.encrypt, output.baseAddress, &length) == 1,
                EVP_CIPHER_CTX_ctrl(self.encrypt, EVP_CTRL_AEAD_GET_TAG, 16, &tag) == 1
            else { fatalError("EVP final") }
        }
        return tag
    }

    /// Decrypts `ciphertext` piece by piece into `output` (reused: it ends holding the last piece) and checks
    /// `tag`. Like any raw streaming GCM, it releases plaintext before the tag is checked.
    func openStream(_ ciphertext: [UInt8], pieceByteCount: Int, tag: [UInt8], output: inout [UInt8]) -> Bool {
        var length: Int32 = 0
        var tag = tag
        return output.withUnsafeMutableBufferPointer { output in
            ciphertext.withUnsafeBufferPointer { ciphertext in
                guard EVP_DecryptInit_ex2(self.decrypt, nil, nil, self.nonce, nil) == 1 else { fatalError("EVP init") }
                var offset = 0
                while offset < ciphertext.count {
                    let count = min(pieceByteCount, ciphertext.count - offset)
                    guard
                        EVP_DecryptUpdate(
                            self.decrypt, output.baseAddress, &length, ciphertext.baseAddress! + offset, Int32(count))
                            == 1
                    else {
                        fatalError("EVP update")
                    }
                    offset += count
                }
                guard EVP_CIPHER_CTX_ctrl(self.decrypt, EVP_CTRL_AEAD_SET_TAG, 16, &tag) == 1 else {
                    fatalError("EVP tag")
                }
                var final: UInt8 = 0
                return EVP_DecryptFinal_ex(self.decrypt, &final, &length) == 1
            }
        }
    }

    /// One record sealed the way a caller without a key hierarchy would: a new context keyed for it, a
    /// random 96-bit nonce; nonce ‖ ciphertext ‖ tag into `output`.
    static func sealOneShot(_ plaintext: [UInt8], key: [UInt8], into output: inout [UInt8]) {
        let count = plaintext.count
        var length: Int32 = 0
        output.withUnsafeMutableBufferPointer { output in
            let base = output.baseAddress!
            guard let context = EVP_CIPHER_CTX_new() else { fatalError("EVP_CIPHER_CTX_new") }
            defer { EVP_CIPHER_CTX_free(context) }
            guard
                RAND_bytes(base, 12) == 1,
                EVP_EncryptInit_ex2(context, EVP_aes_256_gcm(), key, base, nil) == 1,
                EVP_EncryptUpdate(context, base + 12, &length, plaintext, Int32(count)) == 1,
                EVP_EncryptFinal_ex(context, base + 12 + count, &length) == 1,
                EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_GET_TAG, 16, base + 12 + count) == 1
            else { fatalError("EVP one-shot seal") }
        }
    }
}

/// XChaCha20-Poly1305 on libsodium's one-shot API (it has no keyed context to reuse).
final class RawXChaCha20Poly1305: RawAEAD {
    private let key: [UInt8]
    private let nonce = [UInt8](repeating: 7, count: 24)

    init() throws {
        guard sodium_init() >= 0 else { fatalError("sodium_init") }
        self.key = try SecureRandom.bytes(count: 32)
    }

    func seal(_ plaintext: [UInt8], into output: inout [UInt8]) {
        var length: UInt64 = 0
        guard
            crypto_aead_xchacha20poly1305_ietf_encrypt(
                &output, &length, plaintext, UInt64(plaintext.count), nil, 0, nil, self.nonce, self.key) == 0
        else {
            fatalError("libsodium seal")
        }
    }

    func open(_ sealed: [UInt8], into output: inout [UInt8]) -> Bool {
        var length: UInt64 = 0
        return crypto_aead_xchacha20poly1305_ietf_decrypt(
            &output, &length, nil, sealed, UInt64(sealed.count), nil, 0, self.nonce, self.key) == 0
    }
}
