import SaMDCrypto
import SaMDEnvelope

/// Runs a primitive, turning its failure into an `EnvelopeError` (`EnvelopeError.Code.crypto`): the one
/// place the key store, its custody and its formats map `CryptoError`.
func cryptoCall<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as CryptoError {
        throw EnvelopeError(.crypto, error.reason, underlying: error)
    }
}
