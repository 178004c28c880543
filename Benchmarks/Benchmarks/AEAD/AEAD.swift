// AES-256-GCM seal of one message: SaMDCrypto's AEADContext against raw OpenSSL EVP, same
// key, nonce and sizes, in the same run. Compare the two rows of each size for the overhead.

import Benchmark
import CReferenceOpenSSL
import SaMDCrypto

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 1_000_000
    )

    for size in [1024, 16 * 1024] {
        Benchmark("AES-256-GCM seal \(size) B — SaMDCrypto AEADContext") { benchmark in
            let key = try SecureBytes(randomByteCount: 32)
            let context = try AEADContext(algorithm: .aes256GCM, key: key)
            let plaintext = [UInt8](repeating: 0x42, count: size)
            let nonce = [UInt8](repeating: 7, count: 12)
            var output = [UInt8](repeating: 0, count: size + 16)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                try plaintext.withUnsafeBytes { plaintext in
                    try nonce.withUnsafeBytes { nonce in
                        try output.withUnsafeMutableBytes { output in
                            _ = try context.seal(plaintext, nonce: nonce, associatedData: UnsafeRawBufferPointer(start: nil, count: 0), into: output)
                        }
                    }
                }
            }
            // Stop before the context and the guarded key memory are released at the end of the closure.
            benchmark.stopMeasurement()
            blackHole(output)
        }

        Benchmark("AES-256-GCM seal \(size) B — reference: raw OpenSSL EVP") { benchmark in
            let key = try SecureRandom.bytes(count: 32)
            let plaintext = [UInt8](repeating: 0x42, count: size)
            let nonce = [UInt8](repeating: 7, count: 12)
            var output = [UInt8](repeating: 0, count: size + 16)
            let context = EVP_CIPHER_CTX_new()
            defer { EVP_CIPHER_CTX_free(context) }
            guard EVP_EncryptInit_ex2(context, EVP_aes_256_gcm(), key, nil, nil) == 1 else { fatalError("EVP_EncryptInit_ex2") }
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                var length: Int32 = 0
                output.withUnsafeMutableBufferPointer { output in
                    guard
                        EVP_EncryptInit_ex2(context, nil, nil, nonce, nil) == 1,
                        EVP_EncryptUpdate(context, output.baseAddress, &length, plaintext, Int32(size)) == 1,
                        EVP_EncryptFinal_ex(context, output.baseAddress! + size, &length) == 1,
                        EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_GET_TAG, 16, output.baseAddress! + size) == 1
                    else { fatalError("EVP seal") }
                }
            }
            benchmark.stopMeasurement()
            blackHole(output)
        }
    }
}
