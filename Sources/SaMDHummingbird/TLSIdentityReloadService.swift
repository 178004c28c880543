public import SaMDTLS
public import ServiceLifecycle

/// A swift-service-lifecycle `Service` that watches a TLS context's files and reloads it when they change
/// (`TLSIdentityReloader`): add it to the application's services (`Application.addServices(_:)`) so that it
/// runs as long as the server and stops at its graceful shutdown.
///
/// A reload validates the new identity, trust roots and CRLs completely before it serves (a refused one is
/// logged and the old identity stays); open connections whose client is no longer valid under the new trust
/// state end (`TLSPeerRevalidationHandler`, which ``SaMDTLSChannel`` adds to every connection).
public struct TLSIdentityReloadService: Service {
    /// The reloader; call its `reload()` (e.g. on SIGHUP) to reload at once.
    public let reloader: TLSIdentityReloader

    /// - Parameter reloader: watches the context's files at its interval.
    public init(_ reloader: TLSIdentityReloader) {
        self.reloader = reloader
    }

    /// Watches until the graceful shutdown or cancellation.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await self.reloader.run()
        }
    }
}
