import Synchronization

/// A process-wide cryptographic profile.
///
/// - `default`: OpenSSL's default provider and libsodium; every algorithm of SaMDCrypto.
/// - `nist`: FIPS-minded (NIST SP 800-52r2, SP 800-131A). Activating it loads OpenSSL's FIPS
///   provider and sets the default property query to `fips=yes`, so every OpenSSL algorithm
///   SaMDKit fetches afterwards comes from the FIPS module or fails; libsodium algorithms
///   (XChaCha20-Poly1305, X25519, sealed boxes, Ed25519), which no FIPS module covers, are then
///   refused with ``CryptoError/Code/notAllowedInProfile``. Where no FIPS provider can be loaded,
///   activation fails closed with ``CryptoError/Code/fipsProviderUnavailable`` and the process
///   stays on `default` — it never runs non-FIPS code while claiming `nist`.
public enum CryptoProfile: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    case `default`
    case nist

    public var description: String {
        self.rawValue
    }

    private static let activated = Mutex<CryptoProfile>(.default)

    /// Lets tests see the `nist` refusals without a FIPS provider; task-local, so it never leaks.
    @TaskLocal static var overrideForTesting: CryptoProfile? = nil

    /// The profile in force for this process.
    public static var active: CryptoProfile {
        self.overrideForTesting ?? self.activated.withLock { $0 }
    }

    /// Puts `profile` in force for the whole process. Call once, at start-up, before any other
    /// cryptography in the process (SaMDKit's or any other OpenSSL user's): OpenSSL keeps the DRBG it
    /// made on first use, so `nist` is refused once random numbers have been drawn. Activating
    /// `default` when `default` is active does nothing; leaving `nist` once active is refused (the FIPS
    /// provider cannot be safely unloaded).
    /// - Throws: ``CryptoError/Code/fipsProviderUnavailable`` when `nist` is requested and no OpenSSL FIPS
    ///   provider can be loaded, pass its self-test and serve the DRBG (Debian 12 ships none);
    ///   ``CryptoError/Code/invalidInput`` when asked to leave `nist`.
    public static func activate(_ profile: CryptoProfile) throws {
        try LibraryGate.check()
        try self.activated.withLock { current in
            switch (current, profile) {
            case (.default, .default), (.nist, .nist):
                return
            case (.nist, .default):
                throw CryptoError(.invalidInput, "the nist profile cannot be left once active; restart the process")
            case (.default, .nist):
                try OpenSSLProviders.activateFIPS()
                current = .nist
            }
        }
    }

    /// Throws unless the active profile allows algorithms outside a FIPS module.
    static func requireNonFIPSAlgorithmsAllowed(_ algorithm: String) throws {
        if self.active == .nist {
            throw CryptoError(
                .notAllowedInProfile,
                "\(algorithm): implemented by libsodium, which is not FIPS-validated; the nist profile refuses it"
            )
        }
    }
}
