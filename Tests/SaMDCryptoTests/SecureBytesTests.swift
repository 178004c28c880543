import Synchronization
import Testing

@testable import SaMDCrypto

@Suite("SecureBytes")
struct SecureBytesTests {
    /// Records the bytes the release hook saw.
    final class ReleaseLog: Sendable {
        let seen = Mutex<[[UInt8]]>([])
    }

    @Test func bytesAreZeroedWhenTheStorageIsReleased() throws {
        let log = ReleaseLog()
        let pattern = [UInt8](repeating: 0xA5, count: 48)
        try SecureAllocation.$releaseInspector.withValue({ released in
            log.seen.withLock { $0.append(Array(released)) }
        }) {
            var secret: SecureBytes? = try SecureBytes(copying: pattern)
            // The bytes are there while the value lives...
            #expect(secret!.withUnsafeBytes { Array($0) } == pattern)
            var copy: SecureBytes? = secret
            secret = nil
            // ...and a copy keeps them alive: nothing is released yet.
            #expect(log.seen.withLock { $0.isEmpty })
            #expect(copy!.count == 48)
            copy = nil
        }
        let seen = log.seen.withLock { $0 }
        #expect(seen.count == 1)
        #expect(seen.first?.count == 48)
        #expect(seen.first?.allSatisfy { $0 == 0 } == true)
    }

    @Test func aFailingInitialiserZeroesWhatItWrote() throws {
        struct Stop: Error {}
        let log = ReleaseLog()
        SecureAllocation.$releaseInspector.withValue({ released in
            log.seen.withLock { $0.append(Array(released)) }
        }) {
            #expect(throws: Stop.self) {
                try SecureBytes(unsafeUninitializedCount: 16) { buffer in
                    buffer.initializeMemory(as: UInt8.self, repeating: 0x5A)
                    throw Stop()
                }
            }
        }
        #expect(log.seen.withLock { $0 } == [[UInt8](repeating: 0, count: 16)])
    }

    @Test func equalityComparesContentsAndLength() throws {
        let a = try SecureBytes(copying: [1, 2, 3, 4] as [UInt8])
        let b = try SecureBytes(copying: [1, 2, 3, 4] as [UInt8])
        let c = try SecureBytes(copying: [1, 2, 3, 5] as [UInt8])
        let d = try SecureBytes(copying: [1, 2, 3] as [UInt8])
        #expect(a == b)
        #expect(a != c)
        #expect(a != d)
        #expect(a.constantTimeEquals([1, 2, 3, 4] as [UInt8]))
        #expect(!a.constantTimeEquals([1, 2, 3, 4, 5] as [UInt8]))
        #expect(try SecureBytes(copying: [UInt8]()) == SecureBytes(copying: [UInt8]()))
    }

    @Test func descriptionNeverShowsTheBytes() throws {
        let secret = try SecureBytes(copying: [UInt8](repeating: 0x41, count: 32))
        for text in [secret.description, secret.debugDescription, String(describing: secret), "\(secret)"] {
            #expect(text == "SecureBytes(32 bytes, redacted)")
        }
    }

    @Test func randomBytesDiffer() throws {
        let a = try SecureBytes(randomByteCount: 32)
        let b = try SecureBytes(randomByteCount: 32)
        #expect(a.count == 32)
        #expect(a != b)
        #expect(throws: CryptoError(.invalidInput, "")) { try SecureBytes(randomByteCount: -1) }
    }
}

@Suite("SecureRandom")
struct SecureRandomTests {
    @Test func fillsWholeBuffersOfManySizes() throws {
        for count in [0, 1, 12, 24, 4096] {
            let bytes = try SecureRandom.bytes(count: count)
            #expect(bytes.count == count)
        }
        // 64 random bytes all zero has probability 2^-512.
        #expect(try SecureRandom.bytes(count: 64).contains { $0 != 0 })
        #expect(try SecureRandom.bytes(count: 32) != SecureRandom.bytes(count: 32))
        for algorithm in AEADAlgorithm.allCases {
            #expect(try algorithm.randomNonce().count == algorithm.nonceByteCount)
        }
    }
}

/// Small guarded regions are pooled (`SecureAllocation.pooledByteCount`): what matters is that a region
/// handed out again never shows its previous owner's bytes, and that the bytes still end at the guard page.
@Suite("SecureBytes pooling")
struct SecureBytesPoolingTests {
    @Test func aReusedRegionNeverShowsThePreviousKey() throws {
        let pattern = [UInt8](repeating: 0xA5, count: 32)
        for _ in 0..<50 {
            // Released at once: its region goes back to the pool (zeroed first)...
            _ = try SecureBytes(copying: pattern)
            // ...and the next allocations of any small size may get it: none may see the pattern.
            for count in [0, 1, 16, 32, 76, SecureAllocation.pooledByteCount] {
                let leaked = try SecureBytes(unsafeUninitializedCount: count) { fresh in
                    let seen = fresh.filter { $0 == 0xA5 }.count
                    fresh.initializeMemory(as: UInt8.self, repeating: 0)
                    if seen > 0 { throw LeakedBytes(count: seen) }
                }
                #expect(leaked.count == count)
            }
        }
    }

    struct LeakedBytes: Error {
        let count: Int
    }

    @Test func pooledBytesEndAtTheRegionsEndAndLargerOnesAreNotPooled() throws {
        for count in [0, 1, 31, 32, 64, 127, SecureAllocation.pooledByteCount] {
            let allocation = try SecureAllocation(count: count)
            let region = try #require(allocation.pooledRegion)
            // The last byte is the region's last byte, right before libsodium's guard page: an overrun faults.
            #expect(allocation.pointer + count == region + SecureAllocation.pooledByteCount)
        }
        let large = try SecureAllocation(count: SecureAllocation.pooledByteCount + 1)
        #expect(large.pooledRegion == nil)
    }

    @Test func releasedBytesAreZeroedBeforeTheRegionIsPooled() throws {
        let log = SecureBytesTests.ReleaseLog()
        try SecureAllocation.$releaseInspector.withValue({ released in
            log.seen.withLock { $0.append(Array(released)) }
        }) {
            _ = try SecureBytes(copying: [UInt8](repeating: 0x3C, count: 24))
        }
        #expect(log.seen.withLock { $0 } == [[UInt8](repeating: 0, count: 24)])
    }
}
