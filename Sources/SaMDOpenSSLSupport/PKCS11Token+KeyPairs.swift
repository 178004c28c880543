// EC key pairs generated inside the token (CKM_EC_KEY_PAIR_GEN, P-256): the private key never leaves it; the public
// key is read back (CKA_EC_POINT) and returned as a SubjectPublicKeyInfo built by OpenSSL.

import CSaMDOpenSSL
import CSaMDShims

/// A key pair of a token: the handles of its private and public key objects (valid while they exist), their common
/// label and identifier, and the public key.
package struct PKCS11KeyPair: Sendable, Hashable {
    /// The private key object's handle (`CK_OBJECT_HANDLE`) in this process.
    package let privateKeyHandle: UInt
    /// The public key object's handle in this process.
    package let publicKeyHandle: UInt
    /// `CKA_LABEL` of both objects, UTF-8.
    package let label: String
    /// `CKA_ID` of both objects.
    package let id: [UInt8]
    /// The public key as a DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7; for EC, RFC 5480 §2: id-ecPublicKey,
    /// namedCurve prime256v1, the uncompressed point): 91 bytes for P-256.
    package let subjectPublicKeyInfo: [UInt8]
}

extension PKCS11Token {
    /// The longest `CKA_EC_POINT` read back, in bytes: a DER OCTET STRING of an uncompressed P-256 point is 67.
    package static let maximumECPointBytes = 256
    /// The length of an uncompressed P-256 point (`04 ‖ X ‖ Y`), in bytes (SEC 1 v2 §2.3.3).
    package static let p256PointBytes = 65

    /// Generates an EC P-256 key pair inside the token (`C_GenerateKeyPair`, `CKM_EC_KEY_PAIR_GEN`).
    ///
    /// The private key is a token object, private, sensitive, never extractable, usable only to sign (`CKA_SIGN`;
    /// no decrypt, unwrap or derive): its value never leaves the token, which makes every signature (a TLS
    /// handshake's CertificateVerify through OpenSSL's `pkcs11` engine). The public key is a token object too
    /// (`CKA_EC_PARAMS` the DER OID of prime256v1, `CKA_VERIFY`), not private, so that the engine and
    /// `pkcs11-tool` find it beside the private key; both carry `label` and `id`.
    ///
    /// - Parameters:
    ///   - label: `CKA_LABEL`, 1…``maximumLabelBytes`` bytes of UTF-8, used by no other private key of the token.
    ///   - id: `CKA_ID`, 1…``maximumIDBytes`` bytes (what an RFC 7512 URI's `id=` names).
    /// - Returns: the pair, with its public key as a DER SubjectPublicKeyInfo.
    /// - Throws: ``PKCS11Error/Code/invalidInput`` for a label or id out of bounds or a label already used by a
    ///   private key; ``PKCS11Error/Code/mechanismUnsupported`` when the token cannot make P-256 keys;
    ///   ``PKCS11Error/Code/notLoggedIn``; ``PKCS11Error/Code/moduleFailure`` when the token answers a
    ///   `CKA_EC_POINT` that is not a DER OCTET STRING holding an uncompressed P-256 point on the curve (the pair
    ///   is then destroyed); another mapped `CK_RV`.
    /// - SeeAlso: PKCS#11 v2.40 Current Mechanisms §2.3.3 (`CKM_EC_KEY_PAIR_GEN`), §2.3.1 (EC key objects:
    ///   `CKA_EC_PARAMS`, `CKA_EC_POINT`); RFC 5480 §2 (EC SubjectPublicKeyInfo).
    package func generateECKeyPair(label: String, id: [UInt8]) throws -> PKCS11KeyPair {
        try Self.checkLabel(label)
        guard (1...Self.maximumIDBytes).contains(id.count) else {
            throw PKCS11Error(
                .invalidInput, "a key pair's CKA_ID is 1 to \(Self.maximumIDBytes) bytes, not \(id.count)")
        }
        let parameters = try ECPublicKeyEncoding.p256ParametersDER()
        return try self.withSession { session in
            guard try self.findHandles(class: CKO_PRIVATE_KEY, label: label, session: session).isEmpty else {
                throw PKCS11Error(
                    .invalidInput,
                    "token \(PKCS11Text.escaped(self.label)) already holds a private key labelled "
                        + PKCS11Text.escaped(label))
            }
            let publicTemplate = PKCS11Template()
            publicTemplate.append(CKA_CLASS, CKO_PUBLIC_KEY)
            publicTemplate.append(CKA_KEY_TYPE, CKK_EC)
            publicTemplate.append(CKA_TOKEN, true)
            publicTemplate.append(CKA_PRIVATE, false)
            publicTemplate.append(CKA_VERIFY, true)
            publicTemplate.append(CKA_ENCRYPT, false)
            publicTemplate.append(CKA_WRAP, false)
            publicTemplate.append(CKA_EC_PARAMS, parameters)
            publicTemplate.append(CKA_LABEL, Array(label.utf8))
            publicTemplate.append(CKA_ID, id)
            let privateTemplate = PKCS11Template()
            privateTemplate.append(CKA_CLASS, CKO_PRIVATE_KEY)
            privateTemplate.append(CKA_KEY_TYPE, CKK_EC)
            privateTemplate.append(CKA_TOKEN, true)
            privateTemplate.append(CKA_PRIVATE, true)
            privateTemplate.append(CKA_SENSITIVE, true)
            privateTemplate.append(CKA_EXTRACTABLE, false)
            privateTemplate.append(CKA_SIGN, true)
            privateTemplate.append(CKA_DECRYPT, false)
            privateTemplate.append(CKA_UNWRAP, false)
            privateTemplate.append(CKA_DERIVE, false)
            privateTemplate.append(CKA_LABEL, Array(label.utf8))
            privateTemplate.append(CKA_ID, id)
            var mechanism = CK_MECHANISM(mechanism: CKM_EC_KEY_PAIR_GEN, pParameter: nil, ulParameterLen: 0)
            var publicHandle: CK_OBJECT_HANDLE = 0
            var privateHandle: CK_OBJECT_HANDLE = 0
            let result = publicTemplate.withAttributes { publicAttributes, publicCount in
                privateTemplate.withAttributes { privateAttributes, privateCount in
                    self.functions.pointee.C_GenerateKeyPair(
                        session, &mechanism, publicAttributes, publicCount, privateAttributes, privateCount,
                        &publicHandle, &privateHandle)
                }
            }
            try self.check("C_GenerateKeyPair (CKM_EC_KEY_PAIR_GEN, P-256) of \(PKCS11Text.escaped(label))", result)
            do {
                let point = try self.ecPoint(of: publicHandle, label: label, session: session)
                return PKCS11KeyPair(
                    privateKeyHandle: privateHandle, publicKeyHandle: publicHandle, label: label, id: id,
                    subjectPublicKeyInfo: try ECPublicKeyEncoding.p256SubjectPublicKeyInfo(ecPointAttribute: point))
            } catch {
                // A pair whose public key cannot be read is of no use: leave nothing half made behind.
                _ = self.functions.pointee.C_DestroyObject(session, privateHandle)
                _ = self.functions.pointee.C_DestroyObject(session, publicHandle)
                throw error
            }
        }
    }

    /// Reads back the security attributes of the pair's private key (`C_GetAttributeValue`); its
    /// ``PKCS11SecurityAttributes/valueLengthBytes`` is 0.
    /// - Throws: ``PKCS11Error/Code/objectNotFound`` when it no longer exists; another mapped `CK_RV`.
    package func securityAttributes(ofPrivateKeyOf pair: PKCS11KeyPair) throws -> PKCS11SecurityAttributes {
        try self.securityAttributes(handle: pair.privateKeyHandle, label: pair.label, readsValueLength: false)
    }

    /// `CKA_EC_POINT` of a public key object, at most ``maximumECPointBytes`` bytes.
    private func ecPoint(of handle: CK_OBJECT_HANDLE, label: String, session: CK_SESSION_HANDLE) throws -> [UInt8] {
        let template = PKCS11Template()
        template.append(CKA_EC_POINT, [UInt8](repeating: 0, count: Self.maximumECPointBytes))
        let result = template.withAttributes { attributes, count in
            self.functions.pointee.C_GetAttributeValue(session, handle, attributes, count)
        }
        if result == CKR_BUFFER_TOO_SMALL {
            throw PKCS11Error(
                .moduleFailure,
                "the CKA_EC_POINT of \(PKCS11Text.escaped(label)) is longer than \(Self.maximumECPointBytes) bytes")
        }
        try self.check("C_GetAttributeValue (CKA_EC_POINT) of \(PKCS11Text.escaped(label))", result)
        return template.bytes(at: 0)
    }

    /// Up to two handles of objects of `class` (`CKO_SECRET_KEY`, `CKO_PRIVATE_KEY`…) labelled `label`
    /// (`C_FindObjects`): enough to tell none, one and several apart.
    func findHandles(
        class objectClass: CK_OBJECT_CLASS, label: String, id: [UInt8]? = nil, session: CK_SESSION_HANDLE
    ) throws -> [CK_OBJECT_HANDLE] {
        let template = PKCS11Template()
        template.append(CKA_CLASS, objectClass)
        template.append(CKA_LABEL, Array(label.utf8))
        if let id { template.append(CKA_ID, id) }
        let initResult = template.withAttributes { attributes, count in
            self.functions.pointee.C_FindObjectsInit(session, attributes, count)
        }
        try self.check("C_FindObjectsInit (\(Self.className(objectClass)) \(PKCS11Text.escaped(label)))", initResult)
        var handles = [CK_OBJECT_HANDLE](repeating: 0, count: 2)
        var found: CK_ULONG = 0
        let findResult = self.functions.pointee.C_FindObjects(session, &handles, CK_ULONG(handles.count), &found)
        let finalResult = self.functions.pointee.C_FindObjectsFinal(session)
        try self.check("C_FindObjects (\(Self.className(objectClass)) \(PKCS11Text.escaped(label)))", findResult)
        try self.check("C_FindObjectsFinal", finalResult)
        return Array(handles.prefix(Int(min(found, 2))))
    }

    /// How an error message names an object class.
    static func className(_ objectClass: CK_OBJECT_CLASS) -> String {
        switch objectClass {
        case CKO_SECRET_KEY: "secret key"
        case CKO_PRIVATE_KEY: "private key"
        case CKO_PUBLIC_KEY: "public key"
        default: "object of class 0x\(String(objectClass, radix: 16))"
        }
    }
}

/// EC public keys between PKCS#11's attributes and X.509's SubjectPublicKeyInfo, through OpenSSL.
package enum ECPublicKeyEncoding {
    /// The DER encoding of the prime256v1 OID (1.2.840.10045.3.1.7): `CKA_EC_PARAMS` of a P-256 key
    /// (PKCS#11 v2.40 Current Mechanisms §2.3.3: the DER of an ANSI X9.62 Parameters value, here a namedCurve).
    package static func p256ParametersDER() throws -> [UInt8] {
        guard let object = OBJ_nid2obj(NID_X9_62_prime256v1) else {
            throw PKCS11Error(.moduleFailure, "OpenSSL knows no prime256v1 OID")
        }
        let length = i2d_ASN1_OBJECT(object, nil)
        guard length > 0, length <= 32 else {
            throw PKCS11Error(.moduleFailure, "OpenSSL cannot encode the prime256v1 OID")
        }
        var bytes = [UInt8](repeating: 0, count: Int(length))
        let written = bytes.withUnsafeMutableBufferPointer { buffer in
            var cursor = buffer.baseAddress
            return i2d_ASN1_OBJECT(object, &cursor)
        }
        guard written == length else { throw PKCS11Error(.moduleFailure, "OpenSSL cannot encode the prime256v1 OID") }
        return bytes
    }

    /// The DER SubjectPublicKeyInfo of the P-256 public key whose `CKA_EC_POINT` is `attribute`: a DER OCTET
    /// STRING (nothing after it) holding the 65-byte uncompressed point, which OpenSSL checks is on the curve.
    /// - Throws: ``PKCS11Error/Code/moduleFailure`` for anything else.
    package static func p256SubjectPublicKeyInfo(ecPointAttribute attribute: [UInt8]) throws -> [UInt8] {
        guard attribute.count <= PKCS11Token.maximumECPointBytes else {
            throw PKCS11Error(.moduleFailure, "a CKA_EC_POINT of \(attribute.count) bytes")
        }
        let point: [UInt8] = try attribute.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            guard let octets = d2i_ASN1_OCTET_STRING(nil, &cursor, buffer.count) else {
                OpenSSLErrorQueue.clear()
                throw PKCS11Error(.moduleFailure, "the token's CKA_EC_POINT is not a DER OCTET STRING")
            }
            defer { ASN1_OCTET_STRING_free(octets) }
            guard let cursor, cursor == buffer.baseAddress! + buffer.count else {
                throw PKCS11Error(.moduleFailure, "the token's CKA_EC_POINT has bytes after its OCTET STRING")
            }
            let count = Int(ASN1_STRING_length(octets))
            guard count == PKCS11Token.p256PointBytes, let data = ASN1_STRING_get0_data(octets) else {
                throw PKCS11Error(
                    .moduleFailure,
                    "the token's CKA_EC_POINT holds \(count) bytes, not a \(PKCS11Token.p256PointBytes)-byte point")
            }
            return Array(UnsafeBufferPointer(start: data, count: count))
        }
        guard point.first == 0x04 else {
            throw PKCS11Error(.moduleFailure, "the token's CKA_EC_POINT is not an uncompressed point (SEC 1 §2.3.3)")
        }
        return try self.subjectPublicKeyInfo(p256Point: point)
    }

    /// The DER SubjectPublicKeyInfo of an uncompressed P-256 point (`EVP_PKEY_fromdata`, then `i2d_PUBKEY`).
    private static func subjectPublicKeyInfo(p256Point point: [UInt8]) throws -> [UInt8] {
        guard let context = EVP_PKEY_CTX_new_from_name(nil, "EC", nil) else {
            throw PKCS11Error(.moduleFailure, "EVP_PKEY_CTX_new_from_name(EC) failed")
        }
        defer { EVP_PKEY_CTX_free(context) }
        var group = Array("prime256v1".utf8CString)
        var pointCopy = point
        var key: OpaquePointer? = nil
        // OSSL_PARAM keeps pointers to its keys and values: every one must outlive EVP_PKEY_fromdata.
        let made = OSSL_PKEY_PARAM_GROUP_NAME.withCString { groupKey in
            OSSL_PKEY_PARAM_PUB_KEY.withCString { publicKeyKey in
                group.withUnsafeMutableBufferPointer { groupBuffer in
                    pointCopy.withUnsafeMutableBytes { pointBuffer in
                        var parameters = [
                            OSSL_PARAM_construct_utf8_string(groupKey, groupBuffer.baseAddress, 0),
                            OSSL_PARAM_construct_octet_string(
                                publicKeyKey, pointBuffer.baseAddress, pointBuffer.count),
                            OSSL_PARAM_construct_end(),
                        ]
                        guard EVP_PKEY_fromdata_init(context) == 1 else { return false }
                        // EVP_PKEY_PUBLIC_KEY: the domain parameters and the public key (OSSL_KEYMGMT_SELECT_*).
                        let selection = Int32(OSSL_KEYMGMT_SELECT_ALL_PARAMETERS | OSSL_KEYMGMT_SELECT_PUBLIC_KEY)
                        return EVP_PKEY_fromdata(context, &key, selection, &parameters) == 1
                    }
                }
            }
        }
        guard made, let key else {
            OpenSSLErrorQueue.clear()
            throw PKCS11Error(.moduleFailure, "the token's EC point is not a P-256 public key OpenSSL accepts")
        }
        let owner = PrivateKey(takingOwnership: key)
        // A point not on the curve is refused here, if EVP_PKEY_fromdata let it through.
        guard let check = EVP_PKEY_CTX_new_from_pkey(nil, owner.pointer, nil) else {
            throw PKCS11Error(.moduleFailure, "EVP_PKEY_CTX_new_from_pkey failed")
        }
        defer { EVP_PKEY_CTX_free(check) }
        guard EVP_PKEY_public_check(check) == 1 else {
            OpenSSLErrorQueue.clear()
            throw PKCS11Error(.moduleFailure, "the token's EC point is not on P-256")
        }
        let length = i2d_PUBKEY(owner.pointer, nil)
        guard length > 0, length <= 256 else { throw PKCS11Error(.moduleFailure, "i2d_PUBKEY failed") }
        var der = [UInt8](repeating: 0, count: Int(length))
        let written = der.withUnsafeMutableBufferPointer { buffer in
            var cursor = buffer.baseAddress
            return i2d_PUBKEY(owner.pointer, &cursor)
        }
        guard written == length else { throw PKCS11Error(.moduleFailure, "i2d_PUBKEY failed") }
        return der
    }
}
