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
    var handshakesSucceeded = 0
    var handshakesFailed = 0
    var rotationSeconds = 0.0
    var subjectKeysRewrapped = 0
    var shreddedRecords = 0
    /// Where the keys are, for a demo whose KEK and TLS key are in a PKCS #11 token (empty otherwise): rows of the
    /// summary.
    var keyLocations: [(String, String)] = []

    var allPassed: Bool {
        !self.checks.isEmpty && self.checks.allSatisfy(\.passed)
    }

    mutating func check(_ name: String, _ passed: Bool, _ detail: String, say: (String) -> Void) {
        self.checks.append(DemoCheck(name: name, passed: passed, detail: detail))
        say("\(passed ? "PASS" : "FAIL")  \(name)  [\(detail)]")
    }

    func summaryTable() -> String {
        let mib = Double(self.byteCount) / 1_048_576
        let rows: [(String, String)] =
            [
                ("records", "\(self.recordCount) over \(self.subjectCount) subjects"),
                ("bytes", "\(self.byteCount) (\(String(format: "%.2f", mib)) MiB)"),
                ("upload over mTLS (device → gateway → store)", Self.rate(mib, self.uploadSeconds)),
                ("read back over mTLS (store → gateway → reader)", Self.rate(mib, self.readSeconds)),
                ("envelope seal, in process", String(format: "%.1f MiB/s", self.sealMiBPerSecond)),
                ("envelope open, in process", String(format: "%.1f MiB/s", self.openMiBPerSecond)),
                (
                    "TLS handshakes at the gateway",
                    "\(self.handshakesSucceeded) succeeded, \(self.handshakesFailed) refused"
                ),
                (
                    "KEK rotation (subject keys rewrapped)",
                    String(format: "%d in %.3f s", self.subjectKeysRewrapped, self.rotationSeconds)
                ),
                ("records crypto-shredded", "\(self.shreddedRecords)"),
            ] + self.keyLocations + [
                ("checks", "\(self.checks.filter(\.passed).count) of \(self.checks.count) passed")
            ]
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

    static func rate(_ mib: Double, _ seconds: Double) -> String {
        guard seconds > 0 else { return "-" }
        return String(format: "%.3f s, %.1f MiB/s", seconds, mib / seconds)
    }
}
