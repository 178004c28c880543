// Secret-key objects in the token: generated inside it, found by label, destroyed, their attributes read back.

import CSaMDShims

/// A secret-key object of a token (`CKO_SECRET_KEY`): a handle valid while the object exists, with its label,
/// identifier and key type.
package struct PKCS11SecretKey: Sendable, Hashable {
    /// The kinds of secret key SaMDKit makes.
    package enum KeyType: Sendable, Hashable {
        /// `CKK_AES`: a KEK for AES-GCM in the token.
        case aes
        /// `CKK_GENERIC_SECRET`: an HMAC key.
        case genericSecret
        /// Any other `CK_KEY_TYPE`.
        case other(UInt)
    }

    /// The object's handle (`CK_OBJECT_HANDLE`) in this process.
    package let handle: UInt
    /// `CKA_LABEL`, UTF-8.
    package let label: String
    /// `CKA_ID`.
    package let id: [UInt8]
    /// `CKA_KEY_TYPE`.
    package let keyType: KeyType
}

/// The attributes of a secret-key object that say whether its value can leave the token
/// (PKCS#11 v2.40 Base §4.7 and §4.9), read back for checks.
package struct PKCS11SecurityAttributes: Sendable, Hashable {
    /// `CKA_TOKEN`: a token object, kept after the session closes.
    package let token: Bool
    /// `CKA_PRIVATE`: only a logged-in user sees it.
    package let isPrivate: Bool
    /// `CKA_SENSITIVE`: its value cannot be read in plaintext.
    package let sensitive: Bool
    /// `CKA_ALWAYS_SENSITIVE`: it has been sensitive since it was made.
    package let alwaysSensitive: Bool
    /// `CKA_EXTRACTABLE`: it could be wrapped out of the token.
    package let extractable: Bool
    /// `CKA_NEVER_EXTRACTABLE`: it has never been extractable.
    package let neverExtractable: Bool
    /// `CKA_LOCAL`: generated in the token (not imported).
    package let local: Bool
    /// `CKA_VALUE_LEN`: the key's length, in bytes (0 for a private key, which has none).
    package let valueLengthBytes: Int
}

extension PKCS11Token {
    /// The longest `CKA_LABEL` accepted, in bytes of UTF-8.
    package static let maximumLabelBytes = 255
    /// The longest `CKA_ID` accepted, in bytes.
    package static let maximumIDBytes = 255
    /// The length of every key SaMDKit generates, in bytes (AES-256; a 256-bit HMAC-SHA-256 key).
    package static let keyBytes = 32

    /// Generates an AES-256 key inside the token (`C_GenerateKey`, `CKM_AES_KEY_GEN`, `CKA_VALUE_LEN` 32): a
    /// token object (`CKA_TOKEN`), private, sensitive, not extractable, for `CKA_ENCRYPT` and `CKA_DECRYPT` only
    /// (no wrap, unwrap, sign, verify or derive). Its value never leaves the token.
    /// - Parameters:
    ///   - label: `CKA_LABEL`, 1…``maximumLabelBytes`` bytes of UTF-8, unused by any other secret key.
    ///   - id: `CKA_ID`, 0…``maximumIDBytes`` bytes.
    /// - Throws: ``PKCS11Error/Code/invalidInput`` for a label or id out of bounds or a label already used;
    ///   ``PKCS11Error/Code/mechanismUnsupported``; ``PKCS11Error/Code/notLoggedIn``; another mapped `CK_RV`.
    /// - SeeAlso: PKCS#11 v2.40 Current Mechanisms §2.8.2 (`CKM_AES_KEY_GEN`).
    package func generateAESKey(label: String, id: [UInt8]) throws -> PKCS11SecretKey {
        try self.generateSecretKey(
            label: label, id: id, mechanism: CKM_AES_KEY_GEN, keyType: CKK_AES,
            usage: [CKA_ENCRYPT, CKA_DECRYPT], type: .aes)
    }

    /// Generates a 32-byte generic secret inside the token (`CKM_GENERIC_SECRET_KEY_GEN`, `CKK_GENERIC_SECRET`)
    /// for HMAC-SHA-256: the same security attributes as ``generateAESKey(label:id:)``, for `CKA_SIGN` and
    /// `CKA_VERIFY` only.
    /// - Throws: as ``generateAESKey(label:id:)``.
    /// - SeeAlso: PKCS#11 v2.40 Current Mechanisms §2.33 (`CKM_GENERIC_SECRET_KEY_GEN`).
    package func generateHMACKey(label: String, id: [UInt8]) throws -> PKCS11SecretKey {
        try self.generateSecretKey(
            label: label, id: id, mechanism: CKM_GENERIC_SECRET_KEY_GEN, keyType: CKK_GENERIC_SECRET,
            usage: [CKA_SIGN, CKA_VERIFY], type: .genericSecret)
    }

    private func generateSecretKey(
        label: String, id: [UInt8], mechanism: CK_MECHANISM_TYPE, keyType: CK_KEY_TYPE,
        usage: Set<CK_ATTRIBUTE_TYPE>, type: PKCS11SecretKey.KeyType
    ) throws -> PKCS11SecretKey {
        try Self.checkLabel(label)
        guard id.count <= Self.maximumIDBytes else {
            throw PKCS11Error(.invalidInput, "a CKA_ID of \(id.count) bytes exceeds \(Self.maximumIDBytes)")
        }
        return try self.withSession { session in
            guard try self.findSecretKeyHandles(label: label, session: session).isEmpty else {
                throw PKCS11Error(
                    .invalidInput,
                    "token \(PKCS11Text.escaped(self.label)) already holds a secret key labelled "
                        + PKCS11Text.escaped(label))
            }
            let template = PKCS11Template()
            template.append(CKA_CLASS, CKO_SECRET_KEY)
            template.append(CKA_KEY_TYPE, keyType)
            template.append(CKA_VALUE_LEN, CK_ULONG(Self.keyBytes))
            template.append(CKA_TOKEN, true)
            template.append(CKA_PRIVATE, true)
            template.append(CKA_SENSITIVE, true)
            template.append(CKA_EXTRACTABLE, false)
            for attribute in [CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN, CKA_VERIFY, CKA_WRAP, CKA_UNWRAP, CKA_DERIVE] {
                template.append(attribute, usage.contains(attribute))
            }
            template.append(CKA_LABEL, Array(label.utf8))
            template.append(CKA_ID, id)
            var mechanismValue = CK_MECHANISM(mechanism: mechanism, pParameter: nil, ulParameterLen: 0)
            var handle: CK_OBJECT_HANDLE = 0
            let result = template.withAttributes { attributes, count in
                self.functions.pointee.C_GenerateKey(session, &mechanismValue, attributes, count, &handle)
            }
            try self.check(
                "C_GenerateKey (\(Self.mechanismName(mechanism))) of \(PKCS11Text.escaped(label))", result)
            return PKCS11SecretKey(handle: handle, label: label, id: id, keyType: type)
        }
    }

    /// The one secret key labelled `label` (`C_FindObjects` on `CKO_SECRET_KEY` and `CKA_LABEL`, and `CKA_ID` when
    /// `id` is given: objects of the same label and another id are not considered).
    /// - Throws: ``PKCS11Error/Code/objectNotFound`` when there is none; ``PKCS11Error/Code/objectAmbiguous``
    ///   when there are several; ``PKCS11Error/Code/invalidInput`` for a label out of bounds; another mapped
    ///   `CK_RV`.
    package func findSecretKey(label: String, id: [UInt8]? = nil) throws -> PKCS11SecretKey {
        try Self.checkLabel(label)
        if let id, id.count > Self.maximumIDBytes {
            throw PKCS11Error(.invalidInput, "a CKA_ID is at most \(Self.maximumIDBytes) bytes")
        }
        return try self.withSession { session in
            let handles = try self.findHandles(class: CKO_SECRET_KEY, label: label, id: id, session: session)
            guard let handle = handles.first else {
                throw PKCS11Error(
                    .objectNotFound,
                    "token \(PKCS11Text.escaped(self.label)) holds no secret key labelled \(PKCS11Text.escaped(label))")
            }
            guard handles.count == 1 else {
                throw PKCS11Error(
                    .objectAmbiguous,
                    "token \(PKCS11Text.escaped(self.label)) holds several secret keys labelled "
                        + PKCS11Text.escaped(label))
            }
            let template = PKCS11Template()
            template.append(CKA_KEY_TYPE, CK_ULONG(0))
            template.append(CKA_ID, [UInt8](repeating: 0, count: Self.maximumIDBytes))
            let result = template.withAttributes { attributes, count in
                self.functions.pointee.C_GetAttributeValue(session, handle, attributes, count)
            }
            try self.check("C_GetAttributeValue (CKA_KEY_TYPE, CKA_ID) of \(PKCS11Text.escaped(label))", result)
            let keyType: PKCS11SecretKey.KeyType =
                switch template.unsignedValue(at: 0) {
                case CKK_AES: .aes
                case CKK_GENERIC_SECRET: .genericSecret
                case let other: .other(other)
                }
            return PKCS11SecretKey(handle: handle, label: label, id: template.bytes(at: 1), keyType: keyType)
        }
    }

    /// Up to two handles of secret keys labelled `label`: enough to tell none, one and several apart.
    private func findSecretKeyHandles(label: String, session: CK_SESSION_HANDLE) throws -> [CK_OBJECT_HANDLE] {
        try self.findHandles(class: CKO_SECRET_KEY, label: label, session: session)
    }

    /// Destroys `key` in the token (`C_DestroyObject`): its value is gone for good (crypto-shredding).
    /// - Throws: ``PKCS11Error/Code/objectNotFound`` when it no longer exists; another mapped `CK_RV`.
    package func destroyObject(_ key: PKCS11SecretKey) throws {
        try self.withSession { session in
            try self.check(
                "C_DestroyObject of \(PKCS11Text.escaped(key.label))",
                self.functions.pointee.C_DestroyObject(session, key.handle))
        }
    }

    /// Reads back the security attributes of `key` (`C_GetAttributeValue`).
    /// - Throws: ``PKCS11Error/Code/objectNotFound`` when it no longer exists; another mapped `CK_RV`.
    package func securityAttributes(of key: PKCS11SecretKey) throws -> PKCS11SecurityAttributes {
        try self.securityAttributes(handle: key.handle, label: key.label, readsValueLength: true)
    }

    /// The security flags of the object `handle` and, when `readsValueLength` (a secret key), its
    /// `CKA_VALUE_LEN`; otherwise ``PKCS11SecurityAttributes/valueLengthBytes`` is 0.
    func securityAttributes(handle: CK_OBJECT_HANDLE, label: String, readsValueLength: Bool) throws
        -> PKCS11SecurityAttributes
    {
        try self.withSession { session in
            let template = PKCS11Template()
            let flags = [
                CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, CKA_ALWAYS_SENSITIVE, CKA_EXTRACTABLE, CKA_NEVER_EXTRACTABLE,
                CKA_LOCAL,
            ]
            for flag in flags { template.append(flag, false) }
            if readsValueLength { template.append(CKA_VALUE_LEN, CK_ULONG(0)) }
            let result = template.withAttributes { attributes, count in
                self.functions.pointee.C_GetAttributeValue(session, handle, attributes, count)
            }
            try self.check("C_GetAttributeValue (security attributes) of \(PKCS11Text.escaped(label))", result)
            return PKCS11SecurityAttributes(
                token: template.boolValue(at: 0), isPrivate: template.boolValue(at: 1),
                sensitive: template.boolValue(at: 2), alwaysSensitive: template.boolValue(at: 3),
                extractable: template.boolValue(at: 4), neverExtractable: template.boolValue(at: 5),
                local: template.boolValue(at: 6),
                valueLengthBytes: readsValueLength ? Int(clamping: template.unsignedValue(at: 7)) : 0)
        }
    }

    static func checkLabel(_ label: String) throws {
        guard !label.isEmpty, label.utf8.count <= Self.maximumLabelBytes else {
            throw PKCS11Error(
                .invalidInput,
                "a CKA_LABEL is 1 to \(Self.maximumLabelBytes) bytes of UTF-8: \(PKCS11Text.escaped(label, limit: 64))")
        }
    }

    static func mechanismName(_ mechanism: CK_MECHANISM_TYPE) -> String {
        switch mechanism {
        case CKM_AES_KEY_GEN: "CKM_AES_KEY_GEN"
        case CKM_GENERIC_SECRET_KEY_GEN: "CKM_GENERIC_SECRET_KEY_GEN"
        case CKM_AES_GCM: "CKM_AES_GCM"
        case CKM_SHA256_HMAC: "CKM_SHA256_HMAC"
        default: "CK_MECHANISM_TYPE 0x\(String(mechanism, radix: 16))"
        }
    }
}

/// A `CK_ATTRIBUTE` array whose values live as long as the template.
final class PKCS11Template {
    private var attributes: [CK_ATTRIBUTE] = []
    private var values: [UnsafeMutableRawBufferPointer] = []

    deinit {
        for value in self.values { value.deallocate() }
    }

    private func append(_ type: CK_ATTRIBUTE_TYPE, byteCount: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Void) {
        let value = UnsafeMutableRawBufferPointer.allocate(byteCount: max(byteCount, 1), alignment: 8)
        value.initializeMemory(as: UInt8.self, repeating: 0)
        fill(value)
        self.values.append(value)
        self.attributes.append(CK_ATTRIBUTE(type: type, pValue: value.baseAddress, ulValueLen: CK_ULONG(byteCount)))
    }

    /// A `CK_BBOOL` attribute.
    func append(_ type: CK_ATTRIBUTE_TYPE, _ value: Bool) {
        self.append(type, byteCount: MemoryLayout<CK_BBOOL>.size) {
            $0.storeBytes(of: CK_BBOOL(value ? 1 : 0), as: CK_BBOOL.self)
        }
    }

    /// A `CK_ULONG` attribute (also `CK_OBJECT_CLASS`, `CK_KEY_TYPE`).
    func append(_ type: CK_ATTRIBUTE_TYPE, _ value: CK_ULONG) {
        self.append(type, byteCount: MemoryLayout<CK_ULONG>.size) { $0.storeBytes(of: value, as: CK_ULONG.self) }
    }

    /// A byte-array attribute (`CKA_LABEL`, `CKA_ID`); when reading, the capacity to read into.
    func append(_ type: CK_ATTRIBUTE_TYPE, _ value: [UInt8]) {
        self.append(type, byteCount: value.count) { $0.copyBytes(from: value) }
    }

    func withAttributes<Result>(_ body: (UnsafeMutablePointer<CK_ATTRIBUTE>, CK_ULONG) -> Result) -> Result {
        let count = CK_ULONG(self.attributes.count)
        return self.attributes.withUnsafeMutableBufferPointer { body($0.baseAddress!, count) }
    }

    func boolValue(at index: Int) -> Bool {
        self.attributes[index].ulValueLen == CK_ULONG(MemoryLayout<CK_BBOOL>.size)
            && self.values[index].load(as: CK_BBOOL.self) != 0
    }

    func unsignedValue(at index: Int) -> CK_ULONG {
        guard self.attributes[index].ulValueLen == CK_ULONG(MemoryLayout<CK_ULONG>.size) else { return 0 }
        return self.values[index].load(as: CK_ULONG.self)
    }

    func bytes(at index: Int) -> [UInt8] {
        let length = self.attributes[index].ulValueLen
        guard length != PKCS11Constants.unavailableInformation, length <= CK_ULONG(self.values[index].count) else {
            return []
        }
        return Array(self.values[index].prefix(Int(length)))
    }
}
