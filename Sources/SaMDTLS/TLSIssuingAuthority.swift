/// A certification authority that a decision about a peer is bound to: "this role counts only for
/// certificates issued under this CA". Identified by its key (the SHA-256 of its SubjectPublicKeyInfo), not by
/// its name: a name can be repeated by any other CA, a key cannot sign for another.
///
/// ``issued(_:)`` looks at the chain verified in the handshake (``TLSPeerIdentity/certificateChain``): the
/// peer was issued under this authority when a certificate above the leaf — an intermediate or the trust
/// root — carries this authority's key. Since each certificate of a verified chain is signed by the key of the
/// one above it, that means the authority's private key signed the path down to the leaf. Re-issued or
/// cross-signed certificates of the same CA key count as the same authority.
///
/// - SeeAlso: RFC 5280 §6.1 (path validation), RFC 7469 §2.4 (SPKI hashes)
public struct TLSIssuingAuthority: Sendable, Hashable, CustomStringConvertible {
    /// The CA's subject distinguished name, RFC 2253 form (for logs; never compared).
    public let subject: String
    /// SHA-256 of the CA's DER SubjectPublicKeyInfo, 32 bytes.
    public let spkiSHA256: [UInt8]

    /// An authority given by its key hash, `spkiSHA256` 32 bytes.
    public init(subject: String, spkiSHA256: [UInt8]) {
        self.subject = subject
        self.spkiSHA256 = spkiSHA256
    }

    /// The CA certificates in PEM text or a PEM file (at most 1 MiB, at most 64 certificates), in order.
    /// - Throws: ``TLSError/Code/io`` when the file cannot be read; ``TLSError/Code/invalidConfiguration`` when
    ///   it holds no certificate, a malformed one, or one that is not a CA (RFC 5280 §4.2.1.9: basic
    ///   constraints `cA` true, or a self-issued version 1 root, as OpenSSL's `X509_check_ca` judges).
    public static func load(_ source: TLSPEMSource) throws -> [TLSIssuingAuthority] {
        try self.loadCertificates(source)
    }

    /// Whether `peer`'s verified chain goes through this authority: a certificate of
    /// ``TLSPeerIdentity/certificateChain`` other than the leaf carries this authority's key. `false` when the
    /// chain is only the leaf (a resumed session: no chain was verified in that handshake).
    public func issued(_ peer: TLSPeerIdentity) -> Bool {
        guard self.spkiSHA256.count == 32 else { return false }
        return peer.certificateChain.dropFirst().contains { Self.spkiSHA256(ofDER: $0) == self.spkiSHA256 }
    }

    public var description: String {
        "TLSIssuingAuthority(\(self.subject), spki sha256 \(self.spkiSHA256.prefix(8).map { String($0, radix: 16) }.joined())…)"
    }
}
