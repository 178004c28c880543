/// SaMDKit's own version.
public enum SaMDKit {
    /// The version of this library (semantic versioning).
    public static let version = "0.1.0"
}

/// What cryptography this process actually runs: library versions and the paths of the shared
/// objects loaded, CPU acceleration, FIPS provider state and the active profile. Made for logs,
/// support requests, SBOMs and a reviewer's question "which OpenSSL does the device run?".
public struct RuntimeReport: Sendable, Hashable, Codable {
    /// The OpenSSL side.
    public struct OpenSSL: Sendable, Hashable, Codable {
        /// `OpenSSL_version(OPENSSL_VERSION)`, e.g. "OpenSSL 3.0.19 27 Jan 2026".
        public var version: String
        /// `OpenSSL_version_num()` of the loaded libcrypto (0xMNN00PP0 layout).
        public var versionNumber: UInt
        /// ``versionNumber`` in hexadecimal, e.g. "0x30000130".
        public var versionNumberHex: String
        /// `OPENSSL_VERSION_NUMBER` of the headers SaMDKit was compiled against, in hexadecimal.
        public var headerVersionNumberHex: String
        /// The file the loaded libssl came from (canonical path, links resolved).
        public var libsslPath: String?
        /// The file the loaded libcrypto came from (canonical path, links resolved).
        public var libcryptoPath: String?
        /// The directory OpenSSL loads providers from.
        public var modulesDirectory: String?
        /// Whether an OpenSSL FIPS provider can be loaded and passes its self-test.
        public var fipsProviderAvailable: Bool
        /// Whether the process runs on the FIPS provider (`fips` loaded and `fips=yes` the default property).
        public var fipsProviderActive: Bool
    }

    /// The libsodium side.
    public struct Sodium: Sendable, Hashable, Codable {
        /// `sodium_version_string()`, e.g. "1.0.18".
        public var version: String
        /// `sodium_library_version_major()`.`sodium_library_version_minor()`, e.g. "10.3".
        public var libraryVersion: String
        /// The file the loaded libsodium came from (canonical path, links resolved).
        public var path: String?
    }

    /// Hardware AES.
    public struct AESInstructions: Sendable, Hashable, Codable {
        /// Whether the CPU offers AES instructions (AES-NI on x86-64, the ARMv8 crypto extension on
        /// arm64); nil when SaMDKit cannot tell on this architecture.
        public var cpuHasAESInstructions: Bool?
        /// Whether OpenSSL's AES-GCM runs on them: it uses them whenever the CPU offers them, unless the
        /// capability variable (``capabilityOverrideVariable``) is set, in which case this is nil (unknown).
        public var usedByOpenSSL: Bool?
        /// The name of OpenSSL's CPU-capability override variable when it is set in the environment.
        public var capabilityOverrideVariable: String?
    }

    /// ``SaMDKit/version``.
    public var samdKitVersion: String
    /// The active ``CryptoProfile``.
    public var profile: CryptoProfile
    public var openSSL: OpenSSL
    public var sodium: Sodium
    public var aesInstructions: AESInstructions

    /// Reads the report from the running process.
    /// - Throws: ``CryptoError/Code/unsupportedLibraryVersion`` when the loaded libraries fail the version gate.
    public static func current() throws -> RuntimeReport {
        try LibraryGate.check()
        return RuntimeReport(
            samdKitVersion: SaMDKit.version,
            profile: CryptoProfile.active,
            openSSL: .init(
                version: OpenSSLRuntime.versionString,
                versionNumber: OpenSSLRuntime.versionNumber,
                versionNumberHex: "0x" + String(OpenSSLRuntime.versionNumber, radix: 16),
                headerVersionNumberHex: "0x" + String(OpenSSLRuntime.headerVersionNumber, radix: 16),
                libsslPath: OpenSSLRuntime.libsslPath,
                libcryptoPath: OpenSSLRuntime.libcryptoPath,
                modulesDirectory: OpenSSLRuntime.modulesDirectory,
                fipsProviderAvailable: OpenSSLProviders.fipsProviderAvailable,
                fipsProviderActive: OpenSSLProviders.fipsProviderActive
            ),
            sodium: .init(
                version: SodiumRuntime.versionString,
                libraryVersion: "\(SodiumRuntime.libraryVersion.major).\(SodiumRuntime.libraryVersion.minor)",
                path: SodiumRuntime.path
            ),
            aesInstructions: CPUFeatures.aesInstructions
        )
    }
}
