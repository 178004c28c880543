// EC P-256 key pairs generated inside a real SoftHSM2 token, checked with opensc's pkcs11-tool and the openssl
// command, independent programs in other processes.

import CSaMDShims
import Foundation
import SaMDTestSupport
import Testing

@testable import SaMDOpenSSLSupport

@Suite("PKCS#11 EC key pairs in a SoftHSM2 token", .timeLimit(.minutes(2)))
struct PKCS11KeyPairTests {
    @Test("a P-256 pair is generated in the token: its private key sensitive, never extractable; its SPKI the token's")
    func generatedPairStaysInTheToken() async throws {
        try await PKCS11Fixture.with { fixture in
            let pair = try fixture.token.generateECKeyPair(label: "gateway-tls", id: [0x6b, 0x01])
            #expect(pair.label == "gateway-tls" && pair.id == [0x6b, 0x01])
            #expect(pair.subjectPublicKeyInfo.count == 91)
            let attributes = try fixture.token.securityAttributes(ofPrivateKeyOf: pair)
            #expect(attributes.token && attributes.isPrivate && attributes.local)
            #expect(attributes.sensitive && attributes.alwaysSensitive)
            #expect(!attributes.extractable && attributes.neverExtractable)

            let listing = try await fixture.softHSM.pkcs11Tool(["--list-objects", "--type", "privkey"])
            #expect(listing.status == 0, "\(listing)")
            #expect(listing.output.contains("Private Key Object; EC"), "\(listing)")
            #expect(listing.output.contains("label:      gateway-tls"), "\(listing)")
            #expect(listing.output.contains("ID:         6b01"), "\(listing)")
            #expect(listing.output.contains("Usage:      sign"), "\(listing)")
            #expect(!listing.output.contains("decrypt") && !listing.output.contains("derive"), "\(listing)")
            #expect(listing.output.contains("sensitive, always sensitive, never extractable, local"), "\(listing)")

            // The private value cannot be read (pkcs11-tool cannot even try for EC: it asks the token directly).
            let valueRead = try fixture.token.withSession { session in
                var attribute = CK_ATTRIBUTE(type: CK_ATTRIBUTE_TYPE(CKA_VALUE), pValue: nil, ulValueLen: 0)
                return fixture.token.functions.pointee.C_GetAttributeValue(
                    session, pair.privateKeyHandle, &attribute, 1)
            }
            #expect(valueRead == CKR_ATTRIBUTE_SENSITIVE)
            // The public key pkcs11-tool reads is the SPKI we returned.
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "samd-keypair-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let publicPath = directory.appendingPathComponent("public.der").path
            let publicRead = try await fixture.softHSM.pkcs11Tool([
                "--read-object", "--type", "pubkey", "--label", "gateway-tls", "-o", publicPath,
            ])
            #expect(publicRead.status == 0, "\(publicRead)")
            #expect(Array(try Data(contentsOf: URL(fileURLWithPath: publicPath))) == pair.subjectPublicKeyInfo)

            // OpenSSL reads our SPKI as a P-256 key.
            let ours = directory.appendingPathComponent("ours.der")
            try Data(pair.subjectPublicKeyInfo).write(to: ours)
            let text = try await ChildProcess.run(
                try ProgramLocations.requiredTool("openssl"),
                ["pkey", "-pubin", "-inform", "DER", "-in", ours.path, "-noout", "-text"], timeout: .seconds(30))
            #expect(text.status == 0, "\(text)")
            #expect(text.output.contains("prime256v1"), "\(text)")
        }
    }

    @Test("a second pair under a used label, an empty or too long id, an empty label: invalidInput")
    func refusals() async throws {
        try await PKCS11Fixture.with { fixture in
            _ = try fixture.token.generateECKeyPair(label: "taken", id: [0x01])
            for (label, id) in [
                ("taken", [UInt8]([0x02])), ("fresh", []),
                ("fresh", [UInt8](repeating: 1, count: PKCS11Token.maximumIDBytes + 1)), ("", [0x03]),
            ] {
                #expect(throws: PKCS11Error(.invalidInput, "")) {
                    try fixture.token.generateECKeyPair(label: label, id: id)
                }
            }
            let listing = try await fixture.softHSM.pkcs11Tool(["--list-objects", "--type", "privkey"])
            #expect(listing.output.components(separatedBy: "Private Key Object").count == 2, "\(listing)")
        }
    }

    @Test("a CKA_EC_POINT that is not a DER OCTET STRING of an uncompressed P-256 point is refused")
    func malformedECPoints() throws {
        // A point on P-256: the generator G (SEC 2 v2 §2.4.2), uncompressed.
        let g: [UInt8] =
            [0x04] + [UInt8](hex: "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296")
            + [UInt8](hex: "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5")
        let wrapped = [0x04, 0x41] + g
        let spki = try ECPublicKeyEncoding.p256SubjectPublicKeyInfo(ecPointAttribute: wrapped)
        #expect(spki.count == 91)
        #expect(Array(spki.suffix(65)) == g)

        var offCurve = g
        offCurve[64] ^= 0x01
        var compressed = [UInt8](g.prefix(33))
        compressed[0] = 0x02 | (g[64] & 1)
        let bad: [(String, [UInt8])] = [
            ("the raw point, not DER", g),
            ("bytes after the OCTET STRING", wrapped + [0x00]),
            ("a truncated OCTET STRING", Array(wrapped.dropLast())),
            ("a compressed point", [0x04, 0x21] + compressed),
            ("a point off the curve", [0x04, 0x41] + offCurve),
            ("an uncompressed marker missing", [0x04, 0x41, 0x05] + g.dropFirst()),
            ("empty", []),
            ("too long", [UInt8](repeating: 0x04, count: PKCS11Token.maximumECPointBytes + 1)),
        ]
        for (what, attribute) in bad {
            #expect(throws: PKCS11Error(.moduleFailure, ""), "\(what)") {
                try ECPublicKeyEncoding.p256SubjectPublicKeyInfo(ecPointAttribute: attribute)
            }
        }
    }

    @Test("CKA_EC_PARAMS is the DER OID prime256v1")
    func parameters() throws {
        #expect(try ECPublicKeyEncoding.p256ParametersDER() == [UInt8](hex: "06082a8648ce3d030107"))
    }
}
