import CSaMDOpenSSL
import CSaMDShims
import SaMDCrypto
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

/// One validated configuration as an OpenSSL `SSL_CTX`, shared by every connection made from it.
///
/// Immutable after `init`: OpenSSL allows `SSL_new` on one `SSL_CTX` from many threads once it is no longer
/// being configured, and the client session cache it points to is locked.
// Unchecked: the SSL_CTX is never reconfigured after init; OpenSSL locks its session cache.
final class SSLContextBox: @unchecked Sendable {
    let pointer: OpaquePointer
    let configuration: TLSConfiguration
    /// The ALPN list in wire format (RFC 7301 §3.1): length-prefixed names.
    let alpnWire: [UInt8]
    /// This endpoint's own leaf certificate, summarised for logs and reload checks.
    let ownCertificate: TLSPeerIdentity?
    /// Client side: sessions to resume, by server.
    let sessionCache: ClientSessionCache

    /// - Parameter crlHighWater: the CRL numbers already accepted by the ``TLSContext`` this is built for; a
    ///   CRL older than its mark is refused, and once the context is built the mark is raised to its CRLs.
    init(configuration: TLSConfiguration, sessionCache: ClientSessionCache, crlHighWater: CRLHighWaterMark? = nil)
        throws
    {
        try LibraryGate.check()
        try Self.validate(configuration)
        if configuration.profile == .nist {
            do {
                try CryptoProfile.activate(.nist)
            } catch let error as CryptoError where error.code == .fipsProviderUnavailable {
                throw TLSError(
                    .fipsProviderUnavailable, "the nist TLS profile needs an OpenSSL FIPS provider: \(error.reason)")
            }
        }

        OpenSSLErrorQueue.clear()
        let method = configuration.role == .client ? TLS_client_method() : TLS_server_method()
        guard let context = SSL_CTX_new(method) else {
            throw TLSError(.invalidConfiguration, "SSL_CTX_new failed \(OpenSSLErrorQueue.drainSummary())")
        }
        // Configure the local context completely before any stored property is set: a class whose init
        // throws after full initialization runs deinit, which would free the context a second time.
        let alpnWire = configuration.applicationProtocols.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
        let ownCertificate: TLSPeerIdentity?
        let crls: CRLSelection
        do {
            try Self.configureProtocol(context, configuration)
            ownCertificate = try configuration.identity.map {
                try Self.configureIdentity(context, $0, role: configuration.role)
            }
            crls = try Self.configureVerification(context, configuration, crlHighWater: crlHighWater)
            try Self.configureSessions(context, configuration)
            if !alpnWire.isEmpty {
                if configuration.role == .client {
                    let failed = alpnWire.withUnsafeBufferPointer {
                        SSL_CTX_set_alpn_protos(context, $0.baseAddress, UInt32($0.count))
                    }
                    guard failed == 0 else { throw TLSError(.invalidConfiguration, "SSL_CTX_set_alpn_protos failed") }
                } else {
                    SSL_CTX_set_alpn_select_cb(context, alpnSelectCallback, nil)
                }
            }
        } catch {
            SSL_CTX_free(context)
            throw error
        }
        self.pointer = context
        self.configuration = configuration
        self.sessionCache = sessionCache
        self.alpnWire = alpnWire
        self.ownCertificate = ownCertificate
        // Last: only a context that is built completely raises the mark.
        crlHighWater?.raise(to: crls)
    }

    deinit {
        SSL_CTX_free(self.pointer)
    }

    // MARK: - Configuration checks that need no OpenSSL

    static func validate(_ configuration: TLSConfiguration) throws {
        switch configuration.role {
        case .server:
            guard configuration.identity != nil else {
                throw TLSError(.invalidConfiguration, "a server needs an identity (certificate chain and private key)")
            }
        case .client:
            guard configuration.trustRoots != nil else {
                throw TLSError(.invalidConfiguration, "a client needs trust roots to verify the server")
            }
        }
        if !configuration.verifiesPeer {
            guard configuration.peerPolicy.allowsAnyVerifiedPeer, configuration.certificateRevocationLists.isEmpty
            else {
                throw TLSError(
                    .invalidConfiguration,
                    "a peer policy or CRLs need client trust roots: without them no client certificate is verified"
                )
            }
        }
        for name in configuration.applicationProtocols {
            guard (1...255).contains(name.utf8.count) else {
                throw TLSError(.invalidConfiguration, "an ALPN protocol name must be 1 to 255 bytes")
            }
        }
        guard configuration.applicationProtocols.count <= 32 else {
            throw TLSError(.invalidConfiguration, "at most 32 ALPN protocol names")
        }
        guard (Duration.seconds(1)...Duration.seconds(604_800)).contains(configuration.sessionTicketLifetime) else {
            throw TLSError(.invalidConfiguration, "sessionTicketLifetime must be 1 to 604800 seconds (RFC 8446 §4.6.1)")
        }
        let timeouts = Duration.seconds(1)...Duration.seconds(600)
        guard timeouts.contains(configuration.handshakeTimeout), timeouts.contains(configuration.closeTimeout) else {
            throw TLSError(.invalidConfiguration, "handshakeTimeout and closeTimeout must be 1 to 600 seconds")
        }
        if let age = configuration.maximumConnectionAge, age < .seconds(1) {
            throw TLSError(.invalidConfiguration, "maximumConnectionAge must be at least 1 second")
        }
        if let idle = configuration.idleTimeout, idle < .seconds(1) {
            throw TLSError(.invalidConfiguration, "idleTimeout must be at least 1 second")
        }
        guard (1...10).contains(configuration.maximumChainDepth) else {
            throw TLSError(.invalidConfiguration, "maximumChainDepth must be 1 to 10")
        }
        for uri in configuration.peerPolicy.uris where uri.isEmpty {
            throw TLSError(.invalidConfiguration, "an empty URI in the peer policy")
        }
        for pin in configuration.peerPolicy.spkiSHA256 where pin.count != 32 {
            throw TLSError(.invalidConfiguration, "an SPKI SHA-256 pin must be 32 bytes, not \(pin.count)")
        }
    }

    // MARK: - Protocol

    /// TLS 1.3 suites per profile, then the TLS 1.2 ECDHE + AEAD suites used only when TLS 1.2 is allowed.
    static func suites(_ profile: TLSProfile) -> (tls13: String, tls12: String, groups: String, signatures: String) {
        // One definition shared with SaMDSBOM's CBOM (SaMDOpenSSLSupport `TLSParameters`).
        let parameters: TLSParameters =
            switch profile {
            case .default: .default
            case .nist: .nist
            }
        return (
            parameters.tls13Suites.joined(separator: ":"),
            parameters.tls12Suites.joined(separator: ":"),
            parameters.groups.joined(separator: ":"),
            parameters.signatureAlgorithms.joined(separator: ":")
        )
    }

    private static func configureProtocol(_ context: OpaquePointer, _ configuration: TLSConfiguration) throws {
        let minimum = configuration.allowsTLS12 ? TLS1_2_VERSION : TLS1_3_VERSION
        guard CSaMDShims_SSL_CTX_set_min_proto_version(context, minimum) == 1,
            CSaMDShims_SSL_CTX_set_max_proto_version(context, TLS1_3_VERSION) == 1
        else {
            throw TLSError(
                .invalidConfiguration, "cannot set the protocol versions \(OpenSSLErrorQueue.drainSummary())")
        }
        var options =
            CSaMDShims_SSL_OP_NO_COMPRESSION() | CSaMDShims_SSL_OP_NO_RENEGOTIATION()
            | CSaMDShims_SSL_OP_CIPHER_SERVER_PREFERENCE()
        if !configuration.sessionResumption { options |= CSaMDShims_SSL_OP_NO_TICKET() }
        _ = SSL_CTX_set_options(context, options)
        // Read and write buffers are released while a connection is idle (memory per idle connection).
        // Send exactly the configured chain: OpenSSL would otherwise complete a leaf-only chain from the
        // verification store, so a configuration would work or fail depending on which CAs it trusts.
        _ = CSaMDShims_SSL_CTX_set_mode(context, Int(SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN))
        // No 0-RTT: early data is replayable (RFC 8446 §8).
        _ = SSL_CTX_set_max_early_data(context, 0)
        _ = SSL_CTX_set_recv_max_early_data(context, 0)
        // At least 112-bit security for every key and group (RSA ≥ 2048, no SHA-1 signatures).
        SSL_CTX_set_security_level(context, 2)

        let suites = Self.suites(configuration.profile)
        guard SSL_CTX_set_ciphersuites(context, suites.tls13) == 1, SSL_CTX_set_cipher_list(context, suites.tls12) == 1,
            CSaMDShims_SSL_CTX_set1_groups_list(context, suites.groups) == 1
        else {
            throw TLSError(
                .invalidConfiguration, "cannot set the cipher suites or groups \(OpenSSLErrorQueue.drainSummary())")
        }
        guard CSaMDShims_SSL_CTX_set1_sigalgs_list(context, suites.signatures) == 1 else {
            throw TLSError(
                .invalidConfiguration, "cannot set the signature algorithms \(OpenSSLErrorQueue.drainSummary())")
        }
    }

    // MARK: - Identity

    /// Loads and validates the identity completely — a key matching the leaf, a leaf valid now with the EKU
    /// for this role, every certificate issued and signed by the next — then installs it.
    private static func configureIdentity(
        _ context: OpaquePointer,
        _ source: TLSIdentitySource,
        role: TLSConfiguration.Role
    ) throws -> TLSPeerIdentity {
        let identity = try LoadedIdentity(source, role: role)
        OpenSSLErrorQueue.clear()
        guard SSL_CTX_use_certificate(context, identity.chain[0].pointer) == 1 else {
            throw TLSError(.invalidIdentity, "the certificate was refused \(OpenSSLErrorQueue.drainSummary())")
        }
        for certificate in identity.chain.dropFirst() {
            guard CSaMDShims_SSL_CTX_add1_chain_cert(context, certificate.pointer) == 1 else {
                throw TLSError(.invalidIdentity, "a chain certificate was refused \(OpenSSLErrorQueue.drainSummary())")
            }
        }
        guard SSL_CTX_use_PrivateKey(context, identity.key.pointer) == 1, SSL_CTX_check_private_key(context) == 1 else {
            throw TLSError(
                .invalidIdentity,
                "the private key does not match the certificate or is too weak \(OpenSSLErrorQueue.drainSummary())"
            )
        }
        return identity.chain[0].peerIdentity(chain: [identity.chain[0]])
    }
}

/// ALPN selection on the server (RFC 7301 §3.2): the server's preference order; no overlap with a client
/// that offered ALPN is a fatal `no_application_protocol` alert.
private let alpnSelectCallback:
    @convention(c) (
        OpaquePointer?, UnsafeMutablePointer<UnsafePointer<UInt8>?>?, UnsafeMutablePointer<UInt8>?,
        UnsafePointer<UInt8>?, UInt32, UnsafeMutableRawPointer?
    ) -> Int32 = { ssl, out, outLength, offered, offeredLength, _ in
        guard let ssl, let connection = SSLConnection.from(ssl), let out, let outLength, let offered else {
            return SSL_TLSEXT_ERR_ALERT_FATAL
        }
        let ours = connection.context.alpnWire
        let offeredBytes = UnsafeBufferPointer(start: offered, count: Int(offeredLength))
        // Walk our list in order and pick the first name the client also offered.
        var index = 0
        while index < ours.count {
            let length = Int(ours[index])
            let name = ours[(index + 1)..<(index + 1 + length)]
            var cursor = 0
            while cursor < offeredBytes.count {
                let offeredLength = Int(offeredBytes[cursor])
                let end = cursor + 1 + offeredLength
                guard end <= offeredBytes.count else { break }
                if offeredLength == length && offeredBytes[(cursor + 1)..<end].elementsEqual(name) {
                    out.pointee = offered + cursor + 1
                    outLength.pointee = UInt8(length)
                    return SSL_TLSEXT_ERR_OK
                }
                cursor = end
            }
            index += 1 + length
        }
        return SSL_TLSEXT_ERR_ALERT_FATAL
    }
