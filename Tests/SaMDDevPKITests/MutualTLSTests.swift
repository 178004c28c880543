// The files `samd-pki init` writes (`DevelopmentPKIDirectory.create`) work as they are for SaMDTLS: one real mutual-TLS connection over loopback.

import Foundation
import NIOCore
import SaMDDevPKI
import SaMDTLS
import SaMDTestSupport
import Testing

@Suite("samd-pki files over mutual TLS")
struct MutualTLSTests {
    struct TimedOut: Error {}

    /// `body`'s result, or `TimedOut` after `limit`.
    static func bounded<Result: Sendable>(
        _ limit: Duration = .seconds(30), _ body: @escaping @Sendable () async throws -> Result
    ) async throws -> Result {
        try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let result = first else { throw TimedOut() }
            return result
        }
    }

    @Test(
        "a gateway and a device built from the written files authenticate each other; the server sees urn:samd:device:<id>"
    )
    func deviceConnectsToGateway() async throws {
        let temporary = try TemporaryDirectory()
        let pki = temporary.path("pki")
        // What `samd-pki init --out PKI --device pump-7` writes, through the library call the program makes.
        _ = try DevelopmentPKIDirectory(directory: URL(fileURLWithPath: pki, isDirectory: true))
            .create(DevelopmentPKIDirectory.Options(deviceIDs: ["pump-7"]))

        let serverContext = try TLSContext(
            configuration: .gatewayServer(
                identity: .files(certificateChain: "\(pki)/server.pem", privateKey: "\(pki)/server.key"),
                clientTrustRoots: .file("\(pki)/root.pem")))
        let clientContext = try TLSContext(
            configuration: .deviceClient(
                identity: .files(certificateChain: "\(pki)/device-pump-7.pem", privateKey: "\(pki)/device-pump-7.key"),
                trustRoots: .file("\(pki)/root.pem")))

        let server = try await TLSServer.bind(host: "127.0.0.1", port: 0, context: serverContext)
        let port = try #require(server.localAddress.port)

        let (serverPeer, serverIdentity) = try await Self.bounded {
            try await withThrowingTaskGroup(of: TLSPeerIdentity?.self) { group in
                // The server takes one authenticated connection and reports who it is.
                group.addTask {
                    try await server.executeThenClose { connections in
                        for try await connection in connections {
                            let peer = connection.peer
                            try await connection.executeThenClose { _, _ in }
                            return peer
                        }
                        return nil
                    }
                }
                let connection = try await TLSClient.connect(host: "127.0.0.1", port: port, context: clientContext)
                let serverIdentity = connection.peer
                // Closing now is safe: the server reads the client's certificate before its close_notify.
                try? await connection.executeThenClose { _, _ in }
                let devicePeer = try await group.next() ?? nil
                return (devicePeer, serverIdentity)
            }
        }

        let peer = try #require(serverPeer, "the server accepted no authenticated connection")
        #expect(peer.uris == ["urn:samd:device:pump-7"])
        #expect(peer.subject == "CN=device-pump-7,O=SaMDKit Development")
        #expect(peer.issuer == "CN=SaMDKit Development Intermediate,O=SaMDKit Development")
        let gateway = try #require(serverIdentity)
        #expect(gateway.dnsNames == ["localhost"])
        #expect(gateway.ipAddresses.contains("127.0.0.1"))
    }
}
