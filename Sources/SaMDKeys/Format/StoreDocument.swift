import Foundation
import SaMDCrypto
import SaMDEnvelope

/// The key store's metadata document (`keystore.json`: ``StoreFormat/Envelope`` in format version 1,
/// ``StoreFormat/EnvelopeV2`` in versions 2 and 3) as bytes: parsed and bounds-checked before any key
/// derivation, authenticated with the custody's MAC, and written — always in version 3.
struct StoreDocument {
    /// 1, 2 or 3.
    let formatVersion: Int
    /// The custody the document records (format v1: a passphrase custody, from its `kdf` block).
    let custody: KEKCustodyRecord
    let stateBytes: [UInt8]
    let mac: [UInt8]

    /// Parses and bounds-checks a document (before any key derivation): its size, JSON shape, format, and
    /// the custody record's bounds (a 16-byte salt, Argon2id costs in range; a token URI without a PIN).
    /// - Throws: `EnvelopeError.Code.keyStore`, naming `location`.
    static func parse(_ bytes: [UInt8], location: String) throws -> StoreDocument {
        guard bytes.count <= StoreFormat.storeFileLimit else {
            throw EnvelopeError(.keyStore, "\(location) is over the \(StoreFormat.storeFileLimit)-byte limit")
        }
        let corrupted = EnvelopeError(.keyStore, "\(location) is corrupted or truncated (not a key-store document)")
        guard let format = try? StoreFormat.decoder.decode(StoreFormat.FormatField.self, from: Data(bytes)).format
        else { throw corrupted }
        let formatVersion: Int
        let custody: KEKCustodyRecord
        let state: String
        let mac: String
        switch format {
        case StoreFormat.formatV1:
            guard let envelope = try? StoreFormat.decoder.decode(StoreFormat.Envelope.self, from: Data(bytes)) else {
                throw corrupted
            }
            let kdf = KEKCustodyRecord.PassphraseKDF(
                algorithm: envelope.kdf.algorithm, iterations: envelope.kdf.iterations,
                memoryByteCount: envelope.kdf.memory,
                salt: try StoreFormat.decodeBase64(envelope.kdf.salt, limit: Argon2id.saltByteCount, "KDF salt"))
            try PassphraseCustody.check(kdf)
            (formatVersion, custody, state, mac) = (1, .passphrase(kdf), envelope.state, envelope.mac)
        case StoreFormat.formatV2, StoreFormat.format:
            guard let envelope = try? StoreFormat.decoder.decode(StoreFormat.EnvelopeV2.self, from: Data(bytes)) else {
                throw corrupted
            }
            (formatVersion, custody, state, mac) = (
                format == StoreFormat.format ? StoreFormat.formatVersion : 2,
                try StoreFormat.custodyRecord(envelope.custody), envelope.state, envelope.mac
            )
        default:
            throw EnvelopeError(
                .keyStore,
                "\(location) is format \(format.prefix(40).debugDescription); this library reads \(StoreFormat.formatV1), \(StoreFormat.formatV2) and \(StoreFormat.format)"
            )
        }
        return StoreDocument(
            formatVersion: formatVersion,
            custody: custody,
            stateBytes: try StoreFormat.decodeBase64(state, limit: StoreFormat.storeFileLimit, "state"),
            mac: try StoreFormat.decodeBase64(mac, limit: 32, "MAC")
        )
    }

    /// The bytes the document's MAC is over, as its format version defines them.
    var macInput: [UInt8] {
        get throws {
            switch self.formatVersion {
            case 1: try StoreFormat.macInput(custody: self.custody, state: self.stateBytes)
            case 2: try StoreFormat.macInputV2(custody: self.custody, state: self.stateBytes)
            default:
                try StoreFormat.macInputV2(custody: self.custody, state: self.stateBytes, format: StoreFormat.format)
            }
        }
    }

    /// The state, once the document's MAC verifies under `custody`.
    /// - Throws: `EnvelopeError.Code.keyStore` for a wrong passphrase (or PIN's token), a modified document
    ///   or a state that does not decode.
    func authenticate(with custody: any KEKCustody) throws -> StoreFormat.State {
        guard try custody.isValidAuthenticationCode(self.mac, for: try self.macInput) else {
            throw EnvelopeError(
                .keyStore,
                custody.record.type == "pkcs11"
                    ? "keystore.json does not authenticate under the token's MAC key: modified, or of another store"
                    : "wrong passphrase, or the key store was modified")
        }
        do {
            return try StoreFormat.decoder.decode(StoreFormat.State.self, from: Data(self.stateBytes))
        } catch {
            throw EnvelopeError(.keyStore, "the key store's state does not decode: \(error)")
        }
    }

    /// The document for `state` in format version 3, recording `custody` and authenticated by its MAC.
    /// - Throws: `EnvelopeError.Code.keyStore` for a custody record the format refuses (a token URI with a
    ///   PIN); the custody's errors.
    static func encode(_ state: StoreFormat.State, custody: any KEKCustody) throws -> [UInt8] {
        let stateBytes = Array(try StoreFormat.encoder.encode(state))
        let mac = try custody.authenticationCode(
            for: try StoreFormat.macInputV2(custody: custody.record, state: stateBytes, format: StoreFormat.format))
        let envelope = StoreFormat.EnvelopeV2(
            format: StoreFormat.format,
            custody: try StoreFormat.custody(custody.record),
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
    /// The MAC input of format version 1 for a custody record (only a passphrase custody's).
    static func macInput(custody: KEKCustodyRecord, state: [UInt8]) throws -> [UInt8] {
        guard let kdf = custody.passphraseKDF else {
            throw EnvelopeError(.keyStore, "\(StoreFormat.formatV1) records only a passphrase custody")
        }
        return self.macInput(kdf: StoreFormat.KDF(kdf), salt: kdf.salt, state: state)
    }
}
