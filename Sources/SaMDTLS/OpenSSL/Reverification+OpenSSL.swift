import CSaMDOpenSSL
import CSaMDShims
import SaMDOpenSSLSupport

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

extension SSLContextBox {
    /// Verifies again, now, a peer chain that a handshake verified earlier — through this context's
    /// `X509_STORE` (trust roots, CRLs) and its verification parameters (purpose, depth, flags), then
    /// SaMDTLS's own checks (``ChainCheck/complete(_:chainVerified:peerRole:policy:)``: EKU, strict RFC 5280
    /// rules, peer policy): the same path a handshake under this context takes, so whatever it refuses, this
    /// refuses. The expected server name is not checked again (it is the connection's, not the context's).
    /// - Parameter chain: DER certificates, leaf first (``TLSPeerIdentity/certificateChain``); the ones after
    ///   the leaf are offered as untrusted intermediates, never as trust anchors.
    /// - Returns: the peer identity, or the typed error a handshake under this context would report.
    func reverify(chain: [[UInt8]]) -> Result<TLSPeerIdentity, TLSError> {
        guard let first = chain.first else {
            return .failure(TLSError(.certificateRequired, "no peer certificate to verify"))
        }
        guard self.configuration.verifiesPeer, let store = SSL_CTX_get_cert_store(self.pointer),
            let contextParameters = SSL_CTX_get0_param(self.pointer)
        else {
            return .failure(TLSError(.invalidConfiguration, "this context does not verify peers"))
        }
        do {
            let leaf = try X509Certificate(der: first)
            let intermediates = try chain.dropFirst().prefix(16).map { try X509Certificate(der: $0) }
            guard let stack = X509Stack(intermediates) else { return .failure(TLSError(.io, "no stack")) }
            guard let storeContext = X509_STORE_CTX_new() else {
                return .failure(TLSError(.io, "X509_STORE_CTX_new failed"))
            }
            defer { X509_STORE_CTX_free(storeContext) }
            let peerRole: PeerRole = self.configuration.role == .client ? .server : .client
            // As libssl does for a handshake (ssl_verify_cert_chain): the role's defaults, then the context's
            // parameters on top.
            guard X509_STORE_CTX_init(storeContext, store, leaf.pointer, stack.pointer) == 1,
                X509_STORE_CTX_set_default(storeContext, peerRole == .client ? "ssl_client" : "ssl_server") == 1,
                let parameters = X509_STORE_CTX_get0_param(storeContext),
                X509_VERIFY_PARAM_set1(parameters, contextParameters) == 1
            else {
                return .failure(TLSError(.io, "cannot set up the verification \(OpenSSLErrorQueue.drainSummary())"))
            }
            let verified = X509_verify_cert(storeContext) == 1
            let outcome = ChainCheck.complete(
                storeContext,
                chainVerified: verified,
                peerRole: peerRole,
                policy: self.configuration.peerPolicy
            )
            OpenSSLErrorQueue.clear()
            return outcome
        } catch let error as TLSError {
            return .failure(error)
        } catch {
            return .failure(TLSError(.badCertificate, "\(error)"))
        }
    }
}

/// Validity of a chain kept after its handshake.
enum ChainValidity {
    /// The earliest `notAfter` of the DER certificates in `chain` (a chain is valid only while every
    /// certificate in it is), or `nil` when none parses.
    static func earliestNotAfter(_ chain: [[UInt8]]) -> Date? {
        chain.prefix(16).compactMap { der in (try? X509Certificate(der: der))?.notAfter }.min()
    }
}

extension SSLConnection {
    /// The certificates the peer presented after its leaf, DER (a server sees them in
    /// `SSL_get_peer_cert_chain` without the leaf; a client with it). For a resumed session these are the
    /// ones of the original handshake, kept in the session.
    var presentedIntermediates: [X509Certificate] {
        guard let stack = SSL_get_peer_cert_chain(self.ssl), let leaf = SSL_get0_peer_certificate(self.ssl) else {
            return []
        }
        var certificates: [X509Certificate] = []
        for index in 0..<min(CSaMDShims_sk_X509_num(stack), 16) {
            if let certificate = CSaMDShims_sk_X509_value(stack, index), X509_cmp(certificate, leaf) != 0 {
                certificates.append(X509Certificate(referencing: certificate))
            }
        }
        return certificates
    }
}
