// HMAC-SHA-256 inside the token (CKM_SHA256_HMAC) with a token-held generic secret.

import CSaMDShims

extension PKCS11Token {
    /// The length of an HMAC-SHA-256 code, in bytes.
    package static let authenticationCodeBytes = 32
    /// The longest message ``authenticationCode(key:message:)`` takes, in bytes (16 MiB).
    package static let maximumMessageBytes = 1 << 24

    /// HMAC-SHA-256 of `message` computed inside the token with `key` (a generic secret from
    /// ``generateHMACKey(label:id:)``; `C_SignInit`/`C_Sign`, `CKM_SHA256_HMAC`).
    /// - Returns: the 32-byte code.
    /// - Throws: ``PKCS11Error/Code/invalidInput`` for a message over ``maximumMessageBytes``;
    ///   ``PKCS11Error/Code/mechanismUnsupported``; ``PKCS11Error/Code/objectNotFound``; another mapped `CK_RV`.
    /// - SeeAlso: PKCS#11 v2.40 Current Mechanisms §2.22.5 (`CKM_SHA256_HMAC`); RFC 2104; FIPS 198-1.
    package func authenticationCode(key: PKCS11SecretKey, message: some PKCS11Bytes) throws -> [UInt8] {
        let messageCount = message.withUnsafeBytes(\.count)
        guard messageCount <= Self.maximumMessageBytes else {
            throw PKCS11Error(.invalidInput, "a message of \(messageCount) bytes exceeds \(Self.maximumMessageBytes)")
        }
        return try self.withSession { session in
            var mechanism = CK_MECHANISM(mechanism: CKM_SHA256_HMAC, pParameter: nil, ulParameterLen: 0)
            try self.check(
                "C_SignInit (CKM_SHA256_HMAC) with \(PKCS11Text.escaped(key.label))",
                self.functions.pointee.C_SignInit(session, &mechanism, key.handle))
            var code = [UInt8](repeating: 0, count: Self.authenticationCodeBytes)
            var codeCount = CK_ULONG(code.count)
            let result = message.withUnsafeBytes { input in
                self.functions.pointee.C_Sign(
                    session, PKCS11Token.mutableBytes(input), CK_ULONG(messageCount), &code, &codeCount)
            }
            try self.check("C_Sign (CKM_SHA256_HMAC) with \(PKCS11Text.escaped(key.label))", result)
            guard codeCount == CK_ULONG(Self.authenticationCodeBytes) else {
                throw PKCS11Error(
                    .moduleFailure, "C_Sign (CKM_SHA256_HMAC) returned \(codeCount) bytes, not \(code.count)")
            }
            return code
        }
    }

    /// Whether `code` is the HMAC-SHA-256 of `message` under `key`, checked inside the token (`C_Verify`, which
    /// compares in the token).
    /// - Returns: `false` for a code that does not verify or is not 32 bytes (`CKR_SIGNATURE_INVALID`,
    ///   `CKR_SIGNATURE_LEN_RANGE`).
    /// - Throws: as ``authenticationCode(key:message:)``.
    package func verifyAuthenticationCode(key: PKCS11SecretKey, message: some PKCS11Bytes, code: [UInt8]) throws
        -> Bool
    {
        let messageCount = message.withUnsafeBytes(\.count)
        guard messageCount <= Self.maximumMessageBytes else {
            throw PKCS11Error(.invalidInput, "a message of \(messageCount) bytes exceeds \(Self.maximumMessageBytes)")
        }
        guard code.count == Self.authenticationCodeBytes else { return false }
        return try self.withSession { session in
            var mechanism = CK_MECHANISM(mechanism: CKM_SHA256_HMAC, pParameter: nil, ulParameterLen: 0)
            try self.check(
                "C_VerifyInit (CKM_SHA256_HMAC) with \(PKCS11Text.escaped(key.label))",
                self.functions.pointee.C_VerifyInit(session, &mechanism, key.handle))
            let result = message.withUnsafeBytes { input in
                code.withUnsafeBytes { codeBytes in
                    self.functions.pointee.C_Verify(
                        session, PKCS11Token.mutableBytes(input), CK_ULONG(messageCount),
                        PKCS11Token.mutableBytes(codeBytes), CK_ULONG(codeBytes.count))
                }
            }
            if result == CKR_SIGNATURE_INVALID || result == CKR_SIGNATURE_LEN_RANGE { return false }
            try self.check("C_Verify (CKM_SHA256_HMAC) with \(PKCS11Text.escaped(key.label))", result)
            return true
        }
    }
}
