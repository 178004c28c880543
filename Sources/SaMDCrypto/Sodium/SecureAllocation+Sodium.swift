import CSaMDSodium

/// One region of libsodium guarded memory (`sodium_malloc`): placed just before a
/// guard page, preceded by a canary, locked into RAM with `mlock` where the system
/// allows it (excluded from swap and core dumps), and zeroed and unmapped on release.
///
/// `@unchecked Sendable`: the bytes are written only inside the initialiser, before the
/// allocation can be shared, and are read-only afterwards.
final class SecureAllocation: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    let count: Int

    /// Test hook: called by `deinit` after the bytes are zeroed and before they are unmapped,
    /// with a view of the released bytes. Task-local, so parallel tests do not see each other.
    @TaskLocal static var releaseInspector: (@Sendable (UnsafeRawBufferPointer) -> Void)? = nil

    /// Allocates `count` bytes (uninitialised).
    /// - Throws: ``CryptoError/Code/allocationFailed`` when the guarded region cannot be mapped;
    ///   ``CryptoError/Code/unsupportedLibraryVersion`` when the run-time library gate fails.
    init(count: Int) throws {
        try LibraryGate.check()
        precondition(count >= 0, "negative allocation size")
        // sodium_malloc(0) still maps guard pages and returns a valid pointer.
        guard let pointer = sodium_malloc(count) else {
            throw CryptoError(.allocationFailed, "sodium_malloc could not map \(count) bytes of guarded memory")
        }
        self.pointer = pointer
        self.count = count
    }

    deinit {
        sodium_memzero(self.pointer, self.count)
        if let inspector = Self.releaseInspector {
            inspector(UnsafeRawBufferPointer(start: self.pointer, count: self.count))
        }
        sodium_free(self.pointer)
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
