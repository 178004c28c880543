import Foundation

/// One check of the demo: what was shown, whether it held, and what was seen.
struct DemoCheck {
    let name: String
    let passed: Bool
    let detail: String
}

/// What the demo did and measured.
struct DemoReport {
    var checks: [DemoCheck] = []
    var recordCount = 0
    var byteCount = 0
    var subjectCount = 0
    var uploadSeconds = 0.0
    var readSeconds = 0.0
    var sealMiBPerSecond = 0.0
    var openMiBPerSecond = 0.0
    /// TLS handshakes at each gateway: its name (`nil` for the demo's only one), succeeded, refused.
    var handshakes: [(gateway: String?, succeeded: Int, failed: Int)] = []
    var rotationSeconds = 0.0
    var subjectKeysRewrapped = 0
    /// The re-key of every subject (`--postgres`): records rewrapped, seconds.
    var rekey: (recordsRewrapped: Int, seconds: Double)?
    var shreddedRecords = 0
    /// Where the keys are (a demo whose KEK and TLS key are in a PKCS #11 token) and the records (`--postgres`):
    /// rows of the summary; empty otherwise.
    var locations: [(String, String)] = []

    var allPassed: Bool {
        !self.checks.isEmpty && self.checks.allSatisfy(\.passed)
    }

    mutating func check(_ name: String, _ passed: Bool, _ detail: String, say: (String) -> Void) {
        self.checks.append(DemoCheck(name: name, passed: passed, detail: detail))
        say("\(passed ? "PASS" : "FAIL")  \(name)  [\(detail)]")
    }

    func summaryTable() -> String {
        let mib = Double(self.byteCount) / 1_048_576
        var rows: [(String, String)] = [
            ("records", "\(self.recordCount) over \(self.subjectCount) subjects"),
            ("bytes", "\(self.byteCount) (\(String(format: "%.2f", mib)) MiB)"),
            ("upload over mTLS (device → gateway → store)", Self.rate(mib, self.uploadSeconds)),
            ("read back over mTLS (store → gateway → reader)", Self.rate(mib, self.readSeconds)),
            ("envelope seal, in process", String(format: "%.1f MiB/s", self.sealMiBPerSecond)),
            ("envelope open, in process", String(format: "%.1f MiB/s", self.openMiBPerSecond)),
            self.handshakesRow,
            (
                "KEK rotation (subject keys rewrapped)",
                String(format: "%d in %.3f s", self.subjectKeysRewrapped, self.rotationSeconds)
            ),
        ]
        if let rekey = self.rekey {
            rows.append(
                (
                    "subject re-key (records rewrapped)",
                    String(format: "%d in %.3f s", rekey.recordsRewrapped, rekey.seconds)
                ))
        }
        rows.append(("records crypto-shredded", "\(self.shreddedRecords)"))
        rows += self.locations
        rows.append(("checks", "\(self.checks.filter(\.passed).count) of \(self.checks.count) passed"))
        let width = rows.map(\.0.count).max() ?? 0
        let line = String(repeating: "-", count: width + 2) + "+" + String(repeating: "-", count: 40)
        var text = line + "\n"
        for (name, value) in rows {
            text += " " + name.padding(toLength: width, withPad: " ", startingAt: 0) + " | " + value + "\n"
        }
        text += line
        #if DEBUG
            text += "\n (a debug build: `swift run -c release samd-demo` gives release figures)"
        #endif
        return text
    }

    /// "TLS handshakes at the gateway" — or, with several, at each of them.
    var handshakesRow: (String, String) {
        guard self.handshakes.count > 1 else {
            let only = self.handshakes.first
            return ("TLS handshakes at the gateway", "\(only?.succeeded ?? 0) succeeded, \(only?.failed ?? 0) refused")
        }
        return (
            "TLS handshakes at the gateways",
            self.handshakes.map { "\($0.gateway ?? "?"): \($0.succeeded) succeeded, \($0.failed) refused" }.joined(
                separator: "; ")
        )
    }

    static func rate(_ mib: Double, _ seconds: Double) -> String {
        guard seconds > 0 else { return "-" }
        return String(format: "%.3f s, %.1f MiB/s", seconds, mib / seconds)
    }
}
