import Foundation
import NIOCore
import SaMDRecordGateway
import SaMDRecordService
import SaMDTLS
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A client that resets its TCP connection in the middle of the handshake: the gateway's security event must
/// say so. Its HTTP handler closes the channel on the socket error, and the TLS handler took that close as the
/// application's ("closed by the application during the handshake", found by the newcomer/attacker trial);
/// `samd-tls serve`, without such a handler, already said "the connection closed during the handshake".
@Suite("A reset during the handshake is reported as the connection's failure")
struct GatewayHandshakeResetTests {
    @Test func aResetMidHandshakeIsLoggedAsTheConnectionFailingNotAsTheApplicationClosingIt() async throws {
        let tlsEvents = RecordingLogHandler()
        let gateway = try await Harness.InProcessGateway.start { _ in
            RecordGatewayConfiguration(
                tls: try Harness.serverContext(logger: tlsEvents.logger), readers: [TestPKI.readerURI])
        }
        let port = try #require(gateway.gateway.localAddress.port)
        let fd = try RawSocket.connect(port: port)
        // The first three bytes of a handshake record's header, then an abortive close: an RST, not a FIN.
        RawSocket.send(fd, bytes: [22, 3, 1])
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close(fd)
        #expect(
            await tlsEvents.waitForText(containing: "the connection failed during the handshake"),
            "\(tlsEvents.allText)")
        #expect(!tlsEvents.allText.contains("closed by the application"), "\(tlsEvents.allText)")
        await gateway.stop()
    }
}
