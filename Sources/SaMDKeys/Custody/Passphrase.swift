public import SaMDEnvelope

/// Where a key store's passphrase comes from: SaMDEnvelope's `Passphrase`, which a device reads its key's
/// passphrase with without linking the key store. Kept here so that code importing only SaMDKeys still finds it.
public typealias Passphrase = SaMDEnvelope.Passphrase
