import Foundation
import SaMDDevPKI
import SaMDExampleSupport
import SaMDOpenSSLSupport
import SaMDTLS

extension Demo {
    /// The gateways' TLS server context, client certificates required (chaining to the PKI's root): the PKI's
    /// `server` certificate and key, or — with a token — a certificate the PKI issues for the key pair generated
    /// in the token, whose private key stays there.
    func gatewayServerContext(
        pki: DevelopmentPKI, token: DemoToken?, work: WorkDirectory, say: (String) -> Void
    ) throws -> TLSContext {
        let identity: TLSIdentitySource
        if let token {
            // The gateway's certificate, for the public key the token returned; the private key stays there.
            let certificate = try pki.intermediate.issueLeaf(
                forPublicKey: token.gatewayKey.subjectPublicKeyInfo, commonName: "gateway.test",
                sans: DevelopmentPKI.serverSANs, ekus: [.serverAuth])
            if !work.isTemporary { try work.writePrivate(certificate.chainPEM, to: "gateway-token-chain.pem") }
            identity = token.gatewayIdentity(certificateChainPEM: certificate.chainPEM)
            say(
                "gateway TLS key: EC P-256 pair \(DemoToken.gatewayKeyLabel) generated in token \(DemoToken.label); its certificate issued for the token's public key"
            )
        } else {
            identity = .pem(
                certificateChain: Array(pki.server.chainPEM.utf8), privateKey: Array(pki.server.privateKeyPEM.utf8))
        }
        return try TLSContext(
            configuration: .gatewayServer(
                identity: identity, clientTrustRoots: .pem(Array(pki.root.certificate.certificatePEM.utf8))))
    }

    static func clientContext(_ certificate: DevelopmentCertificate, root: DevelopmentCertificateAuthority) throws
        -> TLSContext
    {
        try TLSContext(
            configuration: .deviceClient(
                identity: .pem(
                    certificateChain: Array(certificate.chainPEM.utf8),
                    privateKey: Array(certificate.privateKeyPEM.utf8)),
                trustRoots: .pem(Array(root.certificate.certificatePEM.utf8))
            ))
    }

    static func uriSAN(of certificate: DevelopmentCertificate) throws -> String {
        for name in certificate.subjectAlternativeNames {
            if case .uri(let value) = name { return value }
        }
        throw DemoSetupError(
            description: "the development certificate \(certificate.subject) has no URI SAN",
            exitCode: ExitStatus.software)
    }
}
