import Foundation
import Synchronization

/// A temporary directory (0700) removed when the process exits, in `base` or else `TMPDIR` or `/tmp`.
public func temporaryDirectory(_ prefix: String, in base: String? = nil) throws -> String {
    let base = base ?? ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
    var template = Array("\(base)/\(prefix).XXXXXX".utf8CString)
    guard let path = mkdtemp(&template) else { throw BenchmarkCheckFailure(description: "mkdtemp: errno \(errno)") }
    let directory = String(cString: path)
    TemporaryDirectories.remove(atExit: directory)
    return directory
}

private enum TemporaryDirectories {
    private static let paths = Mutex<[String]>([])

    static func remove(atExit path: String) {
        let first = self.paths.withLock { paths in
            paths.append(path)
            return paths.count == 1
        }
        if first {
            atexit { TemporaryDirectories.removeAll() }
        }
    }

    static func removeAll() {
        for path in self.paths.withLock({ $0 }) {
            try? FileManager.default.removeItem(atPath: path)
        }
    }
}
