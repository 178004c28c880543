// sslyze (PyPI) scans the in-process gateway (EchoGateway: client certificates required): versions, suites,
// client authentication.
// sslyze lives in a virtualenv that Scripts/setup makes at .build/tools/venv.

import Foundation
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

@Suite("sslyze scan")
struct ScannerTests {
    static var sslyzePython: URL {
        Locations.packageRoot.appendingPathComponent(".build/tools/venv/bin/python")
    }

    /// The virtualenv's python, when sslyze is installed there; otherwise the test fails naming Scripts/setup.
    static func requireSSLyze() throws -> URL {
        let sslyze = Locations.packageRoot.appendingPathComponent(".build/tools/venv/bin/sslyze")
        guard FileManager.default.isExecutableFile(atPath: sslyze.path),
            FileManager.default.isExecutableFile(atPath: self.sslyzePython.path)
        else {
            throw SetupFailure("sslyze is not installed at \(sslyze.path); run Scripts/setup (CI runs it)")
        }
        return self.sslyzePython
    }

    /// Runs sslyze's version and suite scans against `port` and returns the one server result.
    static func scan(port: Int, clientCertificate: (cert: String, key: String)?, in directory: URL) async throws
        -> [String:
        Any]
    {
        let python = try self.requireSSLyze()
        let json = directory.appendingPathComponent("sslyze-\(UUID().uuidString).json").path
        var arguments = ["-m", "sslyze", "--quiet", "--json_out=\(json)", "--mozilla_config", "disable"]
        arguments += ["--sslv2", "--sslv3", "--tlsv1", "--tlsv1_1", "--tlsv1_2", "--tlsv1_3", "--elliptic_curves"]
        if let clientCertificate {
            arguments += ["--cert", clientCertificate.cert, "--key", clientCertificate.key]
        }
        arguments.append("127.0.0.1:\(port)")
        let result = try await ChildProcess.run(python, arguments, timeout: .seconds(180))
        #expect(result.status == 0, "sslyze: \(result)")
        let data = try Data(contentsOf: URL(fileURLWithPath: json))
        let document = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let results = try #require(document["server_scan_results"] as? [[String: Any]])
        return try #require(results.first)
    }

    static func suites(_ scan: [String: Any], _ name: String) throws -> (supported: Bool, accepted: [String]) {
        let results = try #require(scan["scan_result"] as? [String: Any])
        let attempt = try #require(results[name] as? [String: Any], "no \(name) in the scan")
        #expect(attempt["status"] as? String == "COMPLETED", "\(name): \(attempt)")
        let result = try #require(attempt["result"] as? [String: Any], "\(name) has no result: \(attempt)")
        let accepted = (result["accepted_cipher_suites"] as? [[String: Any]] ?? []).compactMap {
            ($0["cipher_suite"] as? [String: Any])?["name"] as? String
        }
        return (result["is_tls_version_supported"] as? Bool ?? false, accepted)
    }

    @Test func gatewayOffersTLS13AEADOnlyAndRequiresClientCertificates() async throws {
        _ = try Self.requireSSLyze()
        let pki = try PKIDirectory()
        try await EchoGateway.run(EchoGateway.configuration(pki)) { port, events in
            // Without a client certificate: sslyze can still enumerate TLS 1.3 suites (the refusal of the client
            // comes after the handshake) and tells whether client authentication is required.
            let anonymous = try await Self.scan(port: port, clientCertificate: nil, in: pki.directory)
            #expect(
                anonymous["connectivity_status"] as? String == "COMPLETED",
                "\(anonymous["connectivity_error_trace"] ?? "")"
            )
            let connectivity = try #require(anonymous["connectivity_result"] as? [String: Any])
            #expect(connectivity["client_auth_requirement"] as? String == "REQUIRED", "\(connectivity)")
            #expect(connectivity["highest_tls_version_supported"] as? String == "TLS_1_3", "\(connectivity)")

            for legacy in [
                "ssl_2_0_cipher_suites", "ssl_3_0_cipher_suites", "tls_1_0_cipher_suites", "tls_1_1_cipher_suites",
                "tls_1_2_cipher_suites",
            ] {
                let (supported, accepted) = try Self.suites(anonymous, legacy)
                #expect(!supported, "\(legacy) is accepted")
                #expect(accepted.isEmpty, "\(legacy): \(accepted)")
            }
            let (tls13, accepted) = try Self.suites(anonymous, "tls_1_3_cipher_suites")
            #expect(tls13)
            #expect(!accepted.isEmpty)
            let aead: Set = ["TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256"]
            for suite in accepted {
                #expect(aead.contains(suite), "weak or unexpected TLS 1.3 suite \(suite)")
            }
            #expect(!accepted.contains("TLS_AES_128_CCM_8_SHA256"), "CCM_8 has a truncated tag")

            // With the device certificate sslyze completes authenticated handshakes.
            let authenticated = try await Self.scan(
                port: port, clientCertificate: (pki.cert("device"), pki.key("device")), in: pki.directory)
            #expect(
                authenticated["connectivity_status"] as? String == "COMPLETED",
                "\(authenticated["connectivity_error_trace"] ?? "")")
            let (tls13WithCertificate, acceptedWithCertificate) = try Self.suites(
                authenticated, "tls_1_3_cipher_suites")
            #expect(tls13WithCertificate)
            #expect(Set(acceptedWithCertificate).isSubset(of: aead), "\(acceptedWithCertificate)")
            #expect(try Self.suites(authenticated, "tls_1_2_cipher_suites").supported == false)
            #expect(await events.waitForText(containing: "peer=\(TestPKI.deviceURI)"), "\(events.allText)")
        }
    }
}
