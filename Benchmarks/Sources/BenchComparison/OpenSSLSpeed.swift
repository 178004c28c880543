import BenchmarkCatalog
import Foundation

/// `openssl speed -evp` on this machine: the cipher's own speed, one core, beside the envelope's seal.
public enum OpenSSLSpeed {
    public enum Algorithm: String, Sendable, CaseIterable {
        case aes256GCM = "aes-256-gcm"
        case chaCha20Poly1305 = "chacha20-poly1305"
    }

    public struct Key: Hashable, Sendable {
        public let algorithm: Algorithm
        /// Bytes per message.
        public let size: Int

        public init(algorithm: Algorithm, size: Int) {
            self.algorithm = algorithm
            self.size = size
        }
    }

    /// Runs `openssl speed -elapsed -mr` for both algorithms at every message size, 3 s each (1 s `quick`).
    /// - Returns: MiB/s by algorithm and size; a size whose output could not be read is absent.
    public static func measure(quick: Bool) -> [Key: Double] {
        var speeds: [Key: Double] = [:]
        for algorithm in Algorithm.allCases {
            for size in BenchmarkPlan.messageSizes {
                let arguments = [
                    "openssl", "speed", "-elapsed", "-mr", "-seconds", quick ? "1" : "3", "-bytes", "\(size)", "-evp",
                    algorithm.rawValue,
                ]
                let output = (try? Subprocess.output(arguments, standardError: .discarded)) ?? ""
                speeds[Key(algorithm: algorithm, size: size)] = self.bytesPerSecond(machineReadable: output)
                    .map { $0 / Double(1 << 20) }
            }
        }
        return speeds
    }

    /// Bytes per second from `openssl speed -mr` output: the first `+F:<n>:<algorithm>:<bytes/s>…` line.
    static func bytesPerSecond(machineReadable output: String) -> Double? {
        for line in output.split(separator: "\n") where line.hasPrefix("+F:") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count > 3, !fields[1].isEmpty, fields[1].allSatisfy(\.isNumber), !fields[2].isEmpty else {
                continue
            }
            let number = fields[3].prefix { $0.isNumber || $0 == "." }
            if let value = Double(number), !number.isEmpty { return value }
        }
        return nil
    }
}
