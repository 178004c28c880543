import CSaMDSodium
import Synchronization

/// One region of libsodium guarded memory (`sodium_malloc`): placed just before a
/// guard page, preceded by a canary, locked into RAM with `mlock` where the system
/// allows it (excluded from swap and core dumps), and zeroed on release.
///
/// Keys are small and short-lived (a DEK per record, its derived keys, unwrapped KEKs), and mapping,
/// protecting, locking and unmapping a guarded region costs several system calls: about 30 µs, more than
/// sealing a 1 KiB record. So regions of up to ``pooledByteCount`` bytes are kept on a free list once
/// released (zeroed first) and handed out again, each keeping its own guard pages; the list holds at most
/// ``pooledRegionLimit`` regions, and larger regions are unmapped as before.
///
/// `@unchecked Sendable`: the bytes are written only inside the initialiser, before the
/// allocation can be shared, and are read-only afterwards.
final class SecureAllocation: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    let count: Int
    /// The start of a pooled region (``pooledByteCount`` bytes, ending at its guard page), or `nil` for a
    /// region of its own.
    let pooledRegion: UnsafeMutableRawPointer?

    /// Regions of up to this many bytes are reused: keys, HKDF outputs (a payload derives 76 or 88 bytes).
    static let pooledByteCount = 128
    /// At most this many released regions are kept (each holds one locked page).
    static let pooledRegionLimit = 256
    /// Released regions, as addresses (a raw pointer is not `Sendable`; these are owned by the list).
    private static let freeRegions = Mutex<[UInt]>([])

    /// Test hook: called by `deinit` after the bytes are zeroed and before they are unmapped or pooled,
    /// with a view of the released bytes. Task-local, so parallel tests do not see each other.
    @TaskLocal static var releaseInspector: (@Sendable (UnsafeRawBufferPointer) -> Void)? = nil

    /// Allocates `count` bytes (uninitialised).
    /// - Throws: ``CryptoError/Code/allocationFailed`` when the guarded region cannot be mapped;
    ///   ``CryptoError/Code/unsupportedLibraryVersion`` when the run-time library gate fails.
    init(count: Int) throws {
        try LibraryGate.check()
        precondition(count >= 0, "negative allocation size")
        // sodium_malloc(0) still maps guard pages and returns a valid pointer; a 0-byte key is pooled too.
        if count <= Self.pooledByteCount {
            let reused = Self.freeRegions.withLock { $0.popLast() }.flatMap { UnsafeMutableRawPointer(bitPattern: $0) }
            guard let region = reused ?? sodium_malloc(Self.pooledByteCount) else {
                throw CryptoError(
                    .allocationFailed, "sodium_malloc could not map \(Self.pooledByteCount) bytes of guarded memory")
            }
            // The bytes end where the region ends, at the guard page, so an overrun still faults.
            self.pooledRegion = region
            self.pointer = region + (Self.pooledByteCount - count)
        } else {
            guard let pointer = sodium_malloc(count) else {
                throw CryptoError(.allocationFailed, "sodium_malloc could not map \(count) bytes of guarded memory")
            }
            self.pooledRegion = nil
            self.pointer = pointer
        }
        self.count = count
    }

    deinit {
        sodium_memzero(self.pointer, self.count)
        if let inspector = Self.releaseInspector {
            inspector(UnsafeRawBufferPointer(start: self.pointer, count: self.count))
        }
        guard let region = self.pooledRegion else {
            sodium_free(self.pointer)
            return
        }
        let address = UInt(bitPattern: region)
        let pooled = Self.freeRegions.withLock { free in
            guard free.count < Self.pooledRegionLimit else { return false }
            free.append(address)
            return true
        }
        if !pooled { sodium_free(region) }
    }

    var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: self.pointer, count: self.count)
    }

    var mutableBytes: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: self.pointer, count: self.count)
    }

    /// Zeroes the region (used when an initialiser fails half-way).
    func zero() {
        sodium_memzero(self.pointer, self.count)
    }

    /// Constant-time comparison of two regions of equal length.
    static func constantTimeEqual(_ lhs: UnsafeRawBufferPointer, _ rhs: UnsafeRawBufferPointer) -> Bool {
        guard lhs.count == rhs.count else { return false }
        guard lhs.count > 0 else { return true }
        return sodium_memcmp(lhs.baseAddress!, rhs.baseAddress!, lhs.count) == 0
    }
}

/// Zeroes memory in a way the compiler cannot elide.
func secureZero(_ buffer: UnsafeMutableRawBufferPointer) {
    guard let base = buffer.baseAddress, buffer.count > 0 else { return }
    sodium_memzero(base, buffer.count)
}
