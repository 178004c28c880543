import CSaMDShims
import CSaMDSodium

/// Facts about the libsodium the process loaded.
enum SodiumRuntime {
    /// `sodium_version_string()`, e.g. "1.0.18".
    static var versionString: String {
        String(cString: sodium_version_string())
    }

    static var libraryVersion: (major: Int, minor: Int) {
        (Int(sodium_library_version_major()), Int(sodium_library_version_minor()))
    }

    static var path: String? {
        CSaMDShims_libsodium_path().map(canonicalPath)
    }

    /// Checks the loaded version, then calls `sodium_init()` (idempotent, thread-safe).
    static func initialize() -> CryptoError? {
        if let error = LibraryGate.sodiumVersionError(found: self.libraryVersion, versionString: self.versionString) {
            return error
        }
        guard sodium_init() >= 0 else {
            return CryptoError(
                .unsupportedLibraryVersion, "sodium_init() failed: libsodium cannot be used in this process")
        }
        return nil
    }
}
