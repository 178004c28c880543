// Secret keys generated inside a real SoftHSM2 token, checked with opensc's pkcs11-tool, an independent
// PKCS#11 client in another process.

import CSaMDShims
import Foundation
import SaMDCrypto
import SaMDTestSupport
import Testing

@testable import SaMDOpenSSLSupport

@Suite("PKCS#11 secret keys in a SoftHSM2 token", .timeLimit(.minutes(2)))
struct PKCS11SecretKeyTests {
    @Test("an AES-256 KEK is generated in the token: sensitive, never extractable, its value unreadable")
    func generatedKeyStaysInTheToken() async throws {
        try await PKCS11Fixture.with { fixture in
            let key = try fixture.token.generateAESKey(label: "records:1", id: [0x01])
            #expect(key.keyType == .aes)
            #expect(key.label == "records:1")

            let attributes = try fixture.token.securityAttributes(of: key)
            #expect(attributes.token && attributes.isPrivate)
            #expect(attributes.sensitive && attributes.alwaysSensitive)
            #expect(!attributes.extractable && attributes.neverExtractable)
            #expect(attributes.local)
            #expect(attributes.valueLengthBytes == 32)

            let listing = try await fixture.listedSecretKeys()
            #expect(listing.contains("label:      records:1"))
            #expect(listing.contains("AES length 32"))
            #expect(listing.contains("sensitive"))
            #expect(listing.contains("always sensitive"))
            #expect(listing.contains("never extractable"))
            #expect(listing.contains("local"))
            #expect(listing.contains("Usage:      encrypt, decrypt"))
            #expect(!listing.contains("wrap"))

            let read = try await fixture.softHSM.pkcs11Tool([
                "--read-object", "--type", "secrkey", "--label", "records:1",
            ])
            #expect(read.status != 0)
            #expect(read.standardError.contains("CKR_ATTRIBUTE_SENSITIVE"))

            let found = try fixture.token.findSecretKey(label: "records:1")
            #expect(found == key)
            #expect(found.id == [0x01])
        }
    }

    @Test("a second key with a used label is refused; a missing label is objectNotFound")
    func labelsAreUnique() async throws {
        try await PKCS11Fixture.with { fixture in
            _ = try fixture.token.generateAESKey(label: "records:1", id: [0x01])
            #expect(
                pkcs11Error {
                    _ = try fixture.token.generateAESKey(label: "records:1", id: [0x02])
                }?.code == .invalidInput)
            #expect(
                pkcs11Error {
                    _ = try fixture.token.findSecretKey(label: "records:2")
                }?.code == .objectNotFound)
            #expect(
                pkcs11Error {
                    _ = try fixture.token.generateAESKey(label: String(repeating: "x", count: 256), id: [])
                }?.code == .invalidInput)
        }
    }

    @Test("two keys with one label (the second made by a client that does not check labels) are objectAmbiguous")
    func ambiguousLabel() async throws {
        try await PKCS11Fixture.with { fixture in
            _ = try fixture.token.generateAESKey(label: "twice", id: [0x01])
            // Another client in this process, straight through the function list: SaMDKit's own generateAESKey
            // refuses a used label. (pkcs11-tool in another process would do, but SoftHSM 2.6 does not always
            // re-read a token that another process changed.)
            try fixture.token.withSession { session in
                let template = PKCS11Template()
                template.append(CKA_CLASS, CKO_SECRET_KEY)
                template.append(CKA_KEY_TYPE, CKK_AES)
                template.append(CKA_VALUE_LEN, CK_ULONG(32))
                template.append(CKA_TOKEN, true)
                template.append(CKA_PRIVATE, true)
                template.append(CKA_LABEL, Array("twice".utf8))
                var mechanism = CK_MECHANISM(mechanism: CKM_AES_KEY_GEN, pParameter: nil, ulParameterLen: 0)
                var handle: CK_OBJECT_HANDLE = 0
                let result = template.withAttributes { attributes, count in
                    fixture.token.functions.pointee.C_GenerateKey(session, &mechanism, attributes, count, &handle)
                }
                try #require(result == CKR_OK, "C_GenerateKey: \(PKCS11ReturnValue.describe(result))")
            }
            let error = pkcs11Error { try fixture.token.findSecretKey(label: "twice") }
            #expect(error?.code == .objectAmbiguous)
            #expect(error?.description.contains("\"twice\"") == true)
            // pkcs11-tool lists both.
            let listing = try await fixture.listedSecretKeys()
            #expect(listing.components(separatedBy: "label:      twice").count == 3)
        }
    }

    @Test("destroyObject removes the key: gone for SaMDKit and for pkcs11-tool")
    func destroy() async throws {
        try await PKCS11Fixture.with { fixture in
            let kept = try fixture.token.generateAESKey(label: "records:1", id: [0x01])
            let destroyed = try fixture.token.generateAESKey(label: "records:2", id: [0x02])
            #expect(try await fixture.listedSecretKeys().contains("records:2"))

            try fixture.token.destroyObject(destroyed)

            #expect(
                pkcs11Error {
                    _ = try fixture.token.findSecretKey(label: "records:2")
                }?.code == .objectNotFound)
            #expect(
                pkcs11Error {
                    try fixture.token.destroyObject(destroyed)
                }?.code == .objectNotFound)
            let listing = try await fixture.listedSecretKeys()
            #expect(!listing.contains("records:2"))
            #expect(listing.contains("records:1"))
            #expect(try fixture.token.findSecretKey(label: "records:1") == kept)
        }
    }

    @Test("an HMAC key is a sensitive generic secret for sign and verify; codes are deterministic per key")
    func hmac() async throws {
        try await PKCS11Fixture.with { fixture in
            let key = try fixture.token.generateHMACKey(label: "records-mac:1", id: [0x10])
            let other = try fixture.token.generateHMACKey(label: "records-mac:2", id: [0x11])
            #expect(key.keyType == .genericSecret)
            let attributes = try fixture.token.securityAttributes(of: key)
            #expect(attributes.sensitive && attributes.neverExtractable && !attributes.extractable)
            #expect(attributes.valueLengthBytes == 32)
            let listing = try await fixture.listedSecretKeys()
            // pkcs11-tool (opensc 0.23) shows CKA_SIGN for private keys only: a secret key's line says "verify", and
            // the codes below show that it signs.
            #expect(listing.contains("Generic secret length 32"))
            #expect(listing.contains("Usage:      verify"))
            #expect(!listing.contains("encrypt"))

            let message = Array("keystore.json metadata".utf8)
            let code = try fixture.token.authenticationCode(key: key, message: message)
            #expect(code.count == 32)
            #expect(try fixture.token.authenticationCode(key: key, message: message) == code)
            #expect(try fixture.token.authenticationCode(key: other, message: message) != code)
            #expect(try fixture.token.authenticationCode(key: key, message: message + [0]) != code)
            #expect(try fixture.token.authenticationCode(key: key, message: [UInt8]()).count == 32)

            #expect(try fixture.token.verifyAuthenticationCode(key: key, message: message, code: code))
            var flipped = code
            flipped[0] ^= 1
            #expect(try !fixture.token.verifyAuthenticationCode(key: key, message: message, code: flipped))
            #expect(try !fixture.token.verifyAuthenticationCode(key: other, message: message, code: code))
            #expect(
                try !fixture.token.verifyAuthenticationCode(key: key, message: message, code: Array(code.prefix(31))))
        }
    }

    @Test("a key is used only for what it was made for: the AES KEK does not sign, the HMAC key does not encrypt")
    func usageIsEnforcedByTheToken() async throws {
        try await PKCS11Fixture.with { fixture in
            let kek = try fixture.token.generateAESKey(label: "records:1", id: [0x01])
            let mac = try fixture.token.generateHMACKey(label: "records-mac:1", id: [0x02])
            #expect(pkcs11Error { try fixture.token.authenticationCode(key: kek, message: [1]) } != nil)
            #expect(
                pkcs11Error { try fixture.token.encrypt(key: mac, plaintext: [1], associatedData: [UInt8]()) } != nil)
            // The sessions that saw those failures still work.
            let sealed = try fixture.token.encrypt(key: kek, plaintext: [1, 2, 3], associatedData: [UInt8]())
            let opened: SecureBytes = try fixture.token.decrypt(key: kek, sealed: sealed, associatedData: [UInt8]())
            #expect(opened.constantTimeEquals([1, 2, 3]))
        }
    }
}
