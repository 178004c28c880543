public import Logging
public import SaMDTLS

/// How the example servers (`samd-tls serve`, `samd-gateway serve`) keep their TLS identity current: the
/// certificate, key, CA and CRL files are watched every `--identity-reload-interval` (`TLSIdentityReloader`;
/// not watched when the interval is zero), and each SIGHUP reloads them at once — through the reloader when one
/// watches, so that the same change is not loaded twice. A refused reload leaves the current identity serving.
public struct ServerIdentityWatch: Sendable {
    /// The context whose identity is reloaded.
    public let context: TLSContext
    /// The watcher of the files, or `nil` when they are not watched.
    public let reloader: TLSIdentityReloader?

    /// - Parameters:
    ///   - context: the server's context, its identity, trust roots and CRLs read from files.
    ///   - interval: the time between two looks at the files; zero (or less): the files are not watched, and
    ///     only SIGHUP reloads them.
    public init(context: TLSContext, interval: Duration) {
        self.context = context
        self.reloader = interval > .zero ? TLSIdentityReloader(context: context, interval: interval) : nil
    }

    /// Watches the files (when a reloader watches them) and reloads on each signal of `reloadSignals`, until
    /// the task is cancelled. Each SIGHUP is logged on `logger`: `notice` "SIGHUP: identity reloaded" with the
    /// new certificate's subject, or `error` "SIGHUP: identity reload refused; the previous identity stays"
    /// with the error.
    public func run(reloadSignals: SignalWatcher, logger: Logger) async {
        await withDiscardingTaskGroup { group in
            if let reloader = self.reloader {
                group.addTask { await reloader.run() }
            }
            group.addTask { await self.reload(on: reloadSignals, logger: logger) }
        }
    }

    private func reload(on reloadSignals: SignalWatcher, logger: Logger) async {
        for await _ in reloadSignals.signals {
            do {
                if let reloader = self.reloader { try reloader.reload() } else { try self.context.reload() }
                logger.notice(
                    "SIGHUP: identity reloaded",
                    metadata: ["certificate": "\(self.context.certificate?.subject ?? "none")"])
            } catch {
                logger.error(
                    "SIGHUP: identity reload refused; the previous identity stays",
                    metadata: ["error": "\(error)"])
            }
        }
    }
}
