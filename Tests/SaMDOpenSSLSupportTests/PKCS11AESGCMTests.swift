// AES-GCM inside a real SoftHSM2 token: how a subject key is wrapped under a token KEK with its binding as
// associated data.

import Foundation
import SaMDCrypto
import SaMDOpenSSLSupport
import SaMDTestSupport
import Testing

@Suite("PKCS#11 AES-GCM in a SoftHSM2 token", .timeLimit(.minutes(2)))
struct PKCS11AESGCMTests {
    static let binding = Array("subject=patient-0042;version=3;kek=records:1".utf8)

    @Test("a 32-byte subject key round-trips: IV ‖ ciphertext ‖ tag, a fresh IV each time")
    func roundTrip() async throws {
        try await PKCS11Fixture.with { fixture in
            let kek = try fixture.token.generateAESKey(label: "records:1", id: [0x01])
            let subjectKey = try SecureBytes(randomByteCount: 32)

            let sealed = try fixture.token.encrypt(key: kek, plaintext: subjectKey, associatedData: Self.binding)
            #expect(sealed.count == 12 + 32 + 16)
            let again = try fixture.token.encrypt(key: kek, plaintext: subjectKey, associatedData: Self.binding)
            #expect(sealed.prefix(12) != again.prefix(12))
            #expect(sealed != again)

            let opened: SecureBytes = try fixture.token.decrypt(key: kek, sealed: sealed, associatedData: Self.binding)
            #expect(opened == subjectKey)
            let openedAgain = try fixture.token.decrypt(
                key: kek, sealed: again, associatedData: Self.binding, as: SecureBytes.self)
            #expect(openedAgain == subjectKey)
            // The ciphertext is not the key (the token did encrypt).
            #expect(!subjectKey.constantTimeEquals(sealed[12..<44]))
        }
    }

    @Test("empty plaintext and empty associated data are accepted")
    func emptyInputs() async throws {
        try await PKCS11Fixture.with { fixture in
            let kek = try fixture.token.generateAESKey(label: "records:1", id: [0x01])
            let sealed = try fixture.token.encrypt(key: kek, plaintext: [UInt8](), associatedData: [UInt8]())
            #expect(sealed.count == 28)
            let opened: SecureBytes = try fixture.token.decrypt(key: kek, sealed: sealed, associatedData: [UInt8]())
            #expect(opened.count == 0)
            #expect(
                pkcs11Error {
                    try fixture.token.decrypt(key: kek, sealed: sealed, associatedData: [0], as: SecureBytes.self)
                }?
                .code == .authenticationFailed)
        }
    }

    @Test(
        "a changed associated data, IV, ciphertext or tag, or another key, is authenticationFailed",
        arguments: ["associated data", "IV", "ciphertext", "tag", "another key"])
    func tamper(_ change: String) async throws {
        try await PKCS11Fixture.with { fixture in
            let kek = try fixture.token.generateAESKey(label: "records:1", id: [0x01])
            let otherKEK = try fixture.token.generateAESKey(label: "records:2", id: [0x02])
            let subjectKey = try SecureBytes(randomByteCount: 32)
            var sealed = try fixture.token.encrypt(key: kek, plaintext: subjectKey, associatedData: Self.binding)
            var binding = Self.binding
            var key = kek
            switch change {
            case "associated data": binding[binding.count - 1] ^= 0x01 // records:1 → records:0
            case "IV": sealed[0] ^= 0x80
            case "ciphertext": sealed[12 + 5] ^= 0x01
            case "tag": sealed[sealed.count - 1] ^= 0x01
            default: key = otherKEK
            }
            let error = pkcs11Error {
                try fixture.token.decrypt(key: key, sealed: sealed, associatedData: binding, as: SecureBytes.self)
            }
            #expect(error?.code == .authenticationFailed, "\(String(describing: error))")
            #expect(error?.description.contains("C_Decrypt (CKM_AES_GCM)") == true)
            // The session survives a failed tag: the untouched value still opens.
            let intact = try fixture.token.encrypt(key: kek, plaintext: subjectKey, associatedData: Self.binding)
            let opened: SecureBytes = try fixture.token.decrypt(key: kek, sealed: intact, associatedData: Self.binding)
            #expect(opened == subjectKey)
        }
    }

    @Test("a value shorter than IV and tag, or a plaintext over the limit, is invalidInput before the token sees it")
    func bounds() async throws {
        try await PKCS11Fixture.with { fixture in
            let kek = try fixture.token.generateAESKey(label: "records:1", id: [0x01])
            #expect(
                pkcs11Error {
                    try fixture.token.decrypt(
                        key: kek, sealed: [UInt8](repeating: 0, count: 27), associatedData: [UInt8](),
                        as: SecureBytes.self)
                }?.code == .invalidInput)
            #expect(
                pkcs11Error {
                    try fixture.token.encrypt(
                        key: kek, plaintext: [UInt8](repeating: 0, count: PKCS11Token.maximumGCMPlaintextBytes + 1),
                        associatedData: [UInt8]())
                }?.code == .invalidInput)
            #expect(
                pkcs11Error {
                    try fixture.token.encrypt(
                        key: kek, plaintext: [1],
                        associatedData: [UInt8](repeating: 0, count: PKCS11Token.maximumAssociatedDataBytes + 1))
                }?.code == .invalidInput)
        }
    }
}
