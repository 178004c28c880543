/// Calls `body` with the bytes of `collection` as one contiguous buffer, copying only
/// when the collection has no contiguous storage of its own.
@inline(__always)
package func withContiguousBytes<Bytes: Collection<UInt8>, Result>(
    of collection: Bytes,
    _ body: (UnsafeRawBufferPointer) throws -> Result
) rethrows -> Result {
    if let result = try collection.withContiguousStorageIfAvailable({ try body(UnsafeRawBufferPointer($0)) }) {
        return result
    }
    return try Array(collection).withUnsafeBytes(body)
}

/// Whether two buffers overlap without being the same buffer (exact aliasing is allowed
/// for in-place operations; partial overlap never is).
func partiallyOverlaps(_ a: UnsafeRawBufferPointer, _ b: UnsafeMutableRawBufferPointer) -> Bool {
    guard let aStart = a.baseAddress, let bStart = b.baseAddress, a.count > 0, b.count > 0 else {
        return false
    }
    if UnsafeRawPointer(bStart) == aStart { return false }
    let aEnd = aStart + a.count
    let bEnd = UnsafeRawPointer(bStart) + b.count
    return aStart < bEnd && UnsafeRawPointer(bStart) < aEnd
}

/// Whether two buffers share at least one byte.
func overlaps(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard let aStart = a.baseAddress, let bStart = b.baseAddress, a.count > 0, b.count > 0 else {
        return false
    }
    return aStart < bStart + b.count && bStart < aStart + a.count
}
