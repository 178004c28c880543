// AES-GCM inside the token (CKM_AES_GCM) under a token-held AES key: how subject keys are wrapped under a KEK.

import CSaMDOpenSSL
import CSaMDShims

extension PKCS11Token {
    /// The IV length, in bytes (96 bits, NIST SP 800-38D §8.2's recommended length).
    package static let gcmIVBytes = 12
    /// The tag length, in bytes (128 bits).
    package static let gcmTagBytes = 16
    /// The longest plaintext ``encrypt(key:plaintext:associatedData:)`` takes, in bytes (64 KiB: keys, not records).
    package static let maximumGCMPlaintextBytes = 1 << 16
    /// The longest associated data accepted, in bytes (64 KiB).
    package static let maximumAssociatedDataBytes = 1 << 16

    /// Encrypts `plaintext` with AES-GCM inside the token under `key` (`C_EncryptInit`/`C_Encrypt`,
    /// `CKM_AES_GCM`). The 96-bit IV is drawn here from OpenSSL's DRBG (`RAND_bytes`), not by the token; the
    /// tag is 128 bits; `associatedData` is authenticated, not encrypted.
    ///
    /// - Returns: `IV (12 bytes) ‖ ciphertext (plaintext's length) ‖ tag (16 bytes)`.
    /// - Throws: ``PKCS11Error/Code/invalidInput`` for a plaintext over ``maximumGCMPlaintextBytes`` or
    ///   associated data over ``maximumAssociatedDataBytes``, or when `RAND_bytes` fails;
    ///   ``PKCS11Error/Code/mechanismUnsupported``; ``PKCS11Error/Code/objectNotFound``; another mapped `CK_RV`.
    /// - SeeAlso: PKCS#11 v2.40 Current Mechanisms §2.12.3 (`CK_GCM_PARAMS`, `ulIvBits` set to 96), NIST SP 800-38D.
    package func encrypt(key: PKCS11SecretKey, plaintext: some PKCS11Bytes, associatedData: some PKCS11Bytes) throws
        -> [UInt8]
    {
        let plaintextCount = plaintext.withUnsafeBytes(\.count)
        guard plaintextCount <= Self.maximumGCMPlaintextBytes else {
            throw PKCS11Error(
                .invalidInput, "a plaintext of \(plaintextCount) bytes exceeds \(Self.maximumGCMPlaintextBytes)")
        }
        var sealed = [UInt8](repeating: 0, count: Self.gcmIVBytes + plaintextCount + Self.gcmTagBytes)
        guard RAND_bytes(&sealed, Int32(Self.gcmIVBytes)) == 1 else {
            OpenSSLErrorQueue.clear()
            throw PKCS11Error(.invalidInput, "RAND_bytes could not draw an AES-GCM IV")
        }
        let iv = Array(sealed.prefix(Self.gcmIVBytes))
        try self.withGCMMechanism(key: key, iv: iv, associatedData: associatedData) { session, mechanism in
            try self.check(
                "C_EncryptInit (CKM_AES_GCM) with \(PKCS11Text.escaped(key.label))",
                self.functions.pointee.C_EncryptInit(session, mechanism, key.handle))
            let result = plaintext.withUnsafeBytes { input in
                sealed.withUnsafeMutableBufferPointer { output in
                    var outputCount = CK_ULONG(plaintextCount + Self.gcmTagBytes)
                    let result = self.functions.pointee.C_Encrypt(
                        session, PKCS11Token.mutableBytes(input), CK_ULONG(plaintextCount),
                        output.baseAddress! + Self.gcmIVBytes, &outputCount)
                    return result == CKR_OK && outputCount != CK_ULONG(plaintextCount + Self.gcmTagBytes)
                        ? CKR_ENCRYPTED_DATA_LEN_RANGE : result
                }
            }
            try self.check("C_Encrypt (CKM_AES_GCM) with \(PKCS11Text.escaped(key.label))", result)
        }
        return sealed
    }

    /// Decrypts `IV ‖ ciphertext ‖ tag` (as ``encrypt(key:plaintext:associatedData:)`` returns it) inside the
    /// token under `key`, into guarded memory (`Secret` is SaMDCrypto's `SecureBytes`): the module writes the
    /// plaintext into a guarded buffer of the size it asks for, from which a value of the plaintext's size is copied;
    /// it never passes through ordinary memory.
    ///
    /// - Throws: ``PKCS11Error/Code/authenticationFailed`` when the tag does not verify (a changed ciphertext,
    ///   IV, tag or associated data, or another key; SoftHSM 2.6 answers it with `CKR_GENERAL_ERROR`);
    ///   ``PKCS11Error/Code/invalidInput`` when `sealed` is shorter than 28 bytes or longer than the largest
    ///   plaintext allows, or associated data is too long;
    ///   ``PKCS11Error/Code/mechanismUnsupported``; ``PKCS11Error/Code/objectNotFound``; another mapped `CK_RV`.
    /// - SeeAlso: PKCS#11 v2.40 Current Mechanisms §2.12.3; NIST SP 800-38D §7.2.
    package func decrypt<Secret: PKCS11SecretBytes>(
        key: PKCS11SecretKey, sealed: some PKCS11Bytes, associatedData: some PKCS11Bytes,
        as type: Secret.Type = Secret.self
    ) throws -> Secret {
        let sealedCount = sealed.withUnsafeBytes(\.count)
        let overhead = Self.gcmIVBytes + Self.gcmTagBytes
        guard sealedCount >= overhead, sealedCount - overhead <= Self.maximumGCMPlaintextBytes else {
            throw PKCS11Error(
                .invalidInput,
                "an AES-GCM value of \(sealedCount) bytes is outside \(overhead)…"
                    + "\(overhead + Self.maximumGCMPlaintextBytes) (IV, ciphertext, tag)")
        }
        let iv = sealed.withUnsafeBytes { Array($0.prefix(Self.gcmIVBytes)) }
        let plaintextCount = sealedCount - overhead
        return try self.withGCMMechanism(key: key, iv: iv, associatedData: associatedData) { session, mechanism in
            try self.check(
                "C_DecryptInit (CKM_AES_GCM) with \(PKCS11Text.escaped(key.label))",
                self.functions.pointee.C_DecryptInit(session, mechanism, key.handle))
            let operation = "C_Decrypt (CKM_AES_GCM) with \(PKCS11Text.escaped(key.label))"
            let ciphertextCount = CK_ULONG(sealedCount - Self.gcmIVBytes)
            return try sealed.withUnsafeBytes { sealedBytes in
                let input = PKCS11Token.mutableBytes(UnsafeRawBufferPointer(rebasing: sealedBytes[Self.gcmIVBytes...]))
                // The output's size first: SoftHSM 2.6 asks for room for the tag too, more than the plaintext.
                var capacity: CK_ULONG = 0
                try self.check(
                    operation, self.functions.pointee.C_Decrypt(session, input, ciphertextCount, nil, &capacity))
                guard capacity >= CK_ULONG(plaintextCount), capacity <= ciphertextCount + 64 else {
                    throw PKCS11Error(.moduleFailure, "\(operation): the module asks for \(capacity) bytes of output")
                }
                // Decrypted into guarded memory, then the plaintext's bytes copied into a value of their own size.
                var outputCount = capacity
                let work = try Secret(unsafeUninitializedCount: Int(capacity)) { output in
                    var scratch: UInt8 = 0
                    let result = withUnsafeMutablePointer(to: &scratch) { scratchPointer in
                        let target = output.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? scratchPointer
                        return self.functions.pointee.C_Decrypt(session, input, ciphertextCount, target, &outputCount)
                    }
                    guard result == CKR_OK else {
                        if Self.isTagFailure(result) {
                            throw PKCS11Error(
                                .authenticationFailed,
                                "\(operation): the tag did not verify (\(PKCS11ReturnValue.describe(result)))",
                                returnValue: result)
                        }
                        throw PKCS11Error.call(operation, result)
                    }
                }
                guard outputCount == CK_ULONG(plaintextCount) else {
                    throw PKCS11Error(
                        .moduleFailure, "\(operation): \(outputCount) bytes of plaintext, not \(plaintextCount)")
                }
                return try work.withUnsafeBytes { decrypted in
                    try Secret(unsafeUninitializedCount: plaintextCount) { output in
                        output.copyMemory(from: UnsafeRawBufferPointer(rebasing: decrypted.prefix(plaintextCount)))
                    }
                }
            }
        }
    }

    /// Whether the decrypting `C_Decrypt` of `CKM_AES_GCM` (after `C_DecryptInit` and the size query succeeded)
    /// says the tag did not verify: `CKR_ENCRYPTED_DATA_INVALID` (PKCS#11 v2.40), `CKR_AEAD_DECRYPT_FAILED` (v3.0),
    /// or `CKR_GENERAL_ERROR`, which SoftHSM 2.6 returns when its final GCM step (OpenSSL's tag check) fails —
    /// later SoftHSM versions return `CKR_ENCRYPTED_DATA_INVALID`. The message keeps the `CK_RV` the module gave.
    static func isTagFailure(_ result: CK_RV) -> Bool {
        result == CKR_ENCRYPTED_DATA_INVALID || result == PKCS11Constants.aeadDecryptFailed
            || result == CKR_GENERAL_ERROR
    }

    /// Calls `body` with a session and a `CKM_AES_GCM` mechanism whose `CK_GCM_PARAMS` point at `iv` and
    /// `associatedData` for the length of the call.
    private func withGCMMechanism<Result>(
        key: PKCS11SecretKey, iv: [UInt8], associatedData: some PKCS11Bytes,
        _ body: (CK_SESSION_HANDLE, UnsafeMutablePointer<CK_MECHANISM>) throws -> Result
    ) throws -> Result {
        let associatedDataCount = associatedData.withUnsafeBytes(\.count)
        guard associatedDataCount <= Self.maximumAssociatedDataBytes else {
            throw PKCS11Error(
                .invalidInput,
                "associated data of \(associatedDataCount) bytes exceeds \(Self.maximumAssociatedDataBytes)")
        }
        return try self.withSession { session in
            try iv.withUnsafeBytes { ivBytes in
                try associatedData.withUnsafeBytes { aad in
                    var parameters = CK_GCM_PARAMS(
                        pIv: PKCS11Token.mutableBytes(ivBytes), ulIvLen: CK_ULONG(ivBytes.count),
                        ulIvBits: CK_ULONG(ivBytes.count * 8),
                        pAAD: aad.isEmpty ? nil : PKCS11Token.mutableBytes(aad), ulAADLen: CK_ULONG(aad.count),
                        ulTagBits: CK_ULONG(Self.gcmTagBytes * 8))
                    return try withUnsafeMutablePointer(to: &parameters) { parametersPointer in
                        var mechanism = CK_MECHANISM(
                            mechanism: CKM_AES_GCM, pParameter: UnsafeMutableRawPointer(parametersPointer),
                            ulParameterLen: CK_ULONG(MemoryLayout<CK_GCM_PARAMS>.size))
                        return try body(session, &mechanism)
                    }
                }
            }
        }
    }

    /// A byte pointer for a PKCS#11 input (the C prototypes take non-const pointers; modules do not write
    /// through them). Never `NULL`, even for an empty input, as some modules take `NULL` for a size query.
    static func mutableBytes(_ bytes: UnsafeRawBufferPointer) -> UnsafeMutablePointer<UInt8> {
        guard let base = bytes.baseAddress else { return Self.emptyInput }
        return UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: UInt8.self))
    }

    /// One byte that stands for an empty input.
    nonisolated(unsafe) private static let emptyInput = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
}
