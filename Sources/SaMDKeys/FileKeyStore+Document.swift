import Foundation
import SaMDCrypto
import SaMDEnvelope
import Synchronization

/// The key-store document, `keystore.json` (``StoreFormat/Envelope``): deriving its keys from the passphrase,
/// reading, authenticating and writing it, wrapping key material under its wrap key, and the state read from it.
extension FileKeyStore {
    /// Runs `body` on the current on-disk state under the store lock, then writes it atomically.
    @discardableResult
    func mutate<T>(_ body: (inout StoreFormat.State, Date) throws -> T) throws -> T {
        let lock = try self.storeLock(.exclusive)
        defer { withExtendedLifetime(lock) {} }
        var state = try self.reload()
        let result = try body(&state, self.now())
        state.generation += 1
        StoreFile.removeStaleTemporaries(of: self.storePath)
        try Self.write(state, kdf: self.kdf, salt: self.kdfSalt, macKey: self.macKey, to: self.storePath)
        self.cached.withLock { $0 = (state, StoreFile.identity(self.storePath)) }
        return result
    }

    /// The store's state as it is on disk now: the cached state while the file is the one it was read
    /// from (same inode, size and modification time — every write renames a new file in), otherwise the
    /// file read and authenticated again. So a rotation, retirement or destruction by another process is
    /// seen by the next operation here.
    func current() throws -> StoreFormat.State {
        let identity = StoreFile.identity(self.storePath)
        let cached = self.cached.withLock { $0 }
        if let identity, cached.file == identity {
            return cached.state
        }
        return try self.reload()
    }

    /// Reads and authenticates the store file again.
    @discardableResult
    func reload() throws -> StoreFormat.State {
        let identity = StoreFile.identity(self.storePath)
        let (envelope, salt) = try Self.readEnvelope(self.storePath)
        guard salt == self.kdfSalt, envelope.kdf.iterations == self.kdf.iterations,
            envelope.kdf.memory == self.kdf.memory
        else {
            throw EnvelopeError(.keyStore, "the key store's KDF parameters changed underneath this process")
        }
        let state = try Self.verify(envelope, salt: salt, macKey: self.macKey)
        self.cached.withLock { $0 = (state, identity) }
        return state
    }

    static func wrap(_ key: SecureBytes, under wrapKey: SecureBytes) throws -> String {
        Data(try self.crypto { try AESKeyWrap.wrapWithPadding(key, using: wrapKey) }).base64EncodedString()
    }

    static func unwrap(_ text: String, under wrapKey: SecureBytes, what: String) throws -> SecureBytes {
        let wrapped = try StoreFormat.decodeBase64(text, limit: 4104, "wrapped \(what)")
        do {
            return try AESKeyWrap.unwrapWithPadding(wrapped, using: wrapKey)
        } catch let error as CryptoError {
            throw EnvelopeError(
                .keyStore, "the wrapped \(what) does not unwrap: the store was modified", underlying: error)
        }
    }

    static func deriveKeys(passphrase: SecureBytes, kdf: StoreFormat.KDF, salt: [UInt8]) throws -> (
        SecureBytes, SecureBytes
    ) {
        guard kdf.algorithm == "argon2id" else {
            throw EnvelopeError(.keyStore, "unknown key-store KDF \(kdf.algorithm)")
        }
        let parameters = Argon2id.Parameters(iterations: kdf.iterations, memoryByteCount: kdf.memory)
        return try self.crypto {
            let root = try Argon2id.deriveKey(passphrase: passphrase, salt: salt, parameters: parameters)
            let wrap = try HKDF.expand(
                hash: .sha256, pseudoRandomKey: root, info: Array("samd-keystore-v1 wrap".utf8), outputByteCount: 32)
            let mac = try HKDF.expand(
                hash: .sha256, pseudoRandomKey: root, info: Array("samd-keystore-v1 mac".utf8), outputByteCount: 32)
            return (wrap, mac)
        }
    }

    static func readEnvelope(_ path: String) throws -> (StoreFormat.Envelope, [UInt8]) {
        let bytes: [UInt8]
        do {
            bytes = try StoreFile.read(path, limit: StoreFormat.storeFileLimit)
        } catch let error as EnvelopeError where error.code == .keyNotFound {
            throw EnvelopeError(.keyStore, "no key store file at \(path)")
        }
        return try self.parseEnvelope(bytes, path: path)
    }

    /// Parses and bounds-checks `keystore.json` (before any key derivation).
    static func parseEnvelope(_ bytes: [UInt8], path: String) throws -> (StoreFormat.Envelope, [UInt8]) {
        guard bytes.count <= StoreFormat.storeFileLimit else {
            throw EnvelopeError(.keyStore, "\(path) is over the \(StoreFormat.storeFileLimit)-byte limit")
        }
        let envelope: StoreFormat.Envelope
        do {
            envelope = try StoreFormat.decoder.decode(StoreFormat.Envelope.self, from: Data(bytes))
        } catch {
            throw EnvelopeError(.keyStore, "\(path) is corrupted or truncated (not a key-store document)")
        }
        guard envelope.format == StoreFormat.format else {
            throw EnvelopeError(
                .keyStore, "\(path) is format \(envelope.format.prefix(40)); this library reads \(StoreFormat.format)")
        }
        let salt = try StoreFormat.decodeBase64(envelope.kdf.salt, limit: Argon2id.saltByteCount, "KDF salt")
        guard salt.count == Argon2id.saltByteCount else {
            throw EnvelopeError(.keyStore, "the key store's KDF salt is not \(Argon2id.saltByteCount) bytes")
        }
        do {
            try Argon2id.Parameters(iterations: envelope.kdf.iterations, memoryByteCount: envelope.kdf.memory)
                .validate()
        } catch let error as CryptoError {
            throw EnvelopeError(.keyStore, "the key store's KDF parameters are out of bounds", underlying: error)
        }
        return (envelope, salt)
    }

    static func verify(_ envelope: StoreFormat.Envelope, salt: [UInt8], macKey: SecureBytes) throws -> StoreFormat.State
    {
        let stateBytes = try StoreFormat.decodeBase64(envelope.state, limit: StoreFormat.storeFileLimit, "state")
        let mac = try StoreFormat.decodeBase64(envelope.mac, limit: 32, "MAC")
        let expected = try self.crypto {
            try DigestAlgorithm.sha256.authenticationCode(
                for: StoreFormat.macInput(kdf: envelope.kdf, salt: salt, state: stateBytes), key: macKey)
        }
        let expectedSecure = try self.crypto { try SecureBytes(copying: expected) }
        guard expectedSecure.constantTimeEquals(mac) else {
            throw EnvelopeError(.keyStore, "wrong passphrase, or the key store was modified")
        }
        do {
            return try StoreFormat.decoder.decode(StoreFormat.State.self, from: Data(stateBytes))
        } catch {
            throw EnvelopeError(.keyStore, "the key store's state does not decode: \(error)")
        }
    }

    static func write(
        _ state: StoreFormat.State, kdf: StoreFormat.KDF, salt: [UInt8], macKey: SecureBytes, to path: String
    ) throws {
        let stateBytes = Array(try StoreFormat.encoder.encode(state))
        let mac = try self.crypto {
            try DigestAlgorithm.sha256.authenticationCode(
                for: StoreFormat.macInput(kdf: kdf, salt: salt, state: stateBytes), key: macKey)
        }
        let envelope = StoreFormat.Envelope(
            format: StoreFormat.format,
            kdf: kdf,
            state: Data(stateBytes).base64EncodedString(),
            mac: Data(mac).base64EncodedString()
        )
        try StoreFile.writeAtomically(Array(try StoreFormat.encoder.encode(envelope)), to: path)
    }
}
