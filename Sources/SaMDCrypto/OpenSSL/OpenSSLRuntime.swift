import CSaMDOpenSSL
import CSaMDShims

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Facts about the OpenSSL the process loaded.
enum OpenSSLRuntime {
    /// `OpenSSL_version_num()`: the version of the loaded libcrypto.
    static var versionNumber: UInt {
        OpenSSL_version_num()
    }

    /// `OPENSSL_VERSION_NUMBER` of the headers SaMDKit was compiled against.
    static var headerVersionNumber: UInt {
        CSaMDShims_OPENSSL_VERSION_NUMBER()
    }

    /// `OpenSSL_version(OPENSSL_VERSION)`, e.g. "OpenSSL 3.0.19 27 Jan 2026".
    static var versionString: String {
        String(cString: OpenSSL_version(OPENSSL_VERSION))
    }

    /// The directory OpenSSL loads providers from (`OPENSSL_MODULES` or the built-in default).
    static var modulesDirectory: String? {
        if let fromEnvironment = getenv("OPENSSL_MODULES") {
            return String(cString: fromEnvironment)
        }
        // OpenSSL_version(OPENSSL_MODULES_DIR) reads `MODULESDIR: "/path"`.
        let text = String(cString: OpenSSL_version(OPENSSL_MODULES_DIR))
        guard let open = text.firstIndex(of: "\""), let close = text.lastIndex(of: "\""), open < close else {
            return nil
        }
        return String(text[text.index(after: open)..<close])
    }

    static var libsslPath: String? {
        CSaMDShims_libssl_path().map(canonicalPath)
    }

    static var libcryptoPath: String? {
        CSaMDShims_libcrypto_path().map(canonicalPath)
    }

    static func checkVersion() -> CryptoError? {
        LibraryGate.openSSLVersionError(found: self.versionNumber, versionString: self.versionString)
    }
}
