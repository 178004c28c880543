import Foundation
import SaMDTestSupport
import Testing

/// `samd-demo --pkcs11-module`: the whole demo with the KEK and the gateway's TLS key in a fresh SoftHSM2 token the
/// demo makes in its work directory, checked afterwards with opensc's pkcs11-tool (another PKCS #11 client).
@Suite("samd-demo --pkcs11-module", .timeLimit(.minutes(5)))
struct DemoTokenTests {
    /// pkcs11-tool's `--list-objects`, one entry per object: its heading line and its indented `name: value` lines.
    static func objects(_ listing: String) -> [(heading: String, fields: [String: String])] {
        var objects: [(heading: String, fields: [String: String])] = []
        for line in listing.split(separator: "\n") {
            if !line.hasPrefix(" ") {
                objects.append((String(line), [:]))
            } else if let colon = line.firstIndex(of: ":"), !objects.isEmpty {
                let name = line[..<colon].trimmingCharacters(in: .whitespaces)
                objects[objects.count - 1].fields[name] = line[line.index(after: colon)...].trimmingCharacters(
                    in: .whitespaces)
            }
        }
        return objects
    }

    @Test func theDemoKeepsTheKEKAndTheGatewayKeyInItsTokenAndPassesEveryCheck() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent(
            "samd-demo-token-test-\(UUID().uuidString)"
        ).path
        defer { try? FileManager.default.removeItem(atPath: work) }
        let run = try await ChildProcess.run(
            try ProgramLocations.binary("samd-demo"),
            ["--pkcs11-module", SoftHSMToken.modulePath, "--work-directory", work], timeout: .seconds(240))
        #expect(run.status == 0, "\(run)")
        #expect(run.output.contains("samd-demo: all 11 checks passed"), "\(run)")
        for shown in [
            "PASS  device uploads 4 records over mutual TLS",
            "PASS  reader reads every record back byte for byte",
            "PASS  KEK rotated records:1 → records:2",
            "PASS  after destroying records:1, every record still opens byte for byte",
            "PASS  records:1 is destroyed in the token (C_DestroyObject)",
            "PASS  the KEK records:2, the store's wrap and MAC keys and the gateway's TLS key are in the token: sensitive, never extractable",
            "PASS  shredding one subject",
            "PASS  a client without a certificate is refused (certificateRequired)",
            "PASS  a device certificate from an unknown CA is refused",
            "PASS  the database holds no plaintext and no subject or record id",
            // The summary: where the keys are, and that they never left the token.
            "KEK custody", "PKCS #11 token samd-demo, module \(SoftHSMToken.modulePath)",
            "records:1 destroyed, records:2 active", "samd-index-wrap, samd-metadata-mac",
            "gateway TLS key in the token", "samd-gateway-tls: EC P-256",
            "KEK and TLS key outside the token", "never: generated inside it",
            "a token KEK never seals records directly",
        ] {
            #expect(run.output.contains(shown), "missing: \(shown)\n\(run)")
        }
        #expect(!run.output.contains("FAIL"))

        // The work directory holds the token, its configuration and its PINs (0600), which were never printed.
        for name in ["token-user-pin", "token-so-pin", "softhsm2.conf"] {
            #expect(fileMode(work + "/" + name) == 0o600, "\(name)")
        }
        #expect(fileMode(work + "/token") == 0o700)
        #expect(try FileManager.default.contentsOfDirectory(atPath: work + "/token").count == 1)
        let userPIN = try String(contentsOfFile: work + "/token-user-pin", encoding: .utf8)
            .trimmingCharacters(in: .newlines)
        let securityOfficerPIN = try String(contentsOfFile: work + "/token-so-pin", encoding: .utf8)
            .trimmingCharacters(in: .newlines)
        #expect(userPIN.count == 24 && securityOfficerPIN.count == 24 && userPIN != securityOfficerPIN)
        for pin in [userPIN, securityOfficerPIN] {
            #expect(!run.output.contains(pin) && !run.standardError.contains(pin))
        }
        let keystore = try String(contentsOfFile: work + "/keys/keystore.json", encoding: .utf8)
        #expect(keystore.contains("pkcs11") && keystore.contains("samd-demo"), "\(keystore)")
        #expect(!keystore.contains(userPIN))

        // pkcs11-tool, with the demo's SOFTHSM2_CONF, logged in to the demo's token.
        let tool = try ProgramLocations.requiredTool("pkcs11-tool")
        let environment = ["SOFTHSM2_CONF": work + "/softhsm2.conf"]
        let common = ["--module", SoftHSMToken.modulePath, "--token-label", "samd-demo", "--login", "--pin", userPIN]
        let listing = try await ChildProcess.run(
            tool, common + ["--list-objects"], environment: environment, timeout: .seconds(30))
        #expect(listing.status == 0, "\(listing)")
        let objects = Self.objects(listing.output)
        let neverLeaves = "sensitive, always sensitive, never extractable, local"
        let kek = objects.first { $0.fields["label"] == "records:2" }
        #expect(kek?.heading == "Secret Key Object; AES length 32", "\(listing)")
        #expect(kek?.fields["Access"] == neverLeaves, "\(listing)")
        #expect(!objects.contains { $0.fields["label"] == "records:1" }, "records:1 is destroyed\n\(listing)")
        let gatewayKey = objects.first {
            $0.fields["label"] == "samd-gateway-tls" && $0.heading.hasPrefix("Private Key Object")
        }
        #expect(gatewayKey?.heading == "Private Key Object; EC", "\(listing)")
        #expect(gatewayKey?.fields["Access"] == neverLeaves, "\(listing)")
        #expect(gatewayKey?.fields["Usage"] == "sign", "\(listing)")
        #expect(
            objects.contains { $0.fields["label"] == "samd-gateway-tls" && $0.heading.hasPrefix("Public Key Object") })
        // The KEK's value cannot be read out of the token.
        let read = try await ChildProcess.run(
            tool, common + ["--read-object", "--type", "secrkey", "--label", "records:2"], environment: environment,
            timeout: .seconds(30))
        #expect(read.status != 0, "\(read)")
    }

    @Test func aModuleThatIsNotSoftHSM2IsRefusedAndAMissingOneIsUsage() async throws {
        let demo = try ProgramLocations.binary("samd-demo")
        let help = try await ChildProcess.run(demo, ["--help"], timeout: .seconds(60))
        for said in ["--pkcs11-module", "SoftHSM2", "SOFTHSM2_CONF", "token-user-pin", "Another module is refused"] {
            #expect(help.output.contains(said), "--help does not say \(said)\n\(help)")
        }
        // A file that is no PKCS #11 module: 69, named.
        let notAModule = try await ChildProcess.run(demo, ["--pkcs11-module", "/bin/true"], timeout: .seconds(60))
        #expect(notAModule.status == 69, "\(notAModule)")
        #expect(notAModule.standardError.contains("/bin/true"), "\(notAModule)")
        // opensc's module (installed with pkcs11-tool): a real module, but not one that can make a fresh token.
        let opensc = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"
        if FileManager.default.fileExists(atPath: opensc) {
            let other = try await ChildProcess.run(demo, ["--pkcs11-module", opensc], timeout: .seconds(60))
            #expect(other.status == 69, "\(other)")
            #expect(other.standardError.contains("only SoftHSM2"), "\(other)")
        }
        for path in ["relative/libsofthsm2.so", "/nonexistent/libsofthsm2.so"] {
            let usage = try await ChildProcess.run(demo, ["--pkcs11-module", path], timeout: .seconds(60))
            #expect(usage.status == 64, "\(usage)")
        }
    }
}
