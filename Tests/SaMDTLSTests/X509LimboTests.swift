// x509-limbo conformance harness (C2SP/x509-limbo, Apache-2.0; see Resources/x509-limbo/README.md).
//
// Runs every limbo test case through `TLSChainVerifier.verify` — the same OpenSSL parameters and SaMDTLS
// checks (`ChainCheck.complete`) that handshakes use — and compares the outcome with the case's
// `expected_result`. Cases needing inputs the verifier does not take (CRLs, key-usage or signature-algorithm
// constraints other than digitalSignature, EKUs other than the role's) are skipped, with the reason printed once.
//
// The test asserts: we match at least as many cases as OpenSSL 3.0.19's own limbo harness (145); every
// difference is listed in `intendedDifferences` with a reason, and every listed id still differs (the list
// is exact); no case the suite expects to fail is accepted unless listed. Docs/X509Limbo.md explains it.

import Foundation
@_spi(Testing) import SaMDTLS
import Testing

@Suite("x509-limbo")
struct X509LimboTests {
    /// OpenSSL 3.0.19's own harness on the same suite (results-openssl-3.0.19-harness.json).
    static let openSSLMatch = 145
    static let openSSLDiffer = 53
    static let openSSLSkipped = 10

    /// Every case where SaMDTLS's outcome differs from the suite's expectation, with the reason we accept it.
    /// Reviewed: a new difference, or a listed case that now matches, fails the test.
    static let intendedDifferences: [String: String] = [
        "crl::issuer-no-keyusage-extension":
            "X509_V_FLAG_X509_STRICT refuses a CA certificate without keyUsage, which RFC 5280 §4.2.1.3 requires of CAs that sign certificates or CRLs",
        // Stricter by design: SaMDTLS refuses what the suite accepts (the suite expects SUCCESS).
        "rfc5280::eku::ee-without-eku":
            "policy: a TLS peer's leaf must carry the EKU of its role (serverAuth/clientAuth); RFC 5280 allows none",
        "rfc5280::ca-as-leaf":
            "policy: a CA certificate (cA TRUE) never authenticates a TLS peer (OpenSSL purpose check, BR §7.1.2.7.8)",
        "pathlen::validation-ignores-pathlen-in-leaf":
            "policy: the leaf is a CA certificate (cA TRUE, pathlen 0), refused as a TLS peer like rfc5280::ca-as-leaf",
        "rfc5280::root-and-intermediate-swapped":
            "OpenSSL path building: trust anchors must be self-signed roots (no X509_V_FLAG_PARTIAL_CHAIN); fails closed",
        "cve::cve-2024-0567":
            "OpenSSL 3.0 path building does not resolve the cross-signed cycle to the trusted root A; fails closed",
        "rfc5280::nc::nc-forbids-alternate-chain-ica":
            "OpenSSL path building takes the first issuer and does not backtrack to the valid alternate chain; fails closed",
        "rfc5280::nc::nc-forbids-same-chain-ica":
            "OpenSSL path building does not backtrack from the name-constraint violation to the other root; fails closed",
        "pathlen::max-chain-depth-1-self-issued":
            "OpenSSL's depth limit counts self-issued intermediates, which RFC 5280 §6.1 does not; fails closed",
        "rfc5280::validity::notafter-exact":
            "OpenSSL treats notAfter as exclusive (RFC 5280 §4.1.2.5 says inclusive): one second earlier expiry",
        "rfc5280::validity::notafter-fractional":
            "ambiguous case (sub-second after notAfter); OpenSSL compares whole seconds and expires the certificate",
        // Accepted although the suite expects FAILURE: rules of the Web PKI that device PKIs legitimately break.
        "webpki::eku::ee-critical-eku":
            "RFC 5280 §4.2.1.12 allows a critical EKU and device PKIs use it; only BR §7.1.2.7.6 forbids it",
        "webpki::eku::root-has-eku":
            "private roots constrain their hierarchy by EKU; a trust anchor's extensions are the operator's choice (BR-only rule)",
        "webpki::san::san-critical-with-nonempty-subject":
            "RFC 5280 §4.2.1.6 allows a critical SAN with a non-empty subject; only BR §7.1.2.7.12 forbids it",
        "webpki::cn::not-in-san":
            "BR §7.1.4.3: a CN naming something other than the SANs is left alone (device PKIs); names match the SAN only",
        "webpki::cn::punycode-not-in-san":
            "BR §7.1.4.3: a CN that is another name than the SANs is left alone; the CN is never used for matching",
        "webpki::cn::utf8-vs-punycode-mismatch":
            "BR §7.1.4.3: no IDNA conversion to relate a U-label CN to its A-label SAN; the CN is never used for matching",
        "webpki::san::public-suffix-multi-label-wildcard-san":
            "no Public Suffix List in SaMDTLS (device PKIs use private names); *.co.uk is matched like any wildcard",
        "webpki::san::public-suffix-private-namespace-wildcard-san":
            "no Public Suffix List in SaMDTLS; *.s3.amazonaws.com is matched like any wildcard",
        "rfc5280::nc::permitted-dns-match-noncritical":
            "a non-critical name constraint is still enforced; conflicts with webpki::nc::permitted-dns-match-noncritical, which we follow",
    ]

    // MARK: - The suite's format (limbo-schema.json)

    struct Suite: Decodable {
        let version: Int
        let testcases: [Testcase]
    }

    struct PeerName: Decodable {
        let kind: String
        let value: String
    }

    struct Testcase: Decodable {
        let id: String
        let features: [String]?
        let validation_kind: String
        let trusted_certs: [String]
        let untrusted_intermediates: [String]
        let peer_certificate: String
        let validation_time: String?
        let signature_algorithms: [String]
        let key_usage: [String]
        let extended_key_usage: [String]
        let expected_result: String
        let expected_peer_name: PeerName?
        let max_chain_depth: Int?
        let crls: [String]?
    }

    /// The OpenSSL harness's results (results-openssl-3.0.19-harness.json).
    struct HarnessResults: Decodable {
        struct Entry: Decodable {
            let id: String
            let actual_result: String
            let context: String?
        }
        let harness: String
        let results: [Entry]
    }

    enum Outcome: Equatable {
        case match
        case differ(actual: String, detail: String)
        case skipped(reason: String)
    }

    // MARK: - Loading

    static func resourceDirectory() throws -> URL {
        try #require(Bundle.module.url(forResource: "x509-limbo", withExtension: nil), "x509-limbo resources missing")
    }

    static func loadSuite() throws -> Suite {
        let url = try resourceDirectory().appendingPathComponent("limbo-regenerated-no-bettertls.json")
        return try JSONDecoder().decode(Suite.self, from: Data(contentsOf: url))
    }

    static func loadOpenSSLResults() throws -> HarnessResults {
        let url = try resourceDirectory().appendingPathComponent("results-openssl-3.0.19-harness.json")
        return try JSONDecoder().decode(HarnessResults.self, from: Data(contentsOf: url))
    }

    /// The DER bytes of one PEM certificate.
    static func der(fromPEM pem: String) throws -> [UInt8] {
        let body = pem.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.hasPrefix("-----") && !$0.isEmpty }
            .joined()
        let data = try #require(Data(base64Encoded: body), "PEM body is not base64")
        return [UInt8](data)
    }

    /// RFC 3339 time, with or without fractional seconds.
    static func date(rfc3339 text: String) throws -> Date {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return try #require(formatter.date(from: text), "not an RFC 3339 time: \(text)")
    }

    // MARK: - Running one case

    /// Why a case is outside what `TLSChainVerifier` models, or nil when it can run.
    static func skipReason(_ testcase: Testcase) -> String? {
        if testcase.trusted_certs.isEmpty {
            return "no trusted certificates in the case"
        }
        if !testcase.signature_algorithms.isEmpty {
            return "signature_algorithms constraint: not a verifier parameter"
        }
        // SaMDTLS requires digitalSignature of every leaf that has a keyUsage (RFC 8446 §4.4.2.2): a case
        // asking for exactly that runs; any other key_usage constraint is not modelled.
        if !testcase.key_usage.isEmpty, testcase.key_usage != ["digitalSignature"] {
            return "key_usage constraint \(testcase.key_usage) on the leaf: SaMDTLS checks only digitalSignature"
        }
        let roleEKU = testcase.validation_kind == "SERVER" ? "serverAuth" : "clientAuth"
        // An empty list puts no EKU constraint on the case; SaMDTLS still requires the role's EKU, which is
        // what handshakes do, so such cases run. A list other than exactly the role's EKU is not modelled.
        if !testcase.extended_key_usage.isEmpty, testcase.extended_key_usage != [roleEKU] {
            return "extended_key_usage \(testcase.extended_key_usage): SaMDTLS checks only \(roleEKU) for this role"
        }
        if let name = testcase.expected_peer_name, name.kind != "DNS", name.kind != "IP" {
            return "expected_peer_name of kind \(name.kind): servers are named by DNS or IP only"
        }
        if testcase.validation_kind != "SERVER", testcase.validation_kind != "CLIENT" {
            return "validation_kind \(testcase.validation_kind)"
        }
        return nil
    }

    /// Runs one case through SaMDTLS's verification path.
    static func run(_ testcase: Testcase) throws -> Outcome {
        if let reason = skipReason(testcase) {
            return .skipped(reason: reason)
        }
        let leaf = try der(fromPEM: testcase.peer_certificate)
        let intermediates = try testcase.untrusted_intermediates.map(der(fromPEM:))
        let roots = try testcase.trusted_certs.map(der(fromPEM:))
        let crls = (testcase.crls ?? []).map { Array($0.utf8) }
        let peer: TLSChainVerifier.Peer
        if testcase.validation_kind == "SERVER" {
            switch testcase.expected_peer_name?.kind {
            case "DNS": peer = .server(name: .dns(testcase.expected_peer_name!.value))
            case "IP": peer = .server(name: .ipAddress(testcase.expected_peer_name!.value))
            default: peer = .server(name: nil)
            }
        } else {
            peer = .client
        }
        let time = try testcase.validation_time.map { try date(rfc3339: $0) } ?? Date()
        let result: Result<TLSPeerIdentity, TLSError>
        if let depth = testcase.max_chain_depth {
            result = TLSChainVerifier.verify(
                leaf: leaf, intermediates: intermediates, roots: roots, peer: peer, at: time, maximumChainDepth: depth,
                crls: crls)
        } else {
            result = TLSChainVerifier.verify(
                leaf: leaf, intermediates: intermediates, roots: roots, peer: peer, at: time, crls: crls)
        }
        let actual: String
        let detail: String
        switch result {
        case .success:
            actual = "SUCCESS"
            detail = "accepted"
        case .failure(let error):
            actual = "FAILURE"
            detail = "\(error.code): \(error.reason)"
        }
        return actual == testcase.expected_result ? .match : .differ(actual: actual, detail: detail)
    }

    // MARK: - The test

    @Test("SaMDTLS verification against x509-limbo: at least OpenSSL's score, every difference reviewed")
    func limbo() throws {
        let suite = try Self.loadSuite()
        #expect(suite.version == 1)
        #expect(suite.testcases.count == 208)

        var outcomes: [(id: String, expected: String, outcome: Outcome)] = []
        for testcase in suite.testcases {
            outcomes.append((testcase.id, testcase.expected_result, try Self.run(testcase)))
        }

        var matches = 0
        var differences: [String: (expected: String, actual: String, detail: String)] = [:]
        var skipReasons: [String: [String]] = [:]
        for (id, expected, outcome) in outcomes {
            switch outcome {
            case .match: matches += 1
            case .differ(let actual, let detail): differences[id] = (expected, actual, detail)
            case .skipped(let reason): skipReasons[reason, default: []].append(id)
            }
        }
        let skipped = skipReasons.values.reduce(0) { $0 + $1.count }

        for reason in skipReasons.keys.sorted() {
            let ids = skipReasons[reason]!
            print("x509-limbo skip (\(ids.count)): \(reason) — \(ids.joined(separator: ", "))")
        }
        for id in differences.keys.sorted() {
            let difference = differences[id]!
            let listed = Self.intendedDifferences[id] != nil ? "intended" : "NOT LISTED"
            print(
                "x509-limbo differ [\(listed)] \(id): expected \(difference.expected), got \(difference.actual) (\(difference.detail))"
            )
        }
        print(
            "x509-limbo: \(matches) match, \(differences.count) differ, \(skipped) skipped "
                + "(OpenSSL 3.0.19 harness: \(Self.openSSLMatch) match, \(Self.openSSLDiffer) differ, \(Self.openSSLSkipped) skipped)"
        )

        // The OpenSSL reference numbers are those of the shipped results file.
        let reference = try Self.loadOpenSSLResults()
        let expectedByID = Dictionary(uniqueKeysWithValues: suite.testcases.map { ($0.id, $0.expected_result) })
        let referenceSkipped = reference.results.filter { $0.actual_result == "SKIPPED" }.count
        let referenceMatch = reference.results.filter { expectedByID[$0.id] == $0.actual_result }.count
        #expect(reference.harness == "openssl-3.0.19")
        #expect(referenceMatch == Self.openSSLMatch)
        #expect(referenceSkipped == Self.openSSLSkipped)
        #expect(reference.results.count - referenceMatch - referenceSkipped == Self.openSSLDiffer)

        // (1) At least OpenSSL's own score.
        #expect(matches >= Self.openSSLMatch, "x509-limbo: \(matches) match, fewer than OpenSSL's \(Self.openSSLMatch)")

        // (2) The list of differences is exact: nothing new, nothing stale.
        for id in differences.keys.sorted() where Self.intendedDifferences[id] == nil {
            let difference = differences[id]!
            Issue.record(
                "x509-limbo: \(id) differs and is not in intendedDifferences: expected \(difference.expected), got \(difference.actual) (\(difference.detail))"
            )
        }
        for id in Self.intendedDifferences.keys.sorted() where differences[id] == nil {
            Issue.record("x509-limbo: \(id) is in intendedDifferences but no longer differs (remove it from the list)")
        }
        // Every listed id exists in the suite and has a reason.
        for (id, reason) in Self.intendedDifferences {
            #expect(expectedByID[id] != nil, "intendedDifferences names \(id), which is not in the suite")
            #expect(!reason.trimmingCharacters(in: .whitespaces).isEmpty, "intendedDifferences[\(id)] has no reason")
        }

        // (3) No case the suite expects to fail is accepted unless it is listed with a reason.
        for (id, difference) in differences where difference.expected == "FAILURE" && difference.actual == "SUCCESS" {
            #expect(
                Self.intendedDifferences[id].map { !$0.isEmpty } == true,
                "x509-limbo: \(id) must be refused but SaMDTLS accepts it"
            )
        }
    }

    @Test("PEM and time decoding used by the harness")
    func decoding() throws {
        let date = try Self.date(rfc3339: "2024-04-01T00:00:00.005+00:00")
        #expect(abs(date.timeIntervalSince1970 - 1_711_929_600.005) < 0.001)
        #expect(try Self.date(rfc3339: "1970-01-01T00:00:03+00:00").timeIntervalSince1970 == 3)
        let suite = try Self.loadSuite()
        let first = try #require(suite.testcases.first)
        let der = try Self.der(fromPEM: first.peer_certificate)
        #expect(der.first == 0x30)
    }
}
