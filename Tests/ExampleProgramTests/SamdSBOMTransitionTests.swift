import Foundation
import SaMDTestSupport
import Testing

/// `samd-sbom --check --as-of DAY` and the CBOM's dated NIST transitions (IR 8547's two steps), through the program.
@Suite("samd-sbom dated algorithm transitions")
struct SBOMTransitionCheckTests {
    /// The algorithm lines of a check on `day`, with an advisories file that matches nothing (and an empty one:
    /// `[]` checks only end of support and the transitions).
    static func check(on day: String, advisories: String? = nil) async throws -> (status: Int32?, lines: [String]) {
        let run = try await SBOMHarness.sbom([
            "--check", try advisories ?? SBOMHarness.resource("nonmatching"), "--as-of", day,
        ])
        let lines = run.output.split(separator: "\n").map(String.init).filter { $0.contains("ALGORITHM ") }
        return (run.status, lines)
    }

    @Test func noAlgorithmIsPastItsDateToday() async throws {
        let run = try await SBOMHarness.sbom([
            "--check", try SBOMHarness.resource("nonmatching"), "--as-of", "2026-12-07",
        ])
        #expect(run.status == 0, "\(run.output) \(run.standardError)")
        #expect(run.output.contains("no enabled algorithm is past a NIST transition date"))
    }

    @Test func in2031TheRSA2048PeerKeysAreDeprecatedAndP256IsNot() async throws {
        let empty = SBOMHarness.temporaryFile("empty.json")
        try Data("[]".utf8).write(to: empty)
        defer { try? FileManager.default.removeItem(at: empty) }
        let (status, lines) = try await Self.check(on: "2031-01-01", advisories: empty.path)
        #expect(status == 78)
        #expect(!lines.isEmpty && lines.allSatisfy { $0.hasPrefix("DEPRECATED ALGORITHM RSASSA-") }, "\(lines)")
        #expect(lines.contains { $0.contains("RSA-2048 peer keys accepted (112-bit security)") })
        #expect(lines.allSatisfy { $0.contains("IR 8547") && $0.contains("Table 2") && $0.contains("2030-12-31") })
        #expect(!lines.contains { $0.contains("P-256") || $0.contains("X25519") || $0.contains("Ed25519") })
    }

    @Test func in2036EveryRSAAndECCAlgorithmIsDisallowed() async throws {
        let (status, lines) = try await Self.check(on: "2036-01-01")
        #expect(status == 78)
        #expect(lines.allSatisfy { $0.hasPrefix("DISALLOWED ALGORITHM ") }, "\(lines)")
        for name in [
            "X25519 (TLS)", "ECDH-P-256", "ECDSA-P-256-SHA-256", "Ed25519", "Ed25519 (TLS)", "RSASSA-PSS-SHA-256",
        ] {
            #expect(lines.contains { $0.hasPrefix("DISALLOWED ALGORITHM \(name) (") }, "\(name): \(lines)")
        }
        for name in ["AES-256-GCM", "SHA-256", "HMAC-SHA-256", "HKDF-SHA-512", "Cobblestone-256"] {
            #expect(!lines.contains { $0.hasPrefix("DISALLOWED ALGORITHM \(name) (") }, "\(name)")
        }
        #expect(lines.contains { $0.contains("Table 4") }, "key establishment follows IR 8547 Table 4")
    }
}
