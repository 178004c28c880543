import Hummingbird
import NIOCore
import SaMDRecordService
import Synchronization

/// Why a request body was refused as it arrived.
enum GatewayBodyRefusal: Error {
    /// More than ``RecordGatewayConfiguration/maximumBodyByteCount`` bytes arrived.
    case tooLarge
    /// The bytes this request holds no longer fit the gateway-wide budget
    /// (``RecordGatewayConfiguration/maximumBufferedBodyByteCount``).
    case overBudget
}

/// A `PUT`'s body as it arrives, checked and accounted piece by piece: counted (`bytesIn`), refused past the
/// body limit (``limit``) (``GatewayBodyRefusal/tooLarge``), and its bytes in memory reserved from the gateway-wide budget
/// as they arrive, up to `heldByteCount` (the whole body when it is buffered; what the store's streaming put
/// holds when it streams) — ``GatewayBodyRefusal/overBudget`` when they do not fit. ``release()`` gives the
/// reservation back. Read by one task at a time.
final class GatewayRequestBody: AsyncSequence, Sendable {
    typealias Element = ByteBufferView

    private let body: RequestBody
    private let core: GatewayCore
    private let heldByteCount: Int
    /// The most bytes the body may have: ``RecordGatewayConfiguration/maximumBodyByteCount``, or for a sealed
    /// upload the envelope of a record that size.
    let limit: Int
    private let state = Mutex((received: 0, reserved: 0))

    init(_ body: RequestBody, core: GatewayCore, heldByteCount: Int, limit: Int? = nil) {
        self.body = body
        self.core = core
        self.heldByteCount = heldByteCount
        self.limit = limit ?? core.configuration.maximumBodyByteCount
    }

    /// Bytes received so far.
    var received: Int { self.state.withLock { $0.received } }

    /// Gives this body's reservation back to the budget.
    func release() {
        let reserved = self.state.withLock { state in
            defer { state.reserved = 0 }
            return state.reserved
        }
        self.core.releaseBodyBytes(reserved)
    }

    /// Counts, checks and reserves for one piece that arrived.
    func admit(_ count: Int) throws(GatewayBodyRefusal) {
        self.core.counters.withLock { $0.bytesIn += count }
        let limit = self.limit
        let toReserve = try self.state.withLock { state throws(GatewayBodyRefusal) -> Int in
            state.received += count
            guard state.received <= limit else { throw .tooLarge }
            return Swift.max(0, Swift.min(state.received, self.heldByteCount) - state.reserved)
        }
        guard toReserve > 0 else { return }
        guard self.core.reserveBodyBytes(toReserve) else { throw .overBudget }
        self.state.withLock { $0.reserved += toReserve }
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: RequestBody.AsyncIterator
        let body: GatewayRequestBody

        mutating func next() async throws -> ByteBufferView? {
            guard let piece = try await self.base.next() else { return nil }
            try self.body.admit(piece.readableBytes)
            return piece.readableBytesView
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: self.body.makeAsyncIterator(), body: self)
    }
}
