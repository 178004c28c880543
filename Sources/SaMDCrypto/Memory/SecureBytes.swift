/// Secret bytes — keys, seeds, derived secrets — held in guarded memory.
///
/// The bytes live in a libsodium guarded allocation (`sodium_malloc`): a guard page
/// after them, a canary before them, locked into RAM where the system's `RLIMIT_MEMLOCK`
/// allows it, and zeroed when the last copy of the value is released. They are
/// reachable only inside ``withUnsafeBytes(_:)``; `description` never shows them;
/// `==` takes time independent of the bytes' contents (only the lengths may differ fast).
///
/// A value is immutable once created; copies share one allocation.
public struct SecureBytes: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    let storage: SecureAllocation

    /// The largest value, in bytes (16 MiB): guarded memory is for keys and other secrets, not bulk data.
    public static let maximumByteCount = 1 << 24

    /// `count` random bytes from the CSPRNG (``SecureRandom``).
    /// - Throws: ``CryptoError/Code/allocationFailed``, ``CryptoError/Code/randomGenerationFailed``,
    ///   ``CryptoError/Code/inputTooLarge`` above ``maximumByteCount``.
    public init(randomByteCount count: Int) throws {
        try self.init(unsafeUninitializedCount: count) { buffer in
            try SecureRandom.fill(buffer)
        }
    }

    /// A copy of `bytes` in guarded memory. The caller remains responsible for the source.
    /// - Throws: ``CryptoError/Code/allocationFailed``, ``CryptoError/Code/inputTooLarge`` above ``maximumByteCount``.
    public init(copying bytes: some Collection<UInt8>) throws {
        try self.init(unsafeUninitializedCount: bytes.count) { buffer in
            buffer.copyBytes(from: bytes)
        }
    }

    /// `count` bytes written by `initializer`, which must fill the whole buffer.
    /// If `initializer` throws, the buffer is zeroed and released and the error is rethrown.
    /// - Throws: ``CryptoError/Code/invalidInput`` for a negative count; ``CryptoError/Code/inputTooLarge``
    ///   above ``maximumByteCount``; ``CryptoError/Code/allocationFailed``; whatever `initializer` throws.
    public init(
        unsafeUninitializedCount count: Int,
        initializingWith initializer: (UnsafeMutableRawBufferPointer) throws -> Void
    ) throws {
        guard count >= 0 else {
            throw CryptoError(.invalidInput, "negative byte count")
        }
        guard count <= Self.maximumByteCount else {
            throw CryptoError(
                .inputTooLarge, "\(count) bytes exceed the \(Self.maximumByteCount)-byte limit of guarded memory")
        }
        let storage = try SecureAllocation(count: count)
        do {
            try initializer(storage.mutableBytes)
        } catch {
            storage.zero()
            throw error
        }
        self.storage = storage
    }

    /// The number of bytes.
    public var count: Int {
        self.storage.count
    }

    /// Calls `body` with the bytes. The pointer must not escape `body`.
    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try body(self.storage.bytes)
    }

    /// Constant-time equality of the contents (lengths are compared first and are not secret).
    public static func == (lhs: SecureBytes, rhs: SecureBytes) -> Bool {
        SecureAllocation.constantTimeEqual(lhs.storage.bytes, rhs.storage.bytes)
    }

    /// Constant-time comparison with bytes held elsewhere.
    public func constantTimeEquals(_ other: some Collection<UInt8>) -> Bool {
        // Lengths are not secret: compare them before copying anything.
        guard other.count == self.count else { return false }
        return withContiguousBytes(of: other) { SecureAllocation.constantTimeEqual(self.storage.bytes, $0) }
    }

    public var description: String {
        "SecureBytes(\(self.count) bytes, redacted)"
    }

    public var debugDescription: String {
        self.description
    }
}

/// Zeroing of ordinary memory that held secrets or plaintext.
public enum SecureMemory {
    /// Overwrites `buffer` with zeros in a way the compiler cannot remove as a dead store (`sodium_memzero`).
    public static func zero(_ buffer: UnsafeMutableRawBufferPointer) {
        secureZero(buffer)
    }

    /// Overwrites the bytes of `array` with zeros (its count is unchanged).
    public static func zero(_ array: inout [UInt8]) {
        array.withUnsafeMutableBytes { secureZero($0) }
    }
}
