// `samd-pki` as a user runs it: the files it writes, their modes, and what the openssl tool makes of them.

import Foundation
import SaMDDevPKI
import SaMDTestSupport
import Testing

@Suite("samd-pki")
struct SamdPKICLITests {
    /// `samd-pki init --out <temp>/pki ARGUMENTS…`, which must succeed; returns the directory holder and the
    /// PKI path.
    static func initPKI(_ arguments: [String] = []) async throws -> (TemporaryDirectory, String) {
        let temporary = try TemporaryDirectory()
        let pki = temporary.path("pki")
        let run = try await Programs.samdPKI(["init", "--out", pki] + arguments)
        try #require(run.status == 0, "\(run)")
        return (temporary, pki)
    }

    static func verify(_ pki: String, _ file: String, purpose: String = "sslclient") async throws -> ChildProcess.Run {
        try await Programs.openssl([
            "verify", "-CAfile", "\(pki)/root.pem", "-untrusted", "\(pki)/intermediate.pem", "-purpose", purpose,
            "\(pki)/\(file)",
        ])
    }

    @Test("init writes every file; keys 0600, directory 0700; a summary without keys")
    func initWritesTheLayout() async throws {
        let temporary = try TemporaryDirectory()
        let pki = temporary.path("pki")
        let run = try await Programs.samdPKI(["init", "--out", pki])
        #expect(run.status == 0, "\(run)")

        #expect(try TemporaryDirectory.mode(pki) == 0o700)
        let keys = [
            "intermediate.key", "server.key", "device-0001.key", "reader-01.key", "expired-device.key",
            "wrong-purpose-device.key",
        ]
        let certificates = [
            "root.pem", "intermediate.pem", "server.pem", "device-0001.pem", "reader-01.pem", "expired-device.pem",
            "wrong-purpose-device.pem",
        ]
        for key in keys {
            #expect(try TemporaryDirectory.mode("\(pki)/\(key)") == 0o600, "\(key)")
        }
        for certificate in certificates {
            #expect(FileManager.default.fileExists(atPath: "\(pki)/\(certificate)"), "\(certificate)")
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: pki)
        #expect(Set(names) == Set(keys + certificates + ["README.txt"]), "no temporary file is left: \(names)")
        #expect(!names.contains("root.key"), "the root key is never written")

        let readme = try String(contentsOfFile: "\(pki)/README.txt", encoding: .utf8)
        #expect(readme.contains("NOT A PRODUCTION CA"))

        // The summary names the files, subjects, SANs and notAfter, and never prints a key.
        #expect(run.output.contains("\(pki)/device-0001.pem"))
        #expect(run.output.contains("URI:urn:samd:device:0001"))
        #expect(run.output.contains("subject CN=device-0001,O=SaMDKit Development"))
        #expect(run.output.contains("notAfter"))
        #expect(!(run.output + run.standardError).contains("PRIVATE " + "KEY-----"))
        // The server chain is leaf + intermediate.
        let chain = try String(contentsOfFile: "\(pki)/server.pem", encoding: .utf8)
        #expect(chain.components(separatedBy: "-----BEGIN CERTIFICATE-----").count == 3)
    }

    @Test("openssl verifies the good leaves and refuses the negative ones", .enabled(if: Programs.opensslAvailable))
    func opensslAgrees() async throws {
        let (temporary, pki) = try await Self.initPKI()
        _ = temporary

        let plain = try await Programs.openssl([
            "verify", "-CAfile", "\(pki)/root.pem", "-untrusted", "\(pki)/intermediate.pem", "\(pki)/device-0001.pem",
        ])
        #expect(plain.status == 0, "\(plain)")
        for (file, purpose) in [
            ("device-0001.pem", "sslclient"), ("reader-01.pem", "sslclient"), ("server.pem", "sslserver"),
        ] {
            let run = try await Self.verify(pki, file, purpose: purpose)
            #expect(run.status == 0, "\(file): \(run)")
        }

        let expired = try await Self.verify(pki, "expired-device.pem")
        #expect(expired.status != 0)
        #expect((expired.output + expired.standardError).contains("certificate has expired"), "\(expired)")
        let wrongPurpose = try await Self.verify(pki, "wrong-purpose-device.pem")
        #expect(wrongPurpose.status != 0)
        #expect(
            (wrongPurpose.output + wrongPurpose.standardError).contains("unsuitable certificate purpose"),
            "\(wrongPurpose)")

        let device = try await Programs.openssl([
            "x509", "-noout", "-ext", "subjectAltName,extendedKeyUsage", "-in", "\(pki)/device-0001.pem",
        ])
        #expect(device.output.contains("URI:urn:samd:device:0001"), "\(device)")
        #expect(device.output.contains("TLS Web Client Authentication"), "\(device)")
        #expect(!device.output.contains("TLS Web Server Authentication"), "\(device)")
        let reader = try await Programs.openssl([
            "x509", "-noout", "-ext", "subjectAltName,extendedKeyUsage", "-in", "\(pki)/reader-01.pem",
        ])
        #expect(reader.output.contains("URI:urn:samd:reader:01"), "\(reader)")
        #expect(reader.output.contains("TLS Web Client Authentication"), "\(reader)")
        let server = try await Programs.openssl([
            "x509", "-noout", "-ext", "subjectAltName,extendedKeyUsage", "-in", "\(pki)/server.pem",
        ])
        #expect(server.output.contains("DNS:localhost"), "\(server)")
        #expect(server.output.contains("IP Address:127.0.0.1"), "\(server)")
        #expect(
            server.output.contains("IP Address:0:0:0:0:0:0:0:1")
                || server.output.contains("IP Address:::1"),
            "\(server)")
        #expect(server.output.contains("TLS Web Server Authentication"), "\(server)")
        let wrong = try await Programs.openssl([
            "x509", "-noout", "-ext", "extendedKeyUsage", "-in", "\(pki)/wrong-purpose-device.pem",
        ])
        #expect(wrong.output.contains("TLS Web Server Authentication"), "\(wrong)")
        #expect(!wrong.output.contains("TLS Web Client Authentication"), "\(wrong)")

        // Every key matches its certificate.
        for name in ["server", "device-0001", "reader-01"] {
            let fromKey = try await Programs.openssl(["pkey", "-in", "\(pki)/\(name).key", "-pubout"])
            let fromCertificate = try await Programs.openssl(["x509", "-in", "\(pki)/\(name).pem", "-noout", "-pubkey"])
            #expect(fromKey.status == 0 && fromKey.output == fromCertificate.output, "\(name)")
        }
    }

    @Test(
        "names, ids and days given on the command line end up in the certificates",
        .enabled(if: Programs.opensslAvailable))
    func customNames() async throws {
        let (temporary, pki) = try await Self.initPKI([
            "--server-dns", "gateway.samd.test", "--server-dns", "localhost", "--server-ip", "10.0.0.7",
            "--device", "pump-17", "--device", "SN_0042.a", "--reader", "ward-3", "--days", "7",
        ])
        _ = temporary
        for file in ["device-pump-17.pem", "device-SN_0042.a.pem", "reader-ward-3.pem", "server.pem"] {
            let run = try await Self.verify(pki, file, purpose: file == "server.pem" ? "sslserver" : "sslclient")
            #expect(run.status == 0, "\(file): \(run)")
        }
        #expect(
            !FileManager.default.fileExists(atPath: "\(pki)/device-0001.pem"), "no default device when ids are given")
        let server = try await Programs.openssl([
            "x509", "-noout", "-subject", "-ext", "subjectAltName", "-in", "\(pki)/server.pem",
        ])
        #expect(
            server.output.contains("DNS:gateway.samd.test, DNS:localhost, IP Address:10.0.0.7"), "\(server)")
        #expect(server.output.contains("CN = gateway.samd.test"), "\(server)")
        let device = try await Programs.openssl([
            "x509", "-noout", "-ext", "subjectAltName", "-in", "\(pki)/device-SN_0042.a.pem",
        ])
        #expect(device.output.contains("URI:urn:samd:device:SN_0042.a"), "\(device)")
        // 7 days: valid in 6 days, not in 8.
        let in6 = try await Programs.openssl([
            "x509", "-noout", "-checkend", "\(6 * 86400)", "-in", "\(pki)/device-pump-17.pem",
        ])
        #expect(in6.status == 0, "\(in6)")
        let in8 = try await Programs.openssl([
            "x509", "-noout", "-checkend", "\(8 * 86400)", "-in", "\(pki)/device-pump-17.pem",
        ])
        #expect(in8.status != 0, "\(in8)")
    }

    @Test(
        "an invalid device or reader id, DNS name, IP address or day count is a usage error (64) and writes nothing",
        arguments: [
            ["--device", "a/b"], ["--device", ""], ["--device", String(repeating: "x", count: 65)],
            ["--device", "a b"],
            ["--device", "dev\u{e9}"], ["--reader", "r:1"], ["--device", "0001", "--device", "0001"],
            ["--server-dns", "a,b"], ["--server-dns", "-bad.test"], ["--server-ip", "300.1.1.1"],
            ["--server-ip", "localhost"],
            ["--days", "0"], ["--days", "398"], ["--days", "many"], ["--no-such-option"],
        ]
    )
    func invalidArgumentsAreUsageErrors(arguments: [String]) async throws {
        let temporary = try TemporaryDirectory()
        let pki = temporary.path("pki")
        let run = try await Programs.samdPKI(["init", "--out", pki] + arguments)
        #expect(run.status == 64, "\(arguments): \(run)")
        #expect(!run.standardError.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: pki), "nothing is written: \(arguments)")
    }

    @Test("a 64-character id of every allowed character is accepted")
    func longestIdentifier() async throws {
        let id = String(repeating: "aZ0._-", count: 10) + "abcd"
        #expect(id.count == 64)
        let (temporary, pki) = try await Self.initPKI(["--device", id])
        _ = temporary
        #expect(FileManager.default.fileExists(atPath: "\(pki)/device-\(id).pem"))
        if Programs.opensslAvailable {
            let san = try await Programs.openssl([
                "x509", "-noout", "-ext", "subjectAltName", "-in", "\(pki)/device-\(id).pem",
            ])
            #expect(san.output.contains("URI:urn:samd:device:\(id)"), "\(san)")
        }
    }

    @Test("init refuses to overwrite an existing PKI (73) unless --force")
    func refusesToOverwrite() async throws {
        let (temporary, pki) = try await Self.initPKI()
        _ = temporary
        let rootBefore = try String(contentsOfFile: "\(pki)/root.pem", encoding: .utf8)

        let again = try await Programs.samdPKI(["init", "--out", pki])
        #expect(again.status == 73, "\(again)")
        #expect(again.standardError.contains("--force"), "\(again)")
        #expect(try String(contentsOfFile: "\(pki)/root.pem", encoding: .utf8) == rootBefore, "nothing was replaced")

        let forced = try await Programs.samdPKI(["init", "--out", pki, "--force"])
        #expect(forced.status == 0, "\(forced)")
        #expect(try String(contentsOfFile: "\(pki)/root.pem", encoding: .utf8) != rootBefore, "a new root")
        #expect(try TemporaryDirectory.mode("\(pki)/intermediate.key") == 0o600)
        if Programs.opensslAvailable {
            let verify = try await Self.verify(pki, "device-0001.pem")
            #expect(verify.status == 0, "the replaced files belong together: \(verify)")
        }
    }

    @Test("an output path that cannot be created is refused (73)")
    func unwritableOutput() async throws {
        let temporary = try TemporaryDirectory()
        let file = temporary.path("a-file")
        _ = FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        let run = try await Programs.samdPKI(["init", "--out", file])
        #expect(run.status == 73, "\(run)")
    }

    @Test("issue adds a device and a reader signed by the stored intermediate", .enabled(if: Programs.opensslAvailable))
    func issueAddsLeaves() async throws {
        let (temporary, pki) = try await Self.initPKI()
        _ = temporary
        let run = try await Programs.samdPKI(["issue", "--pki", pki, "--device", "0002", "--reader", "02"])
        #expect(run.status == 0, "\(run)")
        #expect(run.output.contains("URI:urn:samd:device:0002"), "\(run)")
        #expect(!(run.output + run.standardError).contains("PRIVATE " + "KEY-----"))
        #expect(try TemporaryDirectory.mode("\(pki)/device-0002.key") == 0o600)
        #expect(try TemporaryDirectory.mode("\(pki)/reader-02.key") == 0o600)

        let device = try await Self.verify(pki, "device-0002.pem")
        #expect(device.status == 0, "\(device)")
        let reader = try await Self.verify(pki, "reader-02.pem")
        #expect(reader.status == 0, "\(reader)")
        let san = try await Programs.openssl([
            "x509", "-noout", "-ext", "subjectAltName,extendedKeyUsage", "-in", "\(pki)/device-0002.pem",
        ])
        #expect(san.output.contains("URI:urn:samd:device:0002"), "\(san)")
        #expect(san.output.contains("TLS Web Client Authentication"), "\(san)")

        // The same id again is refused without --force, replaced with it.
        let again = try await Programs.samdPKI(["issue", "--pki", pki, "--device", "0002"])
        #expect(again.status == 73, "\(again)")
        let forced = try await Programs.samdPKI(["issue", "--pki", pki, "--device", "0002", "--force"])
        #expect(forced.status == 0, "\(forced)")
    }

    @Test("issue refuses bad input: no id or a bad id (64), no PKI (66)")
    func issueRefusals() async throws {
        let (temporary, pki) = try await Self.initPKI()
        let noID = try await Programs.samdPKI(["issue", "--pki", pki])
        #expect(noID.status == 64, "\(noID)")
        let badID = try await Programs.samdPKI(["issue", "--pki", pki, "--device", "../escape"])
        #expect(badID.status == 64, "\(badID)")
        #expect(!FileManager.default.fileExists(atPath: temporary.path("escape.pem")))
        let missing = try await Programs.samdPKI(["issue", "--pki", temporary.path("nothing-here"), "--device", "0009"])
        #expect(missing.status == 66, "\(missing)")
        // A directory whose intermediate key is not its certificate's.
        try FileManager.default.removeItem(atPath: "\(pki)/intermediate.key")
        try FileManager.default.copyItem(atPath: "\(pki)/server.key", toPath: "\(pki)/intermediate.key")
        let mismatched = try await Programs.samdPKI(["issue", "--pki", pki, "--device", "0009"])
        #expect(mismatched.status == 66, "\(mismatched)")
    }
}
