import Foundation
import SaMDCrypto
import SaMDEnvelope
import SaMDExampleSupport
import SaMDKeys
import SaMDOpenSSLSupport
import SaMDTLS

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `--pkcs11-module`: a fresh SoftHSM2 token in the work directory holding the key store's KEK and the gateway's
/// TLS private key, both generated inside it.
///
/// SoftHSM2 reads `SOFTHSM2_CONF` once, when the module is first initialised: the demo writes `softhsm2.conf` and
/// `token/` into its work directory and points the variable there before anything in the process loads the
/// module. Another module cannot be given a fresh token this way (initialising one erases a real token), so the
/// demo refuses any module whose `C_GetInfo` manufacturer is not SoftHSM.
struct DemoToken {
    /// The token's label (RFC 7512 `token=`).
    static let label = "samd-demo"
    /// The gateway's key pair's label (`CKA_LABEL` of its private and public key objects).
    static let gatewayKeyLabel = "samd-gateway-tls"
    /// The key pair's `CKA_ID`.
    static let gatewayKeyID = Array("samd-gateway-tls".utf8)
    /// What `C_GetInfo` names as SoftHSM2's manufacturer.
    static let softHSMManufacturer = "SoftHSM"
    /// The file of the work directory that holds the user PIN (0600).
    static let userPINFileName = "token-user-pin"

    /// The module's path as given (absolute).
    let modulePath: String
    /// The module as loaded (symbolic links resolved) and what it says of itself.
    let module: PKCS11Module
    /// The key store's KEK custody in the token.
    let custody: PKCS11Custody
    /// The gateway's key pair, generated in the token.
    let gatewayKey: PKCS11KeyPair
    /// The token seen through SaMDKit (logged in): to read back the objects' attributes for the checks.
    let token: PKCS11Token
    /// The user PIN, kept for the TLS key loads of this process; written 0600 to `token-user-pin`, never printed.
    let userPIN: SecureBytes

    /// Makes the token and everything in it.
    /// - Throws: ``DemoSetupError`` with exit 64 for a relative or missing module path, 69 for a module that is
    ///   not SoftHSM2 or that fails, 73 when the files cannot be written.
    static func create(modulePath: String, in work: WorkDirectory) throws -> DemoToken {
        guard modulePath.hasPrefix("/") else {
            throw DemoSetupError(
                description: "--pkcs11-module needs an absolute path (\(escapingControlCharacters(modulePath)))",
                exitCode: ExitStatus.usage)
        }
        guard FileManager.default.fileExists(atPath: modulePath) else {
            throw DemoSetupError(
                description: "the PKCS #11 module \(escapingControlCharacters(modulePath)) does not exist",
                exitCode: ExitStatus.usage)
        }
        // Before the module is loaded: SoftHSM2 reads SOFTHSM2_CONF at its C_Initialize, once per process.
        let configuration = try Self.writeSoftHSMConfiguration(in: work)
        setenv("SOFTHSM2_CONF", configuration, 1)

        let userPINText = try Self.randomPIN()
        let securityOfficerPINText = try Self.randomPIN()
        try work.writePrivate(userPINText + "\n", to: Self.userPINFileName)
        try work.writePrivate(securityOfficerPINText + "\n", to: "token-so-pin")
        let userPIN = try SecureBytes(copying: Array(userPINText.utf8))
        let securityOfficerPIN = try SecureBytes(copying: Array(securityOfficerPINText.utf8))

        do {
            let module = try PKCS11Module.load(path: modulePath)
            guard module.information.manufacturer == Self.softHSMManufacturer else {
                throw DemoSetupError(
                    description:
                        "--pkcs11-module makes a fresh token, which only SoftHSM2 can do on demand; \(escapingControlCharacters(modulePath)) is \(escapingControlCharacters(module.information.manufacturer)) \(escapingControlCharacters(module.information.libraryDescription)). For a token you made yourself use samd-vault keys init --kek pkcs11:… and samd-gateway --key pkcs11:…",
                    exitCode: ExitStatus.unavailable)
            }
            try module.initializeToken(label: Self.label, securityOfficerPIN: securityOfficerPIN, userPIN: userPIN)
            var uri = PKCS11URI()
            uri.token = Self.label
            uri.modulePath = modulePath
            let custody = try PKCS11Custody.create(uri: uri, pin: userPIN)
            let token = try PKCS11Token(module: module, label: Self.label, pin: userPIN)
            let gatewayKey = try token.generateECKeyPair(label: Self.gatewayKeyLabel, id: Self.gatewayKeyID)
            return DemoToken(
                modulePath: modulePath, module: module, custody: custody, gatewayKey: gatewayKey, token: token,
                userPIN: userPIN)
        } catch let error as PKCS11Error {
            throw DemoSetupError(
                description: "the PKCS #11 token cannot be made: \(escapingControlCharacters(error.description))",
                exitCode: ExitStatus.unavailable)
        } catch let error as EnvelopeError {
            throw DemoSetupError(
                description: "the key store's objects cannot be made in the token: \(error.code): \(error.reason)",
                exitCode: ExitStatus.unavailable)
        }
    }

    /// The RFC 7512 URI of the gateway's private key, for the `pkcs11` engine.
    var gatewayKeyURI: PKCS11URI {
        var uri = PKCS11URI()
        uri.token = Self.label
        uri.object = Self.gatewayKeyLabel
        uri.type = .private
        uri.modulePath = self.modulePath
        return uri
    }

    /// The gateway's TLS identity: the chain in memory, the private key in the token.
    func gatewayIdentity(certificateChainPEM: String) -> TLSIdentitySource {
        .token(
            certificateChain: .bytes(Array(certificateChainPEM.utf8)),
            privateKey: TLSTokenKey(uri: self.gatewayKeyURI, pin: .value(self.userPIN)))
    }

    /// Whether the secret key labelled `label` is in the token, sensitive and never extractable — read back from
    /// the token (`C_GetAttributeValue`); a description of what was seen.
    func secretKeyStaysInToken(_ label: String) -> (Bool, String) {
        do {
            let key = try self.token.findSecretKey(label: label)
            let attributes = try self.token.securityAttributes(of: key)
            return (Self.neverLeaves(attributes), "\(label): \(Self.describe(attributes))")
        } catch {
            return (false, "\(label): \(error)")
        }
    }

    /// Whether the gateway's private key is in the token, sensitive and never extractable (read back from it).
    func gatewayKeyStaysInToken() -> (Bool, String) {
        do {
            let attributes = try self.token.securityAttributes(ofPrivateKeyOf: self.gatewayKey)
            return (
                Self.neverLeaves(attributes),
                "\(Self.gatewayKeyLabel): \(Self.describe(attributes))"
            )
        } catch {
            return (false, "\(Self.gatewayKeyLabel): \(error)")
        }
    }

    /// A token object that is private, sensitive and never extractable, and was generated in the token.
    private static func neverLeaves(_ attributes: PKCS11SecurityAttributes) -> Bool {
        attributes.token && attributes.isPrivate && attributes.sensitive && attributes.alwaysSensitive
            && !attributes.extractable && attributes.neverExtractable && attributes.local
    }

    private static func describe(_ attributes: PKCS11SecurityAttributes) -> String {
        "\(attributes.sensitive ? "sensitive" : "NOT sensitive"), \(attributes.neverExtractable ? "never extractable" : "extractable"), \(attributes.local ? "generated in the token" : "imported")"
    }

    /// Whether no secret key labelled `label` is left in the token.
    func secretKeyIsGone(_ label: String) -> (Bool, String) {
        do {
            _ = try self.token.findSecretKey(label: label)
            return (false, "\(label) is still in the token")
        } catch let error as PKCS11Error where error.code == .objectNotFound {
            return (true, "\(label) is no longer in the token")
        } catch {
            return (false, "\(label): \(error)")
        }
    }

    /// Where each key is: rows of the summary. `versions`: the key store's KEK versions and their states.
    func locations(versions: [ManagedKey]) -> [(String, String)] {
        let objects = versions.map { "\($0.identifier) \($0.state)" }
        return [
            (
                "KEK custody",
                "PKCS #11 token \(Self.label), module \(escapingControlCharacters(self.modulePath)) (\(escapingControlCharacters(self.module.information.manufacturer)) \(self.module.information.libraryVersion))"
            ),
            (
                "KEK objects in the token",
                "AES-256 KEKs \(objects.joined(separator: ", ")) (a destroyed one is gone from the token); \(PKCS11Custody.indexWrapKeyLabel), \(PKCS11Custody.metadataMACKeyLabel)"
            ),
            ("gateway TLS key in the token", "\(Self.gatewayKeyLabel): EC P-256, signs every handshake there"),
            ("KEK and TLS key outside the token", "never: generated inside it, sensitive, never extractable"),
            (
                "records sealed under",
                "per-subject keys wrapped by the token's KEK (CKM_AES_GCM in the token); a token KEK never seals records directly"
            ),
        ]
    }

    /// 24 hex digits from SaMDCrypto's DRBG.
    private static func randomPIN() throws -> String {
        try SecureRandom.bytes(count: 12).map { String(format: "%02x", $0) }.joined()
    }

    /// Writes `softhsm2.conf` (0600) naming `token/` (0700) of the work directory; returns its path.
    private static func writeSoftHSMConfiguration(in work: WorkDirectory) throws -> String {
        let tokens = work.path + "/token"
        do {
            try FileManager.default.createDirectory(
                atPath: tokens, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        } catch {
            throw DemoSetupError(
                description: "cannot create \(tokens): \(error.localizedDescription)", exitCode: ExitStatus.cannotCreate
            )
        }
        try work.writePrivate(
            """
            # SoftHSM2 configuration of this samd-demo run (SOFTHSM2_CONF).
            directories.tokendir = \(tokens)
            objectstore.backend = file
            log.level = ERROR
            slots.removable = false

            """, to: "softhsm2.conf")
        return work.path + "/softhsm2.conf"
    }
}
