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
            let (envelope, salt) = try FileKeyStore.parseEnvelope(bytes, path: "fuzz")
            _ = try FileKeyStore.verify(envelope, salt: salt, macKey: Self.macKey)
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

    /// A key-store document whose MAC verifies under the fuzzing MAC key: a seed for the corpus.
    public static func seedDocument() throws -> [UInt8] {
        let kdf = StoreFormat.KDF(
            algorithm: "argon2id", iterations: 1, memory: 8192,
            salt: Data(repeating: 1, count: 16).base64EncodedString())
        let indexKey = try SecureBytes(copying: [UInt8](repeating: 2, count: 32))
        let state = StoreFormat.State(
            generation: 1, keys: [], indexKey: try FileKeyStore.wrap(indexKey, under: Self.macKey),
            minimumVersions: ["records": 1])
        let stateBytes = Array(try StoreFormat.encoder.encode(state))
        let mac = try DigestAlgorithm.sha256.authenticationCode(
            for: StoreFormat.macInput(kdf: kdf, salt: [UInt8](repeating: 1, count: 16), state: stateBytes),
            key: Self.macKey)
        let envelope = StoreFormat.Envelope(
            format: StoreFormat.format, kdf: kdf, state: Data(stateBytes).base64EncodedString(),
            mac: Data(mac).base64EncodedString())
        return Array(try StoreFormat.encoder.encode(envelope))
    }
}
