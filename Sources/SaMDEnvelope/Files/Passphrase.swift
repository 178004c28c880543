public import SaMDCrypto

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where a key store's passphrase comes from: an environment variable or a file — never a command-line
/// argument, which other users can read in the process list.
public enum Passphrase {
    /// The environment variable SaMDKit tools read: `SAMD_PASSPHRASE`.
    public static let environmentVariable = "SAMD_PASSPHRASE"

    /// The passphrase in `variable`.
    /// - Throws: `EnvelopeError.Code.keyStore` when it is unset or empty.
    public static func fromEnvironment(_ variable: String = environmentVariable) throws -> SecureBytes {
        guard let value = getenv(variable), value.pointee != 0 else {
            throw EnvelopeError(.keyStore, "no passphrase: set \(variable) or give a passphrase file")
        }
        return try self.secure(UnsafeRawBufferPointer(start: value, count: strlen(value)))
    }

    /// The passphrase in a file (one trailing newline, LF or CRLF, is dropped). The file must be a regular
    /// file (not a link) that others cannot read.
    /// - Throws: `EnvelopeError.Code.keyStore` for an empty, missing, oversized or world-readable file.
    public static func fromFile(_ path: String) throws -> SecureBytes {
        var bytes: [UInt8]
        do {
            bytes = try StoreFile.read(path, limit: 4098)
        } catch let error as EnvelopeError where error.code != .keyStore {
            throw EnvelopeError(.keyStore, "cannot read the passphrase file: \(error.reason)")
        }
        defer { _ = bytes.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0) } }
        if bytes.last == 0x0A {
            bytes.removeLast()
            if bytes.last == 0x0D { bytes.removeLast() } // one CRLF
        }
        guard !bytes.isEmpty else {
            throw EnvelopeError(.keyStore, "the passphrase file \(path) is empty")
        }
        return try bytes.withUnsafeBytes { try self.secure($0) }
    }

    private static func secure(_ bytes: UnsafeRawBufferPointer) throws -> SecureBytes {
        guard (1...4096).contains(bytes.count) else {
            throw EnvelopeError(.keyStore, "a passphrase is 1 to 4096 bytes")
        }
        do {
            return try SecureBytes(copying: bytes)
        } catch let error as CryptoError {
            throw EnvelopeError(.crypto, "cannot hold the passphrase: \(error.reason)", underlying: error)
        }
    }
}
