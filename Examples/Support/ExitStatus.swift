public import SaMDTLS

/// The sysexits(3) codes of every example program — one table, so that scripts treat every SaMDKit program
/// alike. Each program's `--help` lists the ones it uses; how a library error maps to them is beside the
/// program (`samd-vault`, `samd-pki`, `samd-sbom`) or here for TLS (``code(forConnection:)``,
/// ``code(forSetup:)``).
/// - SeeAlso: sysexits(3) (BSD `<sysexits.h>`)
public enum ExitStatus {
    /// Success.
    public static let ok: Int32 = 0
    /// EX_USAGE: the command line is wrong.
    public static let usage: Int32 = 64
    /// EX_DATAERR: the input data is wrong (not authentic, malformed, refused).
    public static let dataError: Int32 = 65
    /// EX_NOINPUT: an input file (certificate, key, CA, record) cannot be read.
    public static let noInput: Int32 = 66
    /// EX_UNAVAILABLE: the peer or a service (a key, a provider) is unavailable, or the program cannot listen.
    public static let unavailable: Int32 = 69
    /// EX_SOFTWARE: an internal error.
    public static let software: Int32 = 70
    /// EX_CANTCREAT: an output file cannot be created.
    public static let cannotCreate: Int32 = 73
    /// EX_IOERR: an I/O error.
    public static let ioError: Int32 = 74
    /// EX_TEMPFAIL: a temporary failure; trying again later may succeed.
    public static let temporaryFailure: Int32 = 75
    /// EX_PROTOCOL: a TLS or protocol failure.
    public static let protocolFailure: Int32 = 76
    /// EX_NOPERM: a certificate was refused by either side (or a role by the gateway).
    public static let certificateRefused: Int32 = 77
    /// EX_CONFIG: invalid configuration or identity.
    public static let configuration: Int32 = 78

    /// The exit code for an error of the connection phase (connect, handshake, data): 77 for a refused
    /// certificate, 69 unreachable, 78 configuration or identity, 76 any other failure.
    public static func code(forConnection error: any Error) -> Int32 {
        guard let error = error as? TLSError else { return protocolFailure }
        if error.isCertificateError { return certificateRefused }
        switch error.code {
        case .unreachable: return unavailable
        case .pkcs11PINUnavailable: return noInput
        case .pkcs11TokenAbsent, .pkcs11PINIncorrect, .pkcs11PINLocked, .pkcs11EngineUnavailable,
            .pkcs11ModuleUnavailable:
            return unavailable
        case .pkcs11KeyNotFound, .pkcs11KeyMismatch: return configuration
        case .invalidConfiguration, .invalidIdentity, .fipsProviderUnavailable: return configuration
        default: return protocolFailure
        }
    }

    /// The exit code for an error building a TLS context (reading and validating its files): 66 for I/O or a PIN
    /// that cannot be read, 69 for a token key whose token, module or engine is unavailable or that refused the PIN,
    /// 78 for configuration or identity (a token key not found or not matching the certificate included), 70
    /// otherwise.
    public static func code(forSetup error: TLSError) -> Int32 {
        switch error.code {
        case .io, .pkcs11PINUnavailable: noInput
        case .pkcs11TokenAbsent, .pkcs11PINIncorrect, .pkcs11PINLocked, .pkcs11EngineUnavailable,
            .pkcs11ModuleUnavailable:
            unavailable
        case .pkcs11KeyNotFound, .pkcs11KeyMismatch: configuration
        case .invalidConfiguration, .invalidIdentity, .fipsProviderUnavailable: configuration
        default: software
        }
    }
}
