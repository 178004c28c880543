import Hummingbird
import NIOCore
import SaMDHummingbird
import SaMDTLS

/// A gateway request's context: Hummingbird's storage, the TLS connection it arrived on (its verified client),
/// the client's address, and its channel (to ask for `100 Continue`).
struct GatewayRequestContext: TLSRequestContext {
    var coreContext: CoreRequestContextStorage
    let tlsConnection: TLSConnectionInfo?
    let remoteAddress: SocketAddress?
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.tlsConnection = source.tlsConnection
        self.remoteAddress = source.channel.remoteAddress
        self.channel = source.channel
    }

    /// The client as the gateway's events name it.
    var client: GatewayEvents.Client {
        GatewayEvents.Client(peer: self.tlsPeer?.displayName, remote: GatewayEvents.Client.describe(self.remoteAddress))
    }

    /// Sends `100 Continue` when the request asked for it (`Expect: 100-continue`), before its body is read.
    func continueIfExpected() async throws {
        try await self.channel.triggerUserOutboundEvent(GatewayConnectionHandler.ContinueEvent()).get()
    }
}
