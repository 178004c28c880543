// The byte containers the PKCS#11 layer reads and fills. SaMDCrypto sits above this module, so its `SecureBytes`
// conforms from there (SecureBytes+PKCS11.swift): PINs and decrypted keys stay in guarded memory.

/// Bytes the PKCS#11 layer reads without copying: `[UInt8]`, and SaMDCrypto's `SecureBytes`.
package protocol PKCS11Bytes {
    /// Calls `body` with the bytes; the pointer must not escape it.
    func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result
}

/// Secret bytes the PKCS#11 layer reads (a PIN) or fills in place (a decrypted key): SaMDCrypto's `SecureBytes`,
/// which keeps them in guarded memory and zeroes them when released. Never `[UInt8]` or `String`.
package protocol PKCS11SecretBytes: PKCS11Bytes, Sendable {
    /// `count` bytes written by `initializer`, which fills the whole buffer; if it throws, the buffer is zeroed
    /// and the error rethrown.
    init(
        unsafeUninitializedCount count: Int,
        initializingWith initializer: (UnsafeMutableRawBufferPointer) throws -> Void
    ) throws
}

extension Array: PKCS11Bytes where Element == UInt8 {}
