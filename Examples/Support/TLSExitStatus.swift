public import SaMDTLS

/// The sysexits(3) codes of the example programs that speak TLS, and how a `TLSError` maps to them — one
/// mapping for `samd-tls`, `samd-gateway` and `samd-agent`, so scripts treat every SaMDKit program alike.
public enum TLSExitStatus {
    /// EX_USAGE: the command line is wrong.
    public static let usage: Int32 = 64
    /// EX_NOINPUT: an input file (certificate, key, CA, record) cannot be read.
    public static let noInput: Int32 = 66
    /// EX_UNAVAILABLE: the peer cannot be reached, or the program cannot listen.
    public static let unavailable: Int32 = 69
    /// EX_SOFTWARE: an internal error.
    public static let software: Int32 = 70
    /// EX_IOERR: an I/O error.
    public static let ioError: Int32 = 74
    /// EX_PROTOCOL: a TLS or protocol failure.
    public static let protocolFailure: Int32 = 76
    /// EX_NOPERM: a certificate was refused by either side.
    public static let certificateRefused: Int32 = 77
    /// EX_CONFIG: invalid configuration or identity.
    public static let configuration: Int32 = 78

    /// The exit code for an error of the connection phase (connect, handshake, data).
    public static func code(forConnection error: any Error) -> Int32 {
        guard let error = error as? TLSError else { return protocolFailure }
        if error.isCertificateError { return certificateRefused }
        switch error.code {
        case .unreachable: return unavailable
        case .invalidConfiguration, .invalidIdentity, .fipsProviderUnavailable: return configuration
        default: return protocolFailure
        }
    }

    /// The exit code for an error building a TLS context (reading and validating its files).
    public static func code(forSetup error: TLSError) -> Int32 {
        switch error.code {
        case .io: noInput
        case .invalidConfiguration, .invalidIdentity, .fipsProviderUnavailable: configuration
        default: software
        }
    }
}
