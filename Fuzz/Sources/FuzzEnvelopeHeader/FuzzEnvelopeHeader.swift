// libFuzzer target: the envelope header parser, inspect, and the whole open path (header, DEK unwrap,
// commitment, chunks) under a fixed key. Properties: never a trap; every refusal an EnvelopeError;
// a parsed header re-encodes to exactly the bytes it was parsed from.

import SaMDCrypto
import SaMDEnvelope

let key = try! KeyIdentifier(name: "records", version: 1)
let keys = StaticKeyProvider(keys: [key: try! SecureBytes(copying: [UInt8](repeating: 0x42, count: 32))])

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEnvelopeHeader(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    do {
        let header = try EnvelopeHeader.parse(bytes)
        precondition(header.encoded == Array(bytes.prefix(header.byteCount)), "a parsed header does not re-encode to its bytes")
        _ = try? Envelope.inspect(bytes, totalByteCount: bytes.count)
        _ = try Envelope.open(bytes, context: .empty, keys: keys)
    } catch is EnvelopeError {
    } catch {
        fatalError("a non-EnvelopeError escaped: \(error)")
    }
    return 0
}
