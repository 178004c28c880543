/// The run-time gate: the OpenSSL and libsodium that the process actually loaded must be
/// at least the versions SaMDKit was written for, and libsodium must initialise. The
/// compile-time gate (`#error` in the C module headers) covers the headers; this covers
/// the shared objects, which may differ from them.
///
/// Checked once per process, on first use of any key material or primitive.
package enum LibraryGate {
    /// OpenSSL 3.0.0 (`OPENSSL_VERSION_NUMBER` layout 0xMNN00PP0).
    static let minimumOpenSSLVersionNumber: UInt = 0x3000_0000
    /// libsodium 1.0.18 is library version 10.3.
    static let minimumSodiumLibraryVersion = (major: 10, minor: 3)

    private static let result: Result<Void, CryptoError> = {
        if let error = OpenSSLRuntime.checkVersion() { return .failure(error) }
        if let error = SodiumRuntime.initialize() { return .failure(error) }
        return .success(())
    }()

    /// - Throws: ``CryptoError/Code/unsupportedLibraryVersion`` with the versions found and required.
    @inline(__always)
    package static func check() throws {
        try self.result.get()
    }

    /// The gate's verdict on an OpenSSL version number (`OpenSSL_version_num()` layout).
    static func openSSLVersionError(found: UInt, versionString: String) -> CryptoError? {
        guard found >= self.minimumOpenSSLVersionNumber else {
            return CryptoError(
                .unsupportedLibraryVersion,
                "the loaded OpenSSL is \(versionString) (0x\(String(found, radix: 16))); SaMDKit needs OpenSSL 3.0 or later"
            )
        }
        return nil
    }

    /// The gate's verdict on a libsodium library version (`sodium_library_version_major/minor()`).
    static func sodiumVersionError(found: (major: Int, minor: Int), versionString: String) -> CryptoError? {
        let needed = self.minimumSodiumLibraryVersion
        guard found.major > needed.major || (found.major == needed.major && found.minor >= needed.minor) else {
            return CryptoError(
                .unsupportedLibraryVersion,
                "the loaded libsodium is \(versionString) (library \(found.major).\(found.minor)); "
                    + "SaMDKit needs libsodium 1.0.18 (library 10.3) or later"
            )
        }
        return nil
    }
}
