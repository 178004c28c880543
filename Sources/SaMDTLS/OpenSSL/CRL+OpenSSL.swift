import CSaMDOpenSSL
import CSaMDShims
import SaMDOpenSSLSupport

/// Loads PEM CRLs into an `X509_STORE`, for handshakes and for ``TLSChainVerifier`` alike.
///
/// Of several CRLs of one issuer — in several sources or in one — only the one with the highest CRL number
/// is loaded (RFC 5280 §5.2.3), so the decision never depends on their order. OpenSSL would pick the one with
/// the latest thisUpdate and, on a tie, the first listed: a current empty CRL listed before a newer revoking
/// one would let a revoked peer in.
enum CRLLoader {
    /// The most CRLs read from one source.
    static let maximumPerSource = 256

    /// One parsed CRL, owned, with what the choice among CRLs reads of it.
    private struct ParsedCRL {
        let crl: X509CRL
        let issuer: CRLIssuer
        let issuerName: String
        let number: CRLNumber
        let der: [UInt8]

        var pointer: OpaquePointer { self.crl.pointer }

        /// Takes `pointer` over (it is freed with the last copy of this value, or at once when a check fails).
        init(takingOwnership pointer: OpaquePointer) throws {
            let crl = X509CRL(takingOwnership: pointer)
            let name = X509_CRL_get_issuer(pointer)
            let issuerName = X509Certificate.rfc2253(name)
            guard let number = Self.crlNumber(pointer, issuerName: issuerName) else {
                throw TLSError(
                    .invalidConfiguration,
                    "a CRL of \(issuerName) has no CRL number extension, or a negative one or one longer than 20 octets (RFC 5280 §5.2.3)"
                )
            }
            // Without nextUpdate OpenSSL treats a CRL as current forever; RFC 5280 §5.1.2.5 requires the field.
            guard X509_CRL_get0_nextUpdate(pointer) != nil else {
                throw TLSError(
                    .invalidConfiguration,
                    "the CRL of \(issuerName) with CRL number 0x\(number) has no nextUpdate: it would never expire (RFC 5280 §5.1.2.5)"
                )
            }
            self.crl = crl
            self.issuerName = issuerName
            self.issuer = CRLIssuer(nameDER: Self.der(name))
            self.number = number
            self.der = Self.der(crl: pointer)
        }

        /// The CRL number (RFC 5280 §5.2.3: required of every conforming CRL issuer — without it a replayed older
        /// CRL cannot be told from a newer one, and OpenSSL accepts such CRLs), or nil when it is missing,
        /// negative or longer than 20 octets.
        private static func crlNumber(_ crl: OpaquePointer, issuerName: String) -> CRLNumber? {
            var critical: Int32 = 0
            guard let raw = X509_CRL_get_ext_d2i(crl, NID_crl_number, &critical, nil) else {
                OpenSSLErrorQueue.clear()
                return nil
            }
            let number = raw.assumingMemoryBound(to: ASN1_INTEGER.self)
            defer { ASN1_INTEGER_free(number) }
            let bytes = X509Certificate.bytes(UnsafePointer(number))
            guard ASN1_STRING_type(UnsafePointer(number)) != V_ASN1_NEG_INTEGER, bytes.count <= 20 else { return nil }
            return CRLNumber(bigEndian: bytes)
        }

        private static func der(_ name: OpaquePointer?) -> [UInt8] {
            guard let name else { return [] }
            return derEncoding { i2d_X509_NAME(name, $0) } ?? []
        }

        private static func der(crl: OpaquePointer) -> [UInt8] {
            derEncoding { i2d_X509_CRL(crl, $0) } ?? []
        }
    }

    /// Reads every CRL of `sources`, keeps per issuer the one with the highest CRL number, checks the choice
    /// against `highWater` (when given) and adds the chosen CRLs to `store`.
    /// - Throws: ``TLSError/Code/invalidConfiguration`` for a malformed PEM CRL, a CRL without CRL number or
    ///   without nextUpdate, two different CRLs of one issuer with the same CRL number, more than
    ///   ``maximumPerSource`` CRLs in a source, or a CRL older than one `highWater` already accepted (or another
    ///   CRL with the number it accepted);
    ///   ``TLSError/Code/io`` for an unreadable file.
    static func load(_ sources: [TLSPEMSource], into store: OpaquePointer, highWater: CRLHighWaterMark?) throws
        -> CRLSelection
    {
        var chosen: [CRLIssuer: ParsedCRL] = [:]
        var selection = CRLSelection()
        for source in sources {
            for crl in try Self.parse(source) {
                selection.loadedCount += 1
                guard let current = chosen[crl.issuer] else {
                    chosen[crl.issuer] = crl
                    continue
                }
                if crl.number == current.number, crl.der != current.der {
                    throw TLSError(
                        .invalidConfiguration,
                        "two different CRLs of \(crl.issuerName) carry the same CRL number 0x\(crl.number) (RFC 5280 §5.2.3)"
                    )
                }
                if current.number < crl.number { chosen[crl.issuer] = crl }
            }
        }
        for (issuer, crl) in chosen {
            selection.numbers[issuer] = crl.number
            selection.encodings[issuer] = crl.der
            selection.issuerNames[issuer] = crl.issuerName
        }
        try highWater?.check(selection)
        for crl in chosen.values {
            OpenSSLErrorQueue.clear()
            guard X509_STORE_add_crl(store, crl.pointer) == 1 else {
                throw TLSError(.invalidConfiguration, "a CRL was refused \(OpenSSLErrorQueue.drainSummary())")
            }
        }
        return selection
    }

    private static func parse(_ source: TLSPEMSource) throws -> [ParsedCRL] {
        let pem = try source.read(what: "CRL")
        guard let bio = MemoryBIO(bytes: pem) else { throw TLSError(.io, "cannot make a memory BIO") }
        var crls: [ParsedCRL] = []
        OpenSSLErrorQueue.clear()
        while let crl = PEM_read_bio_X509_CRL(bio.pointer, nil, nil, nil) {
            crls.append(try ParsedCRL(takingOwnership: crl))
            if crls.count > Self.maximumPerSource {
                throw TLSError(.invalidConfiguration, "more than \(Self.maximumPerSource) CRLs in one source")
            }
        }
        let leftover = OpenSSLErrorQueue.drain()
        if let bad = leftover.first(where: { $0.reasonCode != PEM_R_NO_START_LINE }) {
            throw TLSError(.invalidConfiguration, "malformed PEM CRL (\(bad.summary))")
        }
        return crls
    }
}
