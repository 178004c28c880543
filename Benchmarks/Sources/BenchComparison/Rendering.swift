import BenchmarkCatalog
import Foundation

/// The outputs of bench-compare: the table on standard output, its Markdown (`--markdown`), the rows as JSON
/// (`--json`) and `openssl speed` beside the envelope's seal.
public enum Rendering {
    /// A figure as the table shows it: no decimals for handshakes/s, headers/s, req/s and bytes, two for µs, ms and s,
    /// one otherwise, with thousands separated by commas; "—" when missing.
    public static func number(_ value: Double?, unit: String) -> String {
        guard let value else { return "—" }
        switch unit {
        case "handshakes/s", "headers/s", "bytes", "req/s": return grouped(value, decimals: 0)
        case "µs", "s", "ms": return grouped(value, decimals: 2)
        default: return grouped(value, decimals: 1)
        }
    }

    /// The rows as a table: aligned plain text (the name cut at 100 characters), or Markdown.
    /// - Throws: ``BenchCompareError`` when a row's goal is not `>=X` or `<=X`.
    public static func table(_ rows: [ComparedRow], markdown: Bool = false) throws -> String {
        let header = ["benchmark", "ours", "reference", "unit", "ratio", "goal", "met"]
        let lines = try rows.map { row in
            [
                row.name, self.number(row.ours, unit: row.unit), self.number(row.reference, unit: row.unit), row.unit,
                row.ratio.map { String(format: "%.2f", $0) } ?? "—", row.goal ?? "—",
                row.goal == nil ? "" : (try row.meetsGoal() ? "yes" : "NO"),
            ]
        }
        if markdown {
            let rule =
                "|"
                + (["---"] + Array(repeating: "---:", count: 2) + ["---"] + Array(repeating: "---:", count: 3))
                .joined(separator: "|") + "|"
            return ([header, nil] + lines.map { $0 }).map { cells in
                cells.map { "| " + $0.joined(separator: " | ") + " |" } ?? rule
            }.joined(separator: "\n")
        }
        var widths = header.indices.map { column in (lines + [header]).map { length($0[column]) }.max() ?? 0 }
        widths[0] = min(widths[0], 100)
        let leftAligned: Set = [0, 3, 5, 6]
        func render(_ cells: [String]) -> String {
            cells.enumerated().map { column, cell in
                leftAligned.contains(column)
                    ? pad(
                        String(String.UnicodeScalarView(cell.unicodeScalars.prefix(widths[column]))), widths[column],
                        leftAligned: true)
                    : pad(cell, widths[column])
            }.joined(separator: "  ")
        }
        return ([render(header), render(widths.map { String(repeating: "-", count: $0) })] + lines.map(render))
            .joined(separator: "\n")
    }

    /// `openssl speed`'s figures (MiB/s by algorithm, "aes-256-gcm" or "chacha20-poly1305", and size) beside the
    /// envelope's seal rows.
    public static func speedTable(_ speeds: [OpenSSLSpeed.Key: Double], rows: [ComparedRow]) -> String {
        var lines = [
            "openssl speed (one core; the cipher's own speed here, as noisy as the rows above), MiB/s, beside the "
                + "envelope's seal:",
            [
                pad("size", 8), pad("AES-256-GCM", 12), pad("envelope AES", 12), pad("ChaCha20-Poly1305", 18),
                pad("envelope XChaCha", 16),
            ].joined(separator: "  "),
        ]
        for size in BenchmarkPlan.messageSizes {
            let cells = [
                (speeds[.init(algorithm: .aes256GCM, size: size)], 12),
                (self.sealRate(rows, .aes256GCM, size: size, ours: true), 12),
                (speeds[.init(algorithm: .chaCha20Poly1305, size: size)], 18),
                (self.sealRate(rows, .xChaCha20Poly1305, size: size, ours: true), 16),
            ]
            lines.append(
                ([pad(BenchmarkPlan.sizeLabel(size), 8)] + cells.map { pad(self.number($0, unit: "MiB/s"), $1) })
                    .joined(separator: "  "))
        }
        return lines.joined(separator: "\n")
    }

    /// The envelope's (`ours`) or the raw AEAD's seal throughput at `size`, from the rows.
    static func sealRate(_ rows: [ComparedRow], _ suite: AEADSuiteName, size: Int, ours: Bool) -> Double? {
        let name = "envelope seal \(BenchmarkPlan.sizeLabel(size)) (\(suite.rawValue)) vs \(suite.raw.rawValue)"
        return rows.first { $0.name == name }.flatMap { ours ? $0.ours : $0.reference }
    }

    /// The rows as a JSON list, two spaces of indentation, non-ASCII characters as they are, a final newline.
    public static func json(_ rows: [ComparedRow]) -> String {
        func number(_ value: Double?, integer: Bool = false) -> String {
            value.map { integer && $0 == $0.rounded() && abs($0) < 1e15 ? "\(Int($0))" : "\($0)" } ?? "null"
        }
        func string(_ value: String?) -> String { value.map(quoted) ?? "null" }
        let objects = rows.map { row in
            [
                "\"name\": \(quoted(row.name))", "\"ours\": \(number(row.ours, integer: row.integerFigures))",
                "\"reference\": \(number(row.reference, integer: row.integerFigures))", "\"unit\": \(quoted(row.unit))",
                "\"ratio\": \(number(row.ratio))", "\"goal\": \(string(row.goal))",
            ].map { "    " + $0 }.joined(separator: ",\n")
        }
        return rows.isEmpty ? "[]\n" : "[\n" + objects.map { "  {\n\($0)\n  }" }.joined(separator: ",\n") + "\n]\n"
    }
}

/// A JSON string: quotes, backslashes and control characters escaped, everything else as it is.
private func quoted(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case "\u{08}": out += "\\b"
        case "\u{0C}": out += "\\f"
        case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

/// Characters as the table counts them (Unicode scalars).
private func length(_ text: String) -> Int { text.unicodeScalars.count }

/// `text` padded with spaces to `width`: on the left (right-aligned), or on the right when `leftAligned`.
func pad(_ text: String, _ width: Int, leftAligned: Bool = false) -> String {
    let padding = String(repeating: " ", count: max(0, width - length(text)))
    return leftAligned ? text + padding : padding + text
}

/// `value` with `decimals` decimals and its integer digits grouped by three with commas: 1,832.3.
private func grouped(_ value: Double, decimals: Int) -> String {
    thousandsGrouped(String(format: "%.\(decimals)f", value))
}
