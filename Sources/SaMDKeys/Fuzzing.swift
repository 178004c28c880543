import Foundation
import SaMDCrypto
import SaMDEnvelope

/// Entry points for the fuzz targets in `Fuzz/` (libFuzzer). Not API: reached only through
/// `@_spi(Fuzzing) import SaMDKeys`.
@_spi(Fuzzing)
public enum KeyStoreFuzzing {
    /// A fixed MAC key, so that inputs get past the bounds checks into MAC verification and, when a
    /// corpus entry was made with it, into state decoding — without an Argon2id run per input.
    static let macKey = try! SecureBytes(copying: [UInt8](repeating: 0x5A, count: 32))

    /// Feeds `bytes` to the key-store document reader, then to the subject-file reader. Must never trap;
    /// every rejection must be an `EnvelopeError`.
    public static func readStoreDocument(_ bytes: [UInt8]) {
        do {
            let document = try StoreDocument.parse(bytes, location: "fuzz")
            _ = try document.authenticate(with: Self.custody(document.custody))
        } catch is EnvelopeError {
        } catch {
            fatalError("the key-store reader threw a non-EnvelopeError: \(error)")
        }
        do {
            let subject = try StoreFormat.decoder.decode(StoreFormat.Subject.self, from: Data(bytes))
            for version in subject.versions {
                if let wrapped = version.wrapped {
                    _ = try? StoreFormat.decodeBase64(wrapped, limit: 60, "wrapped subject key")
                }
            }
        } catch {}
    }

    /// A passphrase custody whose wrap and MAC keys are the fuzzing MAC key.
    static func custody(_ record: KEKCustodyRecord) -> PassphraseCustody {
        PassphraseCustody(record: record, wrapKey: Self.macKey, macKey: Self.macKey)
    }

    /// A key-store document whose MAC verifies under the fuzzing MAC key: a seed for the corpus.
    public static func seedDocument() throws -> [UInt8] {
        let custody = Self.custody(
            .passphrase(
                KEKCustodyRecord.PassphraseKDF(
                    algorithm: "argon2id", iterations: 1, memoryByteCount: 8192,
                    salt: [UInt8](repeating: 1, count: 16))))
        let indexKey = try SecureBytes(copying: [UInt8](repeating: 2, count: 32))
        let state = StoreFormat.State(
            generation: 1, keys: [], indexKey: Data(try custody.wrapStoreSecret(indexKey)).base64EncodedString(),
            minimumVersions: ["records": 1])
        return try StoreDocument.encode(state, custody: custody)
    }
}
