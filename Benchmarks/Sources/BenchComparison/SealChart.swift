import BenchmarkCatalog
import Foundation

/// An SVG line chart of seal throughput by record size (`--chart`): the envelope, the raw AEAD and
/// `openssl speed` for both suites, MiB/s on a log scale.
public enum SealChart {
    /// The chart of `rows` and `speeds` (no `openssl speed` lines for a saved run, which has none).
    public static func svg(rows: [ComparedRow], speeds: [OpenSSLSpeed.Key: Double]) -> String {
        let sizes = BenchmarkPlan.messageSizes
        func seal(_ suite: AEADSuiteName, ours: Bool) -> [Double?] {
            sizes.map { Rendering.sealRate(rows, suite, size: $0, ours: ours) }
        }
        func speed(_ algorithm: OpenSSLSpeed.Algorithm) -> [Double?] {
            sizes.map { speeds[OpenSSLSpeed.Key(algorithm: algorithm, size: $0)] }
        }
        let series: [(label: String, color: String, dash: String, points: [Double?])] = [
            ("envelope seal, AES-256-GCM", "#1f77b4", "", seal(.aes256GCM, ours: true)),
            ("raw EVP AES-256-GCM (keyed context)", "#1f77b4", "6,4", seal(.aes256GCM, ours: false)),
            ("openssl speed aes-256-gcm", "#1f77b4", "2,3", speed(.aes256GCM)),
            ("envelope seal, XChaCha20-Poly1305", "#d62728", "", seal(.xChaCha20Poly1305, ours: true)),
            ("raw libsodium XChaCha20-Poly1305", "#d62728", "6,4", seal(.xChaCha20Poly1305, ours: false)),
            ("openssl speed chacha20-poly1305", "#d62728", "2,3", speed(.chaCha20Poly1305)),
        ]
        let values = series.flatMap { $0.points.compactMap { $0 }.filter { $0 != 0 } }
        let top = pow(10, log10(values.max() ?? 1).rounded(.up))
        let bottom = values.min().map { pow(10, log10($0).rounded(.down)) } ?? 1
        let (width, height, left, right, up, down) = (760, 430, 70, 250, 40, 50)
        let (plotWidth, plotHeight) = (width - left - right, height - up - down)
        func x(_ index: Int) -> Double { Double(left) + Double(plotWidth * index) / Double(sizes.count - 1) }
        func y(_ value: Double) -> Double {
            Double(up) + Double(plotHeight)
                * (1 - (log10(value) - log10(bottom)) / (log10(top) - log10(bottom)))
        }
        func f1(_ value: Double) -> String { String(format: "%.1f", value) }
        var out = [
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" "
                + "font-family=\"sans-serif\" font-size=\"12\">",
            "<rect width=\"\(width)\" height=\"\(height)\" fill=\"white\"/>",
            "<text x=\"\(left)\" y=\"22\" font-size=\"14\">Seal throughput by record size (MiB/s, log scale; one "
                + "core)</text>",
        ]
        var decade = bottom
        while decade <= top {
            out.append(
                "<line x1=\"\(left)\" y1=\"\(f1(y(decade)))\" x2=\"\(left + plotWidth)\" y2=\"\(f1(y(decade)))\" "
                    + "stroke=\"#ddd\"/>")
            out.append(
                "<text x=\"\(left - 8)\" y=\"\(f1(y(decade) + 4))\" text-anchor=\"end\">"
                    + "\(String(format: "%g", decade))</text>")
            decade *= 10
        }
        for (index, size) in sizes.enumerated() {
            out.append(
                "<text x=\"\(f1(x(index)))\" y=\"\(up + plotHeight + 20)\" text-anchor=\"middle\">"
                    + "\(BenchmarkPlan.sizeLabel(size))</text>")
        }
        out.append(
            "<text x=\"\(Double(left) + Double(plotWidth) / 2)\" y=\"\(height - 8)\" text-anchor=\"middle\">"
                + "record size</text>")
        for (index, line) in series.enumerated() {
            let coordinates = line.points.enumerated().compactMap { index, value in
                value.flatMap { $0 == 0 ? nil : (x(index), y($0)) }
            }
            if coordinates.count > 1 {
                let path = coordinates.enumerated().map { n, point in
                    "\(n == 0 ? "M" : "L")\(f1(point.0)),\(f1(point.1))"
                }.joined(separator: " ")
                out.append(
                    "<path d=\"\(path)\" fill=\"none\" stroke=\"\(line.color)\" stroke-width=\"2\" "
                        + "stroke-dasharray=\"\(line.dash)\"/>")
            }
            let legendY = up + 10 + index * 20
            out.append(
                "<line x1=\"\(left + plotWidth + 15)\" y1=\"\(legendY)\" x2=\"\(left + plotWidth + 45)\" "
                    + "y2=\"\(legendY)\" stroke=\"\(line.color)\" stroke-width=\"2\" stroke-dasharray=\"\(line.dash)\"/>"
            )
            out.append("<text x=\"\(left + plotWidth + 50)\" y=\"\(legendY + 4)\">\(line.label)</text>")
        }
        out.append("</svg>")
        return out.joined(separator: "\n") + "\n"
    }
}
