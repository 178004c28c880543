// What every module reads of a certificate the same way: its DER, its SubjectPublicKeyInfo, its validity.

import CSaMDOpenSSL

#if canImport(FoundationEssentials)
    package import FoundationEssentials
#else
    package import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension X509Certificate {
    /// The DER encoding of the certificate (`i2d_X509`); `nil` when OpenSSL cannot encode it.
    package var derBytes: [UInt8]? {
        derEncoding { i2d_X509(self.pointer, $0) }
    }

    /// The DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7; `i2d_X509_PUBKEY`), what an SPKI pin hashes
    /// (RFC 7469 §2.4); `nil` when OpenSSL cannot encode it.
    package var subjectPublicKeyInfoDER: [UInt8]? {
        guard let key = X509_get_X509_PUBKEY(self.pointer) else { return nil }
        return derEncoding { i2d_X509_PUBKEY(key, $0) }
    }

    /// The start of the validity period, to the second; `nil` when it does not convert (`ASN1_TIME_to_tm`).
    package var notBefore: Date? { Self.date(X509_get0_notBefore(self.pointer)) }

    /// The end of the validity period, to the second; `nil` when it does not convert (`ASN1_TIME_to_tm`).
    package var notAfter: Date? { Self.date(X509_get0_notAfter(self.pointer)) }

    private static func date(_ time: UnsafePointer<ASN1_TIME>?) -> Date? {
        guard let time else { return nil }
        var broken = tm()
        guard ASN1_TIME_to_tm(time, &broken) == 1 else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&broken)))
    }
}

/// The DER that an OpenSSL `i2d_*` function writes: `encode` is called once with `nil` for the length, then with
/// a cursor into a buffer of that length. `nil` when either call fails or they disagree on the length.
package func derEncoding(_ encode: (UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?) -> Int32) -> [UInt8]? {
    let length = encode(nil)
    guard length > 0 else { return nil }
    var bytes = [UInt8](repeating: 0, count: Int(length))
    let written = bytes.withUnsafeMutableBufferPointer { buffer in
        var cursor: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
        return encode(&cursor)
    }
    return written == length ? bytes : nil
}
