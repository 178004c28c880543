import Foundation
import SaMDTestSupport
import Testing

@testable import SaMDCrypto

@Suite("Runtime report, version gate and profiles")
struct RuntimeTests {
    @Test func reportDescribesTheLoadedLibraries() throws {
        let report = try RuntimeReport.current()
        #expect(report.samdKitVersion == SaMDKit.version)
        #expect(report.openSSL.version.hasPrefix("OpenSSL 3."))
        #expect(report.openSSL.versionNumber >= 0x3000_0000)
        #expect(report.openSSL.versionNumberHex == "0x" + String(report.openSSL.versionNumber, radix: 16))
        // The number and the string name the same release: 0xMNN00PP0 ↔ "M.NN.PP".
        let number = report.openSSL.versionNumber
        let dotted = "\(number >> 28).\((number >> 20) & 0xFF).\((number >> 4) & 0xFF)"
        #expect(report.openSSL.version.hasPrefix("OpenSSL \(dotted) "))
        #expect(report.sodium.version.split(separator: ".").count == 3)

        // The paths are those of shared objects this very process has mapped.
        // /proc files report a size of 0: read them to the end rather than by their size.
        let maps = String(
            decoding: try #require(FileHandle(forReadingAtPath: "/proc/self/maps")).readDataToEndOfFile(), as: UTF8.self
        )
        for path in [report.openSSL.libsslPath, report.openSSL.libcryptoPath, report.sodium.path] {
            let path = try #require(path)
            let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
            #expect(maps.contains(path) || maps.contains(resolved), "\(path) is not mapped")
        }
        #expect(try #require(report.openSSL.libsslPath).contains("libssl"))
        #expect(try #require(report.openSSL.libcryptoPath).contains("libcrypto"))
        #expect(try #require(report.sodium.path).contains("libsodium"))
    }

    @Test func aesInstructionsMatchTheCPUFlags() throws {
        let report = try RuntimeReport.current()
        #if arch(x86_64)
            let cpuinfo = String(
                decoding: try #require(FileHandle(forReadingAtPath: "/proc/cpuinfo")).readDataToEndOfFile(),
                as: UTF8.self)
            let flags = cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") } ?? ""
            let hasAES = flags.split(separator: " ").contains("aes")
            #expect(report.aesInstructions.cpuHasAESInstructions == hasAES)
            if ProcessInfo.processInfo.environment["OPENSSL_ia32cap"] == nil {
                #expect(report.aesInstructions.usedByOpenSSL == hasAES)
                #expect(report.aesInstructions.capabilityOverrideVariable == nil)
            } else {
                #expect(report.aesInstructions.usedByOpenSSL == nil)
            }
        #endif
    }

    @Test func theVersionGateRefusesOldLibrariesWithAClearMessage() {
        let oldOpenSSL = LibraryGate.openSSLVersionError(
            found: 0x1010_117F, versionString: "OpenSSL 1.1.1w 11 Sep 2023")
        #expect(oldOpenSSL?.code == .unsupportedLibraryVersion)
        #expect(oldOpenSSL?.reason.contains("OpenSSL 1.1.1w") == true)
        #expect(oldOpenSSL?.reason.contains("needs OpenSSL 3.0 or later") == true)
        #expect(LibraryGate.openSSLVersionError(found: 0x3000_0000, versionString: "OpenSSL 3.0.0") == nil)

        let oldSodium = LibraryGate.sodiumVersionError(found: (10, 2), versionString: "1.0.17")
        #expect(oldSodium?.code == .unsupportedLibraryVersion)
        #expect(oldSodium?.reason.contains("1.0.17") == true)
        #expect(oldSodium?.reason.contains("needs libsodium 1.0.18") == true)
        #expect(LibraryGate.sodiumVersionError(found: (9, 9), versionString: "1.0.12") != nil)
        #expect(LibraryGate.sodiumVersionError(found: (10, 3), versionString: "1.0.18") == nil)
        #expect(LibraryGate.sodiumVersionError(found: (26, 1), versionString: "1.0.20") == nil)
    }

    /// Debian 12 ships no OpenSSL FIPS provider: asking for `nist` must fail closed, say why, and
    /// leave the process on `default`. Where a FIPS module is installed, activation must succeed.
    @Test func nistProfileFailsClosedWithoutAFIPSProvider() throws {
        let before = try RuntimeReport.current()
        let directory = try #require(before.openSSL.modulesDirectory)
        let fipsModuleInstalled = FileManager.default.fileExists(atPath: directory + "/fips.so")
        if fipsModuleInstalled {
            try CryptoProfile.activate(.nist)
            #expect(CryptoProfile.active == .nist)
            #expect(try RuntimeReport.current().openSSL.fipsProviderActive)
            return
        }
        #expect(before.openSSL.fipsProviderAvailable == false)
        #expect(before.openSSL.fipsProviderActive == false)
        let error = try #require(throws: CryptoError.self) { try CryptoProfile.activate(.nist) }
        #expect(error.code == .fipsProviderUnavailable)
        #expect(error.reason.contains("FIPS provider"))
        #expect(!error.openSSLErrors.isEmpty, "the OpenSSL error queue is drained into the error")
        #expect(CryptoProfile.active == .default)
        #expect(try RuntimeReport.current().profile == .default)
        // The queue was drained: a second failure carries only its own entries, not the first one's too.
        let again = try #require(throws: CryptoError.self) { try CryptoProfile.activate(.nist) }
        #expect(again.openSSLErrors.count == error.openSSLErrors.count)
        // And the library keeps working on the default profile.
        let key = try SecureBytes(randomByteCount: 32)
        let nonce = try AEADAlgorithm.aes256GCM.randomNonce()
        #expect(
            try AEADAlgorithm.aes256GCM.open(
                AEADAlgorithm.aes256GCM.seal([1, 2] as [UInt8], key: key, nonce: nonce), key: key, nonce: nonce) == [
                    1, 2,
                ])
    }

    @Test func nistProfileRefusesLibsodiumAlgorithms() throws {
        let key = try SecureBytes(randomByteCount: 32)
        let recipient = try X25519.PrivateKey()
        try CryptoProfile.$overrideForTesting.withValue(.nist) {
            #expect(CryptoProfile.active == .nist)
            let refused = CryptoErrorCodeBox(code: .notAllowedInProfile)
            #expect(thrownCode { try AEADContext(algorithm: .xChaCha20Poly1305, key: key) } == refused)
            #expect(thrownCode { try X25519.PrivateKey() } == refused)
            #expect(thrownCode { try SealedBox.seal(key, to: recipient.publicKey) } == refused)
            #expect(thrownCode { try SealedBox.open([UInt8](repeating: 0, count: 80), with: recipient) } == refused)
            #expect(thrownCode { try Ed25519.PrivateKey() } == refused)
            // OpenSSL's AES-GCM stays available (served by the FIPS provider on a FIPS platform).
            _ = try AEADContext(algorithm: .aes256GCM, key: key)
        }
        #expect(CryptoProfile.active == .default)
    }
}

@Suite("Errors")
struct ErrorTests {
    @Test func errorsCompareByCodeAndCarryNoKeyBytes() throws {
        let keyBytes = [UInt8](hex: "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00")
        let kek = try SecureBytes(copying: keyBytes)
        let wrapped = try AESKeyWrap.wrap(try SecureBytes(copying: keyBytes), using: kek)
        var tampered = wrapped
        tampered[0] ^= 1
        let errors: [CryptoError] = [
            try #require(throws: CryptoError.self) { try AESKeyWrap.unwrap(tampered, using: kek) },
            try #require(throws: CryptoError.self) {
                try AEADAlgorithm.aes256GCM.open(
                    [UInt8](repeating: 0, count: 40), key: kek, nonce: [UInt8](repeating: 0, count: 12))
            },
            try #require(throws: CryptoError.self) {
                try AEADContext(algorithm: .aes256GCM, key: SecureBytes(copying: keyBytes.prefix(16)))
            },
        ]
        for error in errors {
            let text = "\(error) \(error.reason) \(error.openSSLErrors)"
            #expect(!text.lowercased().contains("c0ffee"))
            #expect(!text.contains(keyBytes.map { String($0) }.joined(separator: ", ")))
            #expect(!error.file.isEmpty && error.line > 0)
        }
        #expect(errors[0] == CryptoError(.authenticationFailed, "another reason"))
        #expect(errors[0] != errors[2])
        #expect(errors[2].code == .invalidKeySize)
        #expect("\(errors[2].code)" == "invalidKeySize")
    }
}

@Suite("nist profile refuses libsodium at every call")
struct NISTRefusalTests {
    /// Keys and contexts made under `default` must not run libsodium cryptography once `nist` is in force.
    @Test func objectsMadeEarlierAreRefusedToo() throws {
        let key = try SecureBytes(randomByteCount: 32)
        let xchacha = try AEADContext(algorithm: .xChaCha20Poly1305, key: key)
        let nonce = try AEADAlgorithm.xChaCha20Poly1305.randomNonce()
        let sealed = try AEADAlgorithm.xChaCha20Poly1305.seal([1, 2, 3] as [UInt8], key: key, nonce: nonce)
        let alice = try X25519.PrivateKey()
        let bob = try X25519.PrivateKey()
        let signer = try Ed25519.PrivateKey()
        let signature = try signer.signature(for: [9] as [UInt8])
        let box = try SealedBox.seal(key, to: alice.publicKey)

        try CryptoProfile.$overrideForTesting.withValue(.nist) {
            let refused = CryptoErrorCodeBox(code: .notAllowedInProfile)
            var output = [UInt8](repeating: 0, count: 64)
            let sealCode = nonce.withUnsafeBytes { nonce in
                output.withUnsafeMutableBytes { output in
                    thrownCode {
                        try xchacha.seal(
                            UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(output)[..<3]),
                            nonce: nonce,
                            associatedData: UnsafeRawBufferPointer(start: nil, count: 0),
                            into: UnsafeMutableRawBufferPointer(rebasing: output[8...])
                        )
                    }
                }
            }
            #expect(sealCode == refused)
            let openCode = sealed.withUnsafeBytes { sealed in
                nonce.withUnsafeBytes { nonce in
                    output.withUnsafeMutableBytes { output in
                        thrownCode {
                            try xchacha.open(
                                sealed, nonce: nonce, associatedData: UnsafeRawBufferPointer(start: nil, count: 0),
                                into: output)
                        }
                    }
                }
            }
            #expect(openCode == refused)
            #expect(thrownCode { try AEADAlgorithm.xChaCha20Poly1305.open(sealed, key: key, nonce: nonce) } == refused)
            #expect(thrownCode { try alice.sharedSecret(with: bob.publicKey) } == refused)
            #expect(thrownCode { try signer.signature(for: [9] as [UInt8]) } == refused)
            #expect(thrownCode { try signer.publicKey.verify(signature, for: [9] as [UInt8]) } == refused)
            #expect(!signer.publicKey.isValidSignature(signature, for: [9] as [UInt8]))
            #expect(thrownCode { try SealedBox.open(box, with: alice) } == refused)
            #expect(thrownCode { try X25519.PrivateKey(rawRepresentation: key) } == refused)
            #expect(thrownCode { try Ed25519.PrivateKey(seed: key) } == refused)
        }
        // Back on default, the same objects work.
        #expect(signer.publicKey.isValidSignature(signature, for: [9] as [UInt8]))
        #expect(try SealedBox.open(box, with: alice) == key)
    }

    /// The probe that nist activation relies on to refuse a DRBG made before it.
    @Test func theRandomGeneratorProviderIsReadable() throws {
        _ = try SecureRandom.bytes(count: 16)
        #expect(
            OpenSSLProviders.primaryRandomGeneratorProvider()
                == (OpenSSLProviders.fipsProviderActive ? "fips" : "default"))
    }
}
