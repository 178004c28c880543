import Logging
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Watches the files of a ``TLSContext``'s configuration — certificate chain, private key, trust roots, CRLs —
/// and reloads the context when any of them changes.
///
/// Changes are detected by polling each file's device, inode, size and modification time every `interval`
/// (portable, and safe with editors and `mv`-style atomic replacement). A reload validates the new
/// identity completely before swapping it in (``TLSContext/reload()``); a refused one is logged and the
/// current identity stays. When a certificate and its key are replaced one after the other, the first
/// reload may see a mismatched pair and refuse it; the next change (the second file) triggers another
/// attempt, so a mismatched pair never serves. Call ``reload()`` (for example on SIGHUP) rather than
/// ``TLSContext/reload()`` when a reloader runs, so that the same change is not loaded twice.
public final class TLSIdentityReloader: Sendable {
    /// The context to reload.
    public let context: TLSContext
    /// The time between two looks at the files.
    public let interval: Duration
    /// The longest time between two looks at the files: one day. (`Task.sleep` traps on a duration that does not
    /// fit its clock's instant, such as 10^20 seconds.)
    public static let longestInterval = Duration.seconds(86_400)
    /// The files as they were at the last load: a change after that, even before ``run()`` starts, is noticed.
    private let lastSeen: Mutex<[String]>

    /// - Parameters:
    ///   - context: the context whose identity, trust roots and CRLs are read from files.
    ///   - interval: the time between two looks at the files (default 5 seconds; at least 50 ms and at most one
    ///     day: a shorter one is raised, a longer one lowered, to that).
    public init(context: TLSContext, interval: Duration = .seconds(5)) {
        self.context = context
        self.interval = min(max(interval, .milliseconds(50)), Self.longestInterval)
        self.lastSeen = Mutex(Self.fingerprint(Self.files(of: context.configuration)))
    }

    /// The files watched: the identity's, the trust roots' and the CRLs' (those given as files).
    public var watchedFiles: [String] {
        Self.files(of: self.context.configuration)
    }

    static func files(of configuration: TLSConfiguration) -> [String] {
        var paths: [String] = []
        if let identity = configuration.identity {
            paths += [identity.certificateChain.path, identity.privateKey.path].compactMap { $0 }
        }
        if case .file(let path) = configuration.trustRoots { paths.append(path) }
        paths += configuration.certificateRevocationLists.compactMap(\.path)
        return paths
    }

    /// Reloads now (``TLSContext/reload()``) and takes the files as they are as seen.
    /// - Throws: the ``TLSError`` that refused the new identity (also logged).
    public func reload() throws {
        self.lastSeen.withLock { $0 = Self.fingerprint(self.watchedFiles) }
        try self.context.reload()
    }

    /// Watches until the task is cancelled.
    public func run() async {
        let files = self.watchedFiles
        guard !files.isEmpty else { return }
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: self.interval)
            } catch {
                return
            }
            let now = Self.fingerprint(files)
            let changed = self.lastSeen.withLock { last in
                defer { last = now }
                return last != now
            }
            if changed {
                // A refusal is logged by reload(); the old identity keeps serving.
                try? self.context.reload()
            }
        }
    }

    /// What identifies each file's current content cheaply: device, inode, size, modification time.
    static func fingerprint(_ paths: [String]) -> [String] {
        paths.map { path in
            var status = stat()
            guard stat(path, &status) == 0 else { return "missing" }
            return
                "\(status.st_dev):\(status.st_ino):\(status.st_size):\(status.st_mtim.tv_sec).\(status.st_mtim.tv_nsec)"
        }
    }
}
