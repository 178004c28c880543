package import SaMDCrypto
package import SaMDEnvelope
package import SaMDKeys

/// How a record's address (subject, record id, record type) becomes the blind indexes its row is found by and
/// the encryption context it is sealed under, and which key may open a patient's record: the same for every
/// record store of the package (SQLite, PostgreSQL).
package struct RecordAddressing: Sendable {
    /// The key store whose index key makes the blind indexes and whose subject keys seal the records.
    package let keyStore: any KeyStore

    package init(keyStore: any KeyStore) {
        self.keyStore = keyStore
    }

    /// Where a record's row is: the subject's blind index (32 hex digits, its subject key's name without `s-`)
    /// and the record's (32 bytes of HMAC-SHA-256 over subject and record id).
    package struct Address: Sendable {
        package let subjectIndex: String
        package let recordIndex: [UInt8]
    }

    /// The keys that may open a patient's record: that patient's own subject key (`s-` and the subject index),
    /// never another patient's key, a KEK or a recipient key. A row naming any other key was copied or forged,
    /// whatever that key's state — another patient's shredded key must not make this patient look shredded —
    /// and fails as not authentic before any key is fetched.
    package struct PatientKeyProvider: EnvelopeKeyProvider {
        let keyStore: any KeyStore
        let subjectKeyName: String

        package init(keyStore: any KeyStore, subjectKeyName: String) {
            self.keyStore = keyStore
            self.subjectKeyName = subjectKeyName
        }

        package func keyEncryptionKey(for identifier: KeyIdentifier) throws -> SecureBytes {
            guard identifier.name == self.subjectKeyName else {
                throw EnvelopeError(
                    .authenticationFailed, "the stored row is not sealed under this patient's subject key")
            }
            return try self.keyStore.keyEncryptionKey(for: identifier)
        }

        package func recipientPrivateKey(for identifier: KeyIdentifier) throws -> X25519.PrivateKey {
            throw EnvelopeError(.authenticationFailed, "the stored row is not sealed under this patient's subject key")
        }
    }

    /// The blind indexes of an address, after checking its shapes.
    /// - Throws: ``RecordStoreError`` — `invalidArgument` for an id, type or total length refused; the key store's
    ///   errors as ``RecordStoreError``.
    package func address(subject: String, recordID: String, recordType: String?) throws -> Address {
        guard EncryptedRecordStore.isValidIdentifier(recordID) else {
            throw RecordStoreError(.invalidArgument, "a record id is \(EncryptedRecordStore.identifierRule)")
        }
        if let recordType, !EncryptedRecordStore.isValidRecordType(recordType) {
            throw RecordStoreError(
                .invalidArgument,
                "a record type is a media type without parameters, type/subtype (RFC 6838 restricted names, 3 to 127 bytes)"
            )
        }
        // The shortest record type (3 bytes, `a/b`) when reading: a record stored with it must be found.
        guard
            Self.addressByteCount(subject, recordID, recordType ?? "a/b")
                <= EncryptedRecordStore.maximumAddressByteCount
        else {
            throw RecordStoreError(
                .invalidArgument,
                "a subject id, record id and record type take at most \(EncryptedRecordStore.maximumAddressByteCount) bytes together (UTF-8, after NFC)"
            )
        }
        let subjectIndex = try self.subjectIndex(subject)
        do {
            let recordIndex = try self.keyStore.blindIndex(domain: "samd-store-record", [subject, recordID])
            return Address(subjectIndex: subjectIndex, recordIndex: recordIndex)
        } catch let error as EnvelopeError {
            throw EncryptedRecordStore.keyError(error)
        }
    }

    /// Bytes of an address in the encryption context: UTF-8 after NFC, as `EncryptionContext` counts them.
    package static func addressByteCount(_ subject: String, _ recordID: String, _ recordType: String) -> Int {
        RecordAddress.byteCount(subject: subject, recordID: recordID, recordType: recordType)
    }

    /// The subject's blind index (32 hex digits).
    package func subjectIndex(_ subject: String) throws -> String {
        guard EncryptedRecordStore.isValidIdentifier(subject) else {
            throw RecordStoreError(.invalidArgument, "a subject id is \(EncryptedRecordStore.identifierRule)")
        }
        do {
            return try self.keyStore.subjectIndex(of: subject)
        } catch let error as EnvelopeError {
            throw EncryptedRecordStore.keyError(error)
        }
    }

    /// The encryption context a record is sealed under: `subject`, `record`, `type`.
    package static func context(subject: String, recordID: String, recordType: String) throws -> EncryptionContext {
        do {
            return try RecordAddress.encryptionContext(subject: subject, recordID: recordID, recordType: recordType)
        } catch let error as EnvelopeError {
            throw RecordStoreError(
                .invalidArgument, "the record's address does not make an encryption context: \(error.reason)",
                underlying: error)
        }
    }
}
