import SaMDCrypto

/// Rewraps many record headers to one new KEK — a rotation over envelope files or database rows — keying
/// each KEK's AES-256-GCM context once rather than once per header. Each header is rewrapped exactly as
/// ``Envelope/rewrapHeader(_:keys:to:)`` does it (same DEK, fresh wrap nonce, payload untouched); only the
/// set-up is shared.
///
/// A KEK is fetched from `keys` the first time a header names it and kept for the rewrapper's life, so make
/// one per batch: a key destroyed or retired meanwhile is not noticed by a rewrapper that already holds it.
/// Headers sealed to an X25519 recipient, or a recipient as the new key, take the one-by-one path. Not
/// `Sendable`: use one per task.
public final class EnvelopeRewrapper {
    /// The key every rewrapped header names.
    public let newKey: SealingKey
    private let keys: any EnvelopeKeyProvider
    private let wrapContext: AEADContext?
    private var unwrapContexts: [KeyIdentifier: AEADContext] = [:]
    /// At most this many old KEKs are kept keyed at once (a rotation meets one or two).
    static let maximumCachedKeys = 16

    /// - Throws: ``EnvelopeError/Code/crypto`` when the new KEK is not a 32-byte key.
    public init(keys: some EnvelopeKeyProvider, to newKey: SealingKey) throws {
        self.keys = keys
        self.newKey = newKey
        if case .keyEncryptionKey(_, let kek) = newKey {
            self.wrapContext = try EnvelopeError.mappingCryptoErrors("setting up the new KEK") {
                try AEADContext(algorithm: .aes256GCM, key: kek)
            }
        } else {
            self.wrapContext = nil
        }
    }

    /// The new header for `header`'s record, naming ``newKey``.
    /// - Throws: as ``Envelope/rewrapHeader(_:keys:to:)``.
    public func rewrap(_ header: EnvelopeHeader) throws -> EnvelopeHeader {
        guard let wrapContext, header.wrapMode == .keyEncryptionKey else {
            return try Envelope.rewrapHeader(header, keys: self.keys, to: self.newKey)
        }
        let dek = try DEKWrap.unwrap(
            header.wrappedKey, prefix: header.authenticatedPrefix, context: self.unwrapContext(for: header.key))
        let prefix = EnvelopeHeader.authenticatedPrefix(
            suite: header.suite, wrapMode: .keyEncryptionKey, key: self.newKey.identifier)
        let wrapped = try DEKWrap.wrap(dek, prefix: prefix, context: wrapContext)
        return EnvelopeHeader(
            suite: header.suite, wrapMode: .keyEncryptionKey, key: self.newKey.identifier, wrappedKey: wrapped)
    }

    private func unwrapContext(for identifier: KeyIdentifier) throws -> AEADContext {
        if let context = self.unwrapContexts[identifier] { return context }
        let kek = try self.keys.keyEncryptionKey(for: identifier)
        let context = try EnvelopeError.mappingCryptoErrors("setting up KEK \(identifier)") {
            try AEADContext(algorithm: .aes256GCM, key: kek)
        }
        if self.unwrapContexts.count >= Self.maximumCachedKeys { self.unwrapContexts.removeAll() }
        self.unwrapContexts[identifier] = context
        return context
    }
}
