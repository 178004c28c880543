// libFuzzer target: the key-store document reader (JSON, base64 bounds, KDF-parameter bounds, MAC
// check, state decoding) and the subject-file reader. Property: never a trap; every refusal an
// EnvelopeError — in particular hostile KDF costs are refused before any memory is committed.

@_spi(Fuzzing) import SaMDKeys

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzKeyStore(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    KeyStoreFuzzing.readStoreDocument(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
