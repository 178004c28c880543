public import SaMDCrypto

/// The key an envelope is sealed to.
public enum SealingKey: Sendable {
    /// A 256-bit KEK (or subject key), named by its exact identifier.
    case keyEncryptionKey(KeyIdentifier, SecureBytes)
    /// A recipient's X25519 public key: the sealer cannot open what it sealed.
    case recipient(KeyIdentifier, X25519.PublicKey)

    public var identifier: KeyIdentifier {
        switch self {
        case .keyEncryptionKey(let identifier, _), .recipient(let identifier, _): identifier
        }
    }
}

/// Where envelopes find the keys to open (and rewrap) with. SaMDKeys' key ring is the usual one;
/// anything that can answer by exact identifier will do.
///
/// Implementations throw ``EnvelopeError`` with ``EnvelopeError/Code/keyNotFound``,
/// ``EnvelopeError/Code/keyDestroyed`` or ``EnvelopeError/Code/keyNotUsable`` as the case is.
public protocol EnvelopeKeyProvider: Sendable {
    /// The 32-byte KEK (or subject key) `identifier` names, for opening.
    func keyEncryptionKey(for identifier: KeyIdentifier) throws -> SecureBytes
    /// The X25519 private key `identifier` names, for opening envelopes sealed to a recipient.
    func recipientPrivateKey(for identifier: KeyIdentifier) throws -> X25519.PrivateKey
}

extension EnvelopeKeyProvider {
    public func recipientPrivateKey(for identifier: KeyIdentifier) throws -> X25519.PrivateKey {
        throw EnvelopeError(.keyNotFound, "no recipient private key \(identifier)")
    }
}

/// A fixed set of keys in memory: for tests, tools, and callers that manage keys themselves.
public struct StaticKeyProvider: EnvelopeKeyProvider {
    private let keys: [KeyIdentifier: SecureBytes]
    private let recipients: [KeyIdentifier: X25519.PrivateKey]

    public init(keys: [KeyIdentifier: SecureBytes] = [:], recipients: [KeyIdentifier: X25519.PrivateKey] = [:]) {
        self.keys = keys
        self.recipients = recipients
    }

    public func keyEncryptionKey(for identifier: KeyIdentifier) throws -> SecureBytes {
        guard let key = self.keys[identifier] else {
            throw EnvelopeError(.keyNotFound, "no key \(identifier)")
        }
        return key
    }

    public func recipientPrivateKey(for identifier: KeyIdentifier) throws -> X25519.PrivateKey {
        guard let key = self.recipients[identifier] else {
            throw EnvelopeError(.keyNotFound, "no recipient private key \(identifier)")
        }
        return key
    }
}

extension EnvelopeHeader {
    /// Makes a header around a freshly wrapped `dek`.
    /// `wrapNonce` (mode 1) and `ephemeralPrivateKey` (mode 2) fix the wrap's random input, for the published
    /// test vectors only; nil draws fresh ones.
    static func sealing(
        _ dek: SecureBytes,
        suite: PayloadSuite,
        to key: SealingKey,
        wrapNonce: [UInt8]? = nil,
        ephemeralPrivateKey: X25519.PrivateKey? = nil
    ) throws -> EnvelopeHeader {
        switch key {
        case .keyEncryptionKey(let identifier, let kek):
            let prefix = Self.authenticatedPrefix(suite: suite, wrapMode: .keyEncryptionKey, key: identifier)
            let wrapped = try DEKWrap.wrap(dek, prefix: prefix, kek: kek, nonce: wrapNonce)
            return EnvelopeHeader(suite: suite, wrapMode: .keyEncryptionKey, key: identifier, wrappedKey: wrapped)
        case .recipient(let identifier, let publicKey):
            let prefix = Self.authenticatedPrefix(suite: suite, wrapMode: .recipient, key: identifier)
            return EnvelopeHeader(
                suite: suite, wrapMode: .recipient, key: identifier,
                wrappedKey: try DEKWrap.seal(
                    dek, prefix: prefix, recipient: publicKey, ephemeralPrivateKey: ephemeralPrivateKey))
        }
    }

    /// Unwraps the DEK with the key the header names. Authenticates every header byte.
    func unwrapDEK(keys: some EnvelopeKeyProvider) throws -> SecureBytes {
        switch self.wrapMode {
        case .keyEncryptionKey:
            return try DEKWrap.unwrap(
                self.wrappedKey, prefix: self.authenticatedPrefix, kek: keys.keyEncryptionKey(for: self.key))
        case .recipient:
            return try DEKWrap.open(
                self.wrappedKey, prefix: self.authenticatedPrefix, recipient: keys.recipientPrivateKey(for: self.key))
        }
    }
}
