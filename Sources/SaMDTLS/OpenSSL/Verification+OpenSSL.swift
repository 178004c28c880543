import CSaMDOpenSSL
import CSaMDShims
import SaMDOpenSSLSupport

#if canImport(FoundationEssentials)
    public import struct FoundationEssentials.Date
#else
    public import struct Foundation.Date
#endif

/// Whose certificate is being verified.
enum PeerRole {
    /// A server's certificate, verified by a client: purpose sslserver, EKU serverAuth.
    case server
    /// A client's certificate, verified by a server: purpose sslclient, EKU clientAuth.
    case client
}

/// The verification parameters SaMDTLS sets on every `X509_VERIFY_PARAM` it verifies with — in handshakes
/// and in the x509-limbo harness alike, so the harness measures the real path.
enum VerificationParameters {
    static func apply(
        _ parameters: OpaquePointer,
        peerRole: PeerRole,
        maximumChainDepth: Int,
        checkCRLs: Bool
    ) throws {
        let purpose = peerRole == .server ? X509_PURPOSE_SSL_SERVER : X509_PURPOSE_SSL_CLIENT
        guard X509_VERIFY_PARAM_set_purpose(parameters, purpose) == 1 else {
            throw TLSError(
                .invalidConfiguration, "cannot set the verification purpose \(OpenSSLErrorQueue.drainSummary())")
        }
        X509_VERIFY_PARAM_set_depth(parameters, Int32(maximumChainDepth))
        // RFC 5280 strictness beyond OpenSSL's default (X509_V_FLAG_X509_STRICT): for example a CA without
        // basicConstraints critical, a missing authority key identifier, an empty subject without SAN.
        var flags = UInt(X509_V_FLAG_X509_STRICT)
        if checkCRLs {
            flags |= UInt(X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL)
        }
        guard X509_VERIFY_PARAM_set_flags(parameters, flags) == 1 else {
            throw TLSError(
                .invalidConfiguration, "cannot set the verification flags \(OpenSSLErrorQueue.drainSummary())")
        }
        // DNS names: SAN only (never the subject CN), no partial wildcards such as `f*.example.com`.
        X509_VERIFY_PARAM_set_hostflags(
            parameters,
            UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT)
        )
    }

    /// Sets the name the server's certificate must carry: a DNS SAN for a name, an IP SAN for an address.
    static func setExpectedName(_ parameters: OpaquePointer, _ name: TLSServerName) throws {
        OpenSSLErrorQueue.clear()
        let ok: Int32
        switch name {
        case .dns(let host):
            ok = X509_VERIFY_PARAM_set1_host(parameters, host, 0)
        case .ipAddress(let address):
            ok = X509_VERIFY_PARAM_set1_ip_asc(parameters, address)
        }
        guard ok == 1 else {
            throw TLSError(
                .invalidConfiguration,
                "cannot use \(name) as the expected server name \(OpenSSLErrorQueue.drainSummary())")
        }
    }
}

/// SaMDTLS's checks after OpenSSL's chain verification.
enum ChainCheck {
    /// Completes a verification that OpenSSL ran on `storeContext`: maps its failure to a typed error, or
    /// applies SaMDTLS's own rules on a verified chain (the leaf must carry the EKU of its role, a keyUsage
    /// that allows digitalSignature when it has one, and the peer policy must allow it). On a refusal, records the X.509 error in `storeContext` so the handshake sends
    /// the matching alert.
    static func complete(
        _ storeContext: OpaquePointer,
        chainVerified: Bool,
        peerRole: PeerRole,
        policy: TLSPeerPolicy
    ) -> Result<TLSPeerIdentity, TLSError> {
        guard chainVerified else {
            let code = X509_STORE_CTX_get_error(storeContext)
            let depth = X509_STORE_CTX_get_error_depth(storeContext)
            if code == X509_V_OK {
                X509_STORE_CTX_set_error(storeContext, X509_V_ERR_UNSPECIFIED)
            }
            OpenSSLErrorQueue.clear()
            return .failure(Self.error(forVerifyResult: code, depth: depth))
        }
        guard let leafPointer = X509_STORE_CTX_get0_cert(storeContext) else {
            X509_STORE_CTX_set_error(storeContext, X509_V_ERR_UNSPECIFIED)
            return .failure(TLSError(.badCertificate, "no peer certificate"))
        }
        let leaf = X509Certificate(referencing: leafPointer)
        let eku: (nid: Int32, name: String) =
            peerRole == .server ? (NID_server_auth, "serverAuth") : (NID_client_auth, "clientAuth")
        guard leaf.extendedKeyUsage(includes: eku.nid) == true else {
            X509_STORE_CTX_set_error(storeContext, X509_V_ERR_INVALID_PURPOSE)
            return .failure(
                TLSError(
                    .unsupportedCertificate,
                    "the peer certificate \(leaf.subject) has no extended key usage \(eku.name)")
            )
        }
        guard leaf.keyUsageAllowsDigitalSignature else {
            // X509_V_ERR_INVALID_PURPOSE: the handshake sends alert 43, unsupported_certificate.
            X509_STORE_CTX_set_error(storeContext, X509_V_ERR_INVALID_PURPOSE)
            return .failure(
                TLSError(.unsupportedCertificate, Self.keyUsageWithoutDigitalSignature(leaf, "peer certificate")))
        }
        var chain: [X509Certificate] = []
        if let stack = X509_STORE_CTX_get0_chain(storeContext) {
            for index in 0..<min(CSaMDShims_sk_X509_num(stack), 16) {
                if let certificate = CSaMDShims_sk_X509_value(stack, index) {
                    chain.append(X509Certificate(referencing: certificate))
                }
            }
        }
        // RFC 5280 / CA/B BR rules OpenSSL does not enforce (StrictChecks+OpenSSL.swift).
        var expectedHost: String?
        if peerRole == .server, let parameters = X509_STORE_CTX_get0_param(storeContext),
            let host = X509_VERIFY_PARAM_get0_host(parameters, 0)
        {
            expectedHost = String(cString: host)
        }
        if let violation = StrictChainChecks.check(chain: chain.isEmpty ? [leaf] : chain, expectedHost: expectedHost) {
            X509_STORE_CTX_set_error(storeContext, violation.verifyError)
            return .failure(violation.error)
        }
        let identity = leaf.peerIdentity(chain: chain.isEmpty ? [leaf] : chain)
        guard policy.allows(identity) else {
            X509_STORE_CTX_set_error(storeContext, X509_V_ERR_CERT_REJECTED)
            return .failure(
                TLSError(.peerNotAllowed, "the peer \(identity.displayName) is not on the peer policy's allow-lists")
            )
        }
        return .success(identity)
    }

    /// Why a leaf whose keyUsage lacks digitalSignature is refused, for the peer's and for our own.
    static func keyUsageWithoutDigitalSignature(_ leaf: X509Certificate, _ what: String) -> String {
        "the \(what) \(leaf.subject) has a key usage without digitalSignature: its key may not sign the TLS handshake (RFC 5280 §4.2.1.3, RFC 8446 §4.4.2.2)"
    }

    /// The typed error for an X.509 verification result (`X509_V_ERR_*`).
    static func error(forVerifyResult code: Int32, depth: Int32) -> TLSError {
        let text = X509_verify_cert_error_string(Int(code)).map { String(cString: $0) } ?? "error \(code)"
        let reason = "certificate verification failed at depth \(depth): \(text)"
        switch code {
        // A CRL that is not current: `crlUnavailable`, carrying the alert OpenSSL sends for it (its
        // ssl_x509err2alert table; measured in CRLTests): 45 for an expired CRL, 42 for one not yet valid.
        case X509_V_ERR_CRL_HAS_EXPIRED:
            return TLSError(
                .crlUnavailable, alert: 45, reason + " (the CRL is past its nextUpdate; CRL checking fails closed)")
        case X509_V_ERR_CRL_NOT_YET_VALID:
            return TLSError(.crlUnavailable, alert: 42, reason + " (CRL checking fails closed)")
        case X509_V_ERR_CERT_HAS_EXPIRED:
            return TLSError(.certificateExpired, reason)
        case X509_V_ERR_CERT_NOT_YET_VALID:
            return TLSError(.certificateNotYetValid, reason)
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
            X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, X509_V_ERR_CERT_UNTRUSTED,
            X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
            return TLSError(.unknownCA, reason)
        case X509_V_ERR_INVALID_PURPOSE:
            return TLSError(.unsupportedCertificate, reason)
        case X509_V_ERR_HOSTNAME_MISMATCH:
            return TLSError(.hostnameMismatch, reason)
        case X509_V_ERR_IP_ADDRESS_MISMATCH:
            return TLSError(.ipAddressMismatch, reason)
        case X509_V_ERR_CERT_REVOKED:
            return TLSError(.certificateRevoked, reason)
        case X509_V_ERR_UNABLE_TO_GET_CRL, X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
            return TLSError(.crlUnavailable, alert: 48, reason + " (CRL checking is on and fails closed)")
        case X509_V_ERR_CRL_SIGNATURE_FAILURE:
            return TLSError(.crlUnavailable, alert: 51, reason + " (CRL checking is on and fails closed)")
        case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE, X509_V_ERR_DIFFERENT_CRL_SCOPE:
            return TLSError(.crlUnavailable, reason + " (CRL checking is on and fails closed)")
        case X509_V_ERR_CERT_REJECTED:
            return TLSError(.peerNotAllowed, reason)
        default:
            return TLSError(.badCertificate, reason)
        }
    }
}

/// Verification of a certificate chain outside a handshake, through exactly the parameters and checks a
/// handshake uses. For the x509-limbo conformance harness and diagnostics.
@_spi(Testing)
public enum TLSChainVerifier {
    /// The peer whose certificate is verified.
    public enum Peer: Sendable {
        /// A server, as a client verifies it: EKU serverAuth, and `name` (DNS or IP) when given.
        case server(name: TLSServerName?)
        /// A client, as a server verifies it: EKU clientAuth.
        case client
    }

    /// Verifies `leaf` (DER) with `intermediates` as untrusted certificates and `roots` as trust anchors, at
    /// `time`, through SaMDTLS's verification path (strict RFC 5280 checks, purpose, EKU, name, depth, policy).
    /// With `crls` (PEM texts), revocation is checked as a handshake with CRLs checks it: every chain
    /// certificate, failing closed when an issuer's CRL is missing.
    /// - Returns: the peer identity, or the typed error a handshake would report.
    public static func verify(
        leaf: [UInt8],
        intermediates: [[UInt8]],
        roots: [[UInt8]],
        peer: Peer,
        at time: Date,
        maximumChainDepth: Int = 4,
        policy: TLSPeerPolicy = TLSPeerPolicy(),
        crls: [[UInt8]] = []
    ) -> Result<TLSPeerIdentity, TLSError> {
        do {
            let leafCertificate = try X509Certificate(der: leaf)
            let untrusted = try intermediates.map { try X509Certificate(der: $0) }
            let anchors = try roots.map { try X509Certificate(der: $0) }
            guard let store = X509_STORE_new() else { return .failure(TLSError(.io, "X509_STORE_new failed")) }
            defer { X509_STORE_free(store) }
            for anchor in anchors where X509_STORE_add_cert(store, anchor.pointer) != 1 {
                OpenSSLErrorQueue.clear()
            }
            let crlCount = try CRLLoader.load(crls.map { TLSPEMSource.bytes($0) }, into: store, highWater: nil)
                .loadedCount
            guard let stack = X509Stack(untrusted) else { return .failure(TLSError(.io, "no stack")) }
            guard let context = X509_STORE_CTX_new() else {
                return .failure(TLSError(.io, "X509_STORE_CTX_new failed"))
            }
            defer { X509_STORE_CTX_free(context) }
            guard X509_STORE_CTX_init(context, store, leafCertificate.pointer, stack.pointer) == 1,
                let parameters = X509_STORE_CTX_get0_param(context)
            else {
                return .failure(TLSError(.io, "X509_STORE_CTX_init failed \(OpenSSLErrorQueue.drainSummary())"))
            }
            let role: PeerRole
            switch peer {
            case .server(let name):
                role = .server
                if let name { try VerificationParameters.setExpectedName(parameters, name) }
            case .client:
                role = .client
            }
            try VerificationParameters.apply(
                parameters, peerRole: role, maximumChainDepth: maximumChainDepth, checkCRLs: crlCount > 0)
            X509_VERIFY_PARAM_set_time(parameters, time_t(time.timeIntervalSince1970))
            let verified = X509_verify_cert(context) == 1
            return ChainCheck.complete(context, chainVerified: verified, peerRole: role, policy: policy)
        } catch let error as TLSError {
            return .failure(error)
        } catch {
            return .failure(TLSError(.badCertificate, "\(error)"))
        }
    }
}
