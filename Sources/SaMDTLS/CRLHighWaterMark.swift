import Logging
import Synchronization

/// One CRL issuer (RFC 5280 §5.1.2.3), by the DER of its distinguished name. CRL numbers increase per issuer
/// (RFC 5280 §5.2.3), so this is what the choice between CRLs and the high-water mark are keyed by.
struct CRLIssuer: Hashable, Sendable {
    /// DER of the issuer name.
    let nameDER: [UInt8]
}

/// A CRL number (RFC 5280 §5.2.3): a non-negative integer of at most 20 octets, compared by value.
struct CRLNumber: Comparable, Sendable, CustomStringConvertible {
    /// Big-endian magnitude without leading zero bytes (empty for 0).
    let magnitude: [UInt8]

    init(bigEndian bytes: [UInt8]) {
        self.magnitude = Array(bytes.drop(while: { $0 == 0 }))
    }

    static func < (lhs: CRLNumber, rhs: CRLNumber) -> Bool {
        lhs.magnitude.count != rhs.magnitude.count
            ? lhs.magnitude.count < rhs.magnitude.count
            : lhs.magnitude.lexicographicallyPrecedes(rhs.magnitude)
    }

    /// Lower-case hexadecimal without leading zeros, like the serial numbers in security events.
    var description: String {
        let digits = self.magnitude.map { byte in
            let text = String(byte, radix: 16)
            return byte < 16 ? "0" + text : text
        }.joined()
        let trimmed = digits.drop(while: { $0 == "0" })
        return trimmed.isEmpty ? "0" : String(trimmed)
    }
}

/// The CRLs of one configuration in force: per issuer, the CRL number chosen, that CRL's DER and the issuer's
/// name in words.
struct CRLSelection: Sendable {
    var numbers: [CRLIssuer: CRLNumber] = [:]
    /// DER of the CRL chosen per issuer: a CRL number names one CRL (RFC 5280 §5.2.3), so two CRLs of one
    /// issuer with one number but other bytes are not the same CRL.
    var encodings: [CRLIssuer: [UInt8]] = [:]
    var issuerNames: [CRLIssuer: String] = [:]
    /// How many CRLs were read from the sources (before the choice per issuer).
    var loadedCount = 0
}

/// The highest CRL number accepted per issuer for the life of a ``TLSContext``, across its reloads: a CRL
/// file replaced by an older CRL (a lower CRL number, even one still inside its validity) must not un-revoke
/// a certificate, and neither may a *different* CRL that carries the number already accepted (a CRL number
/// names one CRL, RFC 5280 §5.2.3: another CRL with the same number is a re-issue the CA should not make, or a
/// forgery signed with its key). Kept in memory only: a restarted process starts again from its files.
///
/// - SeeAlso: RFC 5280 §5.2.3 (CRL numbers increase monotonically per issuer).
final class CRLHighWaterMark: Sendable {
    /// Per issuer, the highest CRL number accepted and the DER of the CRL that carried it.
    private let highest = Mutex<[CRLIssuer: (number: CRLNumber, der: [UInt8])]>([:])
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    /// Throws when `selection` would go back to an older CRL of an issuer than one already accepted, or would
    /// put another CRL in the place of the one accepted with the same CRL number, after logging
    /// `samd.tls.crl-rollback-refused`; the state in service is untouched.
    func check(_ selection: CRLSelection) throws {
        let highest = self.highest.withLock { $0 }
        for (issuer, number) in selection.numbers {
            guard let accepted = highest[issuer] else { continue }
            let name = selection.issuerNames[issuer] ?? "?"
            if number < accepted.number {
                TLSEvents.crlRollbackRefused(
                    self.logger, issuer: name, crlNumber: number, acceptedCRLNumber: accepted.number)
                throw TLSError(
                    .invalidConfiguration,
                    "the CRL of \(name) has CRL number 0x\(number), lower than 0x\(accepted.number) already accepted: a reload never goes back to an older CRL (RFC 5280 §5.2.3)"
                )
            }
            if number == accepted.number, let der = selection.encodings[issuer], der != accepted.der {
                TLSEvents.crlRollbackRefused(
                    self.logger, issuer: name, crlNumber: number, acceptedCRLNumber: accepted.number)
                throw TLSError(
                    .invalidConfiguration,
                    "the CRL of \(name) with CRL number 0x\(number) is not the CRL with that number already accepted: a CRL number names one CRL (RFC 5280 §5.2.3)"
                )
            }
        }
    }

    /// Raises each issuer's mark to the CRL now in service.
    func raise(to selection: CRLSelection) {
        self.highest.withLock { highest in
            for (issuer, number) in selection.numbers where highest[issuer].map({ $0.number < number }) ?? true {
                highest[issuer] = (number, selection.encodings[issuer] ?? [])
            }
        }
    }
}
