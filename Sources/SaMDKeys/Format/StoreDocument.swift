import Foundation
import SaMDCrypto
import SaMDEnvelope

/// The key store's metadata document (`keystore.json`, ``StoreFormat/Envelope``) as bytes: parsed and
/// bounds-checked before any key derivation, authenticated with the custody's MAC, and written.
struct StoreDocument {
    let envelope: StoreFormat.Envelope
    /// The custody the document records (format v1: a passphrase custody, from its `kdf` block).
    let custody: KEKCustodyRecord
    let stateBytes: [UInt8]
    let mac: [UInt8]

    /// Parses and bounds-checks a document (before any key derivation): its size, JSON shape, format, and
    /// the custody record's bounds (a 16-byte salt, Argon2id costs in range).
    /// - Throws: `EnvelopeError.Code.keyStore`, naming `location`.
    static func parse(_ bytes: [UInt8], location: String) throws -> StoreDocument {
        guard bytes.count <= StoreFormat.storeFileLimit else {
            throw EnvelopeError(.keyStore, "\(location) is over the \(StoreFormat.storeFileLimit)-byte limit")
        }
        let envelope: StoreFormat.Envelope
        do {
            envelope = try StoreFormat.decoder.decode(StoreFormat.Envelope.self, from: Data(bytes))
        } catch {
            throw EnvelopeError(.keyStore, "\(location) is corrupted or truncated (not a key-store document)")
        }
        guard envelope.format == StoreFormat.format else {
            throw EnvelopeError(
                .keyStore,
                "\(location) is format \(envelope.format.prefix(40)); this library reads \(StoreFormat.format)")
        }
        let salt = try StoreFormat.decodeBase64(envelope.kdf.salt, limit: Argon2id.saltByteCount, "KDF salt")
        let kdf = KEKCustodyRecord.PassphraseKDF(
            algorithm: envelope.kdf.algorithm, iterations: envelope.kdf.iterations,
            memoryByteCount: envelope.kdf.memory, salt: salt)
        try PassphraseCustody.check(kdf)
        return StoreDocument(
            envelope: envelope,
            custody: .passphrase(kdf),
            stateBytes: try StoreFormat.decodeBase64(envelope.state, limit: StoreFormat.storeFileLimit, "state"),
            mac: try StoreFormat.decodeBase64(envelope.mac, limit: 32, "MAC")
        )
    }

    /// The state, once the document's MAC verifies under `custody`.
    /// - Throws: `EnvelopeError.Code.keyStore` for a wrong passphrase (or PIN's token), a modified document
    ///   or a state that does not decode.
    func authenticate(with custody: any KEKCustody) throws -> StoreFormat.State {
        let input = try StoreFormat.macInput(custody: self.custody, state: self.stateBytes)
        guard try custody.isValidAuthenticationCode(self.mac, for: input) else {
            throw EnvelopeError(.keyStore, "wrong passphrase, or the key store was modified")
        }
        do {
            return try StoreFormat.decoder.decode(StoreFormat.State.self, from: Data(self.stateBytes))
        } catch {
            throw EnvelopeError(.keyStore, "the key store's state does not decode: \(error)")
        }
    }

    /// The document for `state`, recording `custody` and authenticated by its MAC.
    /// - Throws: `EnvelopeError.Code.keyStore` for a custody format v1 cannot record (not a passphrase's).
    static func encode(_ state: StoreFormat.State, custody: any KEKCustody) throws -> [UInt8] {
        guard let kdf = custody.record.passphraseKDF else {
            throw EnvelopeError(
                .keyStore, "\(StoreFormat.format) records only a passphrase custody, not \(custody.record.type)")
        }
        let stateBytes = Array(try StoreFormat.encoder.encode(state))
        let mac = try custody.authenticationCode(
            for: try StoreFormat.macInput(custody: custody.record, state: stateBytes))
        let envelope = StoreFormat.Envelope(
            format: StoreFormat.format,
            kdf: StoreFormat.KDF(kdf),
            state: Data(stateBytes).base64EncodedString(),
            mac: Data(mac).base64EncodedString()
        )
        return Array(try StoreFormat.encoder.encode(envelope))
    }
}

extension StoreFormat.KDF {
    /// The `kdf` block of a passphrase custody's record.
    init(_ kdf: KEKCustodyRecord.PassphraseKDF) {
        self.init(
            algorithm: kdf.algorithm, iterations: kdf.iterations, memory: kdf.memoryByteCount,
            salt: Data(kdf.salt).base64EncodedString())
    }
}

extension StoreFormat {
    /// The MAC input of format v1 for a custody record (only a passphrase custody's).
    static func macInput(custody: KEKCustodyRecord, state: [UInt8]) throws -> [UInt8] {
        guard let kdf = custody.passphraseKDF else {
            throw EnvelopeError(.keyStore, "\(StoreFormat.format) records only a passphrase custody")
        }
        return self.macInput(kdf: StoreFormat.KDF(kdf), salt: kdf.salt, state: state)
    }
}
