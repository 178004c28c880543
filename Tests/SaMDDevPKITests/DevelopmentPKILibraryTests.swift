// SaMDDevPKI's API directly: the naming convention, typed refusals, loading a stored CA, and the writer.

import Foundation
import SaMDDevPKI
import SaMDTestSupport
import Testing

@Suite("SaMDDevPKI")
struct DevelopmentPKILibraryTests {
    static func code(_ body: () throws -> Void) -> DevelopmentPKIError.Code? {
        do {
            try body()
            return nil
        } catch let error as DevelopmentPKIError {
            return error.code
        } catch {
            return nil
        }
    }

    @Test("device and reader ids: 1–64 of A–Z a–z 0–9 . _ -, nothing else")
    func identifiers() throws {
        #expect(try DevelopmentSAN.device(id: "0001") == .uri("urn:samd:device:0001"))
        #expect(try DevelopmentSAN.reader(id: "ward-3.b_c") == .uri("urn:samd:reader:ward-3.b_c"))
        #expect(DevelopmentSAN.isValidIdentifier(String(repeating: "a", count: 64)))
        for bad in ["", String(repeating: "a", count: 65), "a/b", "a b", "a,b", "a:b", "é", "a\n", "..\u{0}"] {
            #expect(!DevelopmentSAN.isValidIdentifier(bad), "\(bad.debugDescription)")
            #expect(
                Self.code { _ = try DevelopmentSAN.device(id: bad) } == .invalidIdentifier, "\(bad.debugDescription)")
            #expect(
                Self.code { _ = try DevelopmentSAN.reader(id: bad) } == .invalidIdentifier, "\(bad.debugDescription)")
        }
    }

    @Test("issueDevice and issueReader follow the naming convention")
    func deviceAndReader() throws {
        let root = try DevelopmentCertificateAuthority.makeRoot(commonName: "Root")
        let intermediate = try root.issueIntermediate(commonName: "Intermediate")
        let device = try intermediate.issueDevice(id: "0042")
        #expect(device.subject == "CN=device-0042,O=\(DevelopmentPKI.organization)")
        #expect(device.subjectAlternativeNames == [.uri("urn:samd:device:0042")])
        #expect(device.extendedKeyUsages == [.clientAuth])
        #expect(device.chainPEM == device.certificatePEM + intermediate.certificate.certificatePEM)
        let reader = try intermediate.issueReader(id: "r1")
        #expect(reader.subjectAlternativeNames == [.uri("urn:samd:reader:r1")])
        #expect(Self.code { _ = try intermediate.issueDevice(id: "no/slash") } == .invalidIdentifier)
        // A CN holds at most 64 characters (RFC 5280 ub-common-name): a long id stands alone in it.
        let long = String(repeating: "7", count: 64)
        let longDevice = try intermediate.issueDevice(id: long)
        #expect(longDevice.subject == "CN=\(long),O=\(DevelopmentPKI.organization)")
        #expect(longDevice.subjectAlternativeNames == [.uri("urn:samd:device:\(long)")])
        #expect(try intermediate.issueDevice(id: String(repeating: "7", count: 57)).subject.hasPrefix("CN=device-"))
    }

    @Test("malformed SANs and empty validity are refused with typed errors")
    func refusals() throws {
        let root = try DevelopmentCertificateAuthority.makeRoot(commonName: "Root")
        for san in [
            DevelopmentSAN.dns("a,b"), .dns(""), .dns("-x.test"), .ip("1.2.3"), .ip("::g"), .uri("no-scheme"),
            .email("a@@b"), .uri("urn:x, DNS:evil"),
        ] {
            #expect(
                Self.code { _ = try root.issueLeaf(commonName: "x", sans: [san], ekus: [.serverAuth]) }
                    == .invalidSubjectAlternativeName,
                "\(san)")
        }
        let now = Date()
        #expect(
            Self.code { _ = try root.issueLeaf(commonName: "x", sans: [], ekus: [], notBefore: now, notAfter: now) }
                == .invalidValidity)
        #expect(
            Self.code {
                _ = try DevelopmentCertificateAuthority.makeRoot(commonName: "x", notBefore: now, notAfter: now - 1)
            } == .invalidValidity)
        // Errors compare by code.
        #expect(DevelopmentPKIError(.openSSL, "a") == DevelopmentPKIError(.openSSL, "b"))
        #expect(DevelopmentPKIError(.openSSL, "a") != DevelopmentPKIError(.cannotRead, "a"))
    }

    @Test("a stored CA loads back and issues leaves that chain to it; non-CAs and wrong keys are refused")
    func loadAuthority() throws {
        for keyType in DevelopmentKeyType.allCases {
            let root = try DevelopmentCertificateAuthority.makeRoot(commonName: "Root", keyType: keyType)
            let intermediate = try root.issueIntermediate(commonName: "Intermediate", keyType: keyType)
            let loaded = try DevelopmentCertificateAuthority.load(
                certificatePEM: intermediate.certificate.certificatePEM,
                privateKeyPEM: intermediate.certificate.privateKeyPEM)
            #expect(!loaded.isRoot)
            #expect(loaded.certificate.keyType == keyType)
            #expect(loaded.certificate.subject == intermediate.certificate.subject)
            #expect(loaded.certificate.serial == intermediate.certificate.serial)
            #expect(loaded.certificate.notAfter == intermediate.certificate.notAfter)
            #expect(loaded.certificate.spkiSHA256() == intermediate.certificate.spkiSHA256())
            #expect(loaded.organization == DevelopmentPKI.organization)
            let leaf = try loaded.issueDevice(id: "7", keyType: keyType)
            #expect(leaf.chainPEM == leaf.certificatePEM + intermediate.certificate.certificatePEM)
            #expect(leaf.subject == "CN=device-7,O=\(DevelopmentPKI.organization)")

            let reloadedRoot = try DevelopmentCertificateAuthority.load(
                certificatePEM: root.certificate.certificatePEM, privateKeyPEM: root.certificate.privateKeyPEM)
            #expect(reloadedRoot.isRoot)
        }
        let root = try DevelopmentCertificateAuthority.makeRoot(commonName: "Root")
        let other = try DevelopmentCertificateAuthority.makeRoot(commonName: "Other")
        let leaf = try root.issueDevice(id: "1")
        #expect(
            Self.code {
                _ = try DevelopmentCertificateAuthority.load(
                    certificatePEM: leaf.certificatePEM, privateKeyPEM: leaf.privateKeyPEM)
            } == .invalidAuthority, "a leaf is not a CA")
        #expect(
            Self.code {
                _ = try DevelopmentCertificateAuthority.load(
                    certificatePEM: root.certificate.certificatePEM, privateKeyPEM: other.certificate.privateKeyPEM)
            } == .invalidAuthority, "another CA's key")
        #expect(
            Self.code {
                _ = try DevelopmentCertificateAuthority.load(
                    certificatePEM: "garbage", privateKeyPEM: root.certificate.privateKeyPEM)
            } == .invalidAuthority)
        let encrypted = try root.certificate.makeEncryptedPrivateKeyPEM(passphrase: "pw")
        #expect(
            Self.code {
                _ = try DevelopmentCertificateAuthority.load(
                    certificatePEM: root.certificate.certificatePEM, privateKeyPEM: encrypted)
            } == .invalidAuthority, "an encrypted key is refused, never prompted for")
    }

    @Test("DevelopmentPKIDirectory: create, issue with validity clamped to the intermediate, refusals before writing")
    func directory() throws {
        let temporary = try TemporaryDirectory()
        let pki = DevelopmentPKIDirectory(directory: temporary.url.appendingPathComponent("pki"))
        let files = try pki.create(.init(deviceIDs: ["a", "b"], readerIDs: [], validityDays: 397))
        #expect(files.filter { $0.kind == .privateKey }.allSatisfy { $0.mode == 0o600 })
        #expect(
            files.contains {
                $0.path.hasSuffix("/device-b.pem") && $0.subjectAlternativeNames == [.uri("urn:samd:device:b")]
            })
        #expect(!files.contains { $0.path.contains("reader-") })

        let intermediate = try pki.loadIntermediate()
        let issued = try pki.issueDevice(id: "c", validityDays: 397, now: Date() + 86400 * 10)
        let notAfter = try #require(issued.first?.notAfter)
        #expect(notAfter == intermediate.certificate.notAfter, "never past the intermediate")
        #expect(Self.code { try pki.issueDevice(id: "c") } == .outputExists)
        #expect(Self.code { try pki.create(.init()) } == .outputExists)

        let fresh = DevelopmentPKIDirectory(directory: temporary.url.appendingPathComponent("fresh"))
        #expect(Self.code { try fresh.create(.init(serverDNSNames: [])) } == .invalidSubjectAlternativeName)
        #expect(Self.code { try fresh.create(.init(serverIPAddresses: ["::1::2"])) } == .invalidSubjectAlternativeName)
        #expect(Self.code { try fresh.create(.init(readerIDs: ["x", "x"])) } == .invalidIdentifier)
        #expect(Self.code { try fresh.create(.init(validityDays: 0)) } == .invalidValidity)
        #expect(Self.code { try fresh.issueDevice(id: "1") } == .cannotRead)
        #expect(!FileManager.default.fileExists(atPath: fresh.directory.path), "refusals write nothing")
    }

    @Test("the standard set writes with modes 0600 in a 0700 directory, replacing what is there")
    func standardSetWrite() throws {
        let temporary = try TemporaryDirectory()
        let directory = temporary.url.appendingPathComponent("standard")
        let pki = try DevelopmentPKI()
        let files = try pki.write(to: directory)
        _ = try pki.write(to: directory)
        #expect(try TemporaryDirectory.mode(directory.path) == 0o700)
        for path in [files.rootCA, files.crl, files.certificate("device"), files.key("device")] {
            #expect(try TemporaryDirectory.mode(path) == 0o600, "\(path)")
        }
        #expect(try String(contentsOfFile: files.key("server"), encoding: .utf8) == pki.server.privateKeyPEM)
        #expect(pki.device.subjectAlternativeNames == [.uri(DevelopmentPKI.deviceURI)])
        #expect(pki.expiredDevice.notAfter < Date())
    }
}
