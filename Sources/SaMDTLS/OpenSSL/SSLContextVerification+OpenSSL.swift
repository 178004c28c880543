// The SSL_CTX's verification of peers: trust roots, CRLs, parameters and the verify callback.

import CSaMDOpenSSL
import CSaMDShims
import SaMDOpenSSLSupport

extension SSLContextBox {
    // MARK: - Verification

    /// - Returns: the CRLs chosen per issuer (empty without CRLs).
    static func configureVerification(
        _ context: OpaquePointer,
        _ configuration: TLSConfiguration,
        crlHighWater: CRLHighWaterMark?
    ) throws -> CRLSelection {
        guard configuration.verifiesPeer, let roots = configuration.trustRoots else {
            SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
            return CRLSelection()
        }
        guard let store = SSL_CTX_get_cert_store(context) else {
            throw TLSError(.invalidConfiguration, "no certificate store")
        }
        switch roots {
        case .system:
            guard SSL_CTX_set_default_verify_paths(context) == 1 else {
                throw TLSError(
                    .invalidConfiguration, "cannot load the system trust store \(OpenSSLErrorQueue.drainSummary())")
            }
        case .file, .pem:
            let pem = try roots.pemBytes()
            let certificates = try X509Certificate.parseChain(pem: pem, what: "trust roots")
            guard !certificates.isEmpty else {
                throw TLSError(.invalidConfiguration, "the trust roots hold no certificate")
            }
            for certificate in certificates {
                guard X509_STORE_add_cert(store, certificate.pointer) == 1 else {
                    throw TLSError(
                        .invalidConfiguration, "a trust root was refused \(OpenSSLErrorQueue.drainSummary())")
                }
                if configuration.role == .server {
                    // Names the acceptable CAs in the CertificateRequest, so clients pick the right certificate.
                    _ = SSL_CTX_add_client_CA(context, certificate.pointer)
                }
            }
        }
        let crls = try CRLLoader.load(configuration.certificateRevocationLists, into: store, highWater: crlHighWater)
        let crlCount = crls.loadedCount
        if !configuration.certificateRevocationLists.isEmpty && crlCount == 0 {
            throw TLSError(.invalidConfiguration, "the CRL sources hold no CRL")
        }
        guard let parameters = SSL_CTX_get0_param(context) else {
            throw TLSError(.invalidConfiguration, "no verification parameters")
        }
        try VerificationParameters.apply(
            parameters,
            peerRole: configuration.role == .client ? .server : .client,
            maximumChainDepth: configuration.maximumChainDepth,
            checkCRLs: crlCount > 0
        )
        var mode = SSL_VERIFY_PEER
        if configuration.role == .server {
            // SSL_VERIFY_PEER alone only asks for a client certificate; this makes it required.
            mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT
        }
        SSL_CTX_set_verify(context, mode, nil)
        SSL_CTX_set_cert_verify_callback(context, certificateVerifyCallback, nil)
        return crls
    }
}

/// The verification step of every handshake that verifies a peer: OpenSSL's chain verification (trust
/// roots, validity, EKU purpose, name, CRLs, RFC 5280 strict checks), then SaMDTLS's own checks on top
/// (EKU present in the leaf, peer policy). A failure is recorded on the connection for its typed error.
private let certificateVerifyCallback: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Int32 = {
    storeContext, _ in
    guard let storeContext else { return 0 }
    let chainVerified = X509_verify_cert(storeContext) == 1
    guard let ssl = CSaMDShims_SSL_from_X509_STORE_CTX(storeContext), let connection = SSLConnection.from(ssl) else {
        // No connection to report to: fail closed.
        X509_STORE_CTX_set_error(storeContext, X509_V_ERR_APPLICATION_VERIFICATION)
        return 0
    }
    let outcome = ChainCheck.complete(
        storeContext,
        chainVerified: chainVerified,
        peerRole: connection.context.configuration.role == .client ? .server : .client,
        policy: connection.context.configuration.peerPolicy
    )
    switch outcome {
    case .success(let identity):
        connection.verifiedPeer = identity
        return 1
    case .failure(let error):
        connection.verificationFailure = error
        // Who was refused, for the security event (subject, issuer, serial of the presented leaf).
        if let leaf = X509_STORE_CTX_get0_cert(storeContext) {
            let certificate = X509Certificate(referencing: leaf)
            connection.refusedPeer = certificate.peerIdentity(chain: [certificate])
        }
        return 0
    }
}
