import Foundation
import Logging
import SaMDCrypto
import SaMDTLS
import SaMDTLSTestSupport

/// One test PKI per test process, generated at start (no certificate is committed).
enum Fixtures {
    static let pki: TestPKI = {
        do { return try TestPKI() } catch { fatalError("TestPKI: \(error)") }
    }()

    static func identity(_ certificate: TestCertificate) -> TLSIdentitySource {
        .pem(certificateChain: Array(certificate.chainPEM.utf8), privateKey: Array(certificate.privateKeyPEM.utf8))
    }

    static var roots: TLSTrustRoots { .pem(Array(self.pki.root.certificate.certificatePEM.utf8)) }

    static func serverConfiguration(
        _ certificate: TestCertificate? = nil,
        requireClients: Bool = true,
        policy: TLSPeerPolicy = TLSPeerPolicy()
    ) -> TLSConfiguration {
        let identity = self.identity(certificate ?? self.pki.server)
        return requireClients
            ? .gatewayServer(identity: identity, clientTrustRoots: self.roots, peerPolicy: policy)
            : .server(identity: identity)
    }

    static func clientConfiguration(_ certificate: TestCertificate? = nil, policy: TLSPeerPolicy = TLSPeerPolicy())
        -> TLSConfiguration
    {
        if let certificate {
            return .deviceClient(identity: self.identity(certificate), trustRoots: self.roots, peerPolicy: policy)
        }
        var configuration = TLSConfiguration.client(trustRoots: self.roots)
        configuration.peerPolicy = policy
        return configuration
    }

    static func context(_ configuration: TLSConfiguration, logger: Logger = Logger(label: "test.tls")) throws
        -> TLSContext
    {
        try TLSContext(configuration: configuration, logger: logger)
    }

    static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }
}
