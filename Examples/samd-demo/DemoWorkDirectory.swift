import Foundation
import SaMDExampleSupport

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The demo's private directory: a temporary one removed at the end, or the one asked for (kept).
struct WorkDirectory: Sendable {
    let path: String
    let isTemporary: Bool

    init(requested: String?) throws {
        if let requested {
            guard !FileManager.default.fileExists(atPath: requested) else {
                throw DemoSetupError(
                    description: "\(requested) exists; the demo writes only into a new directory",
                    exitCode: ExitStatus.cannotCreate)
            }
            self.path = requested
            self.isTemporary = false
        } else {
            self.path =
                FileManager.default.temporaryDirectory.appendingPathComponent("samd-demo-\(UUID().uuidString)").path
            self.isTemporary = true
        }
        do {
            try FileManager.default.createDirectory(
                atPath: self.path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw DemoSetupError(
                description: "cannot create \(self.path): \(error.localizedDescription)",
                exitCode: ExitStatus.cannotCreate)
        }
    }

    /// The paths of every regular file below `sub`, at any depth.
    func files(below sub: String) -> [String] {
        let root = URL(fileURLWithPath: self.path + "/" + sub)
        let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey])
        var paths: [String] = []
        for case let url as URL in enumerator ?? FileManager.DirectoryEnumerator()
        where (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
            paths.append(url.path)
        }
        return paths
    }

    /// Writes `text` to `name` in the work directory, created 0600.
    func writePrivate(_ text: String, to name: String) throws {
        let path = self.path + "/" + name
        guard
            FileManager.default.createFile(
                atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        else {
            throw DemoSetupError(description: "cannot write \(path)", exitCode: ExitStatus.cannotCreate)
        }
    }

    /// Lets other users enter the directory, not list it (0711): what the `postgres` user needs to reach the
    /// server's directory in it when the demo runs as root. Every file of the demo in it stays 0600, every
    /// directory 0700.
    func allowEntering() throws {
        guard chmod(self.path, 0o711) == 0 else {
            throw DemoSetupError(
                description: "cannot make \(self.path) enterable by the postgres user: errno \(errno)",
                exitCode: ExitStatus.cannotCreate)
        }
    }

    func removeIfTemporary() {
        if self.isTemporary { try? FileManager.default.removeItem(atPath: self.path) }
    }
}
