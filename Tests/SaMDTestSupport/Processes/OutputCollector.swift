public import Foundation
import Synchronization

/// Bytes gathered from a pipe by a background thread, and whoever waits for them told at each chunk.
public final class OutputCollector: Sendable {
    private struct State {
        var data = Data()
        var closed = false
    }

    private let state = Mutex(State())
    private let changes: ChangeNotifier

    init(_ handle: FileHandle, changes: ChangeNotifier) {
        self.changes = changes
        Thread { [self] in
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                self.state.withLock { $0.data.append(chunk) }
                self.changes.notify()
            }
            self.state.withLock { $0.closed = true }
            self.changes.notify()
        }.start()
    }

    /// Everything read so far.
    public var data: Data { self.state.withLock { $0.data } }
    /// Everything read so far, as UTF-8 (invalid sequences replaced).
    public var text: String { String(decoding: self.data, as: UTF8.self) }
    /// Whether the pipe reached its end (every writer closed it).
    public var isClosed: Bool { self.state.withLock { $0.closed } }
}

/// Tells every waiter that something changed (a chunk of output, the end of a pipe, the process's exit):
/// waiters get an `AsyncStream` that yields on each change, so a wait is a loop over events, never a poll.
final class ChangeNotifier: Sendable {
    private let waiters = Mutex<[UUID: AsyncStream<Void>.Continuation]>([:])

    /// A stream that yields after each later change; it ends when the waiting task is cancelled.
    func subscribe() -> (AsyncStream<Void>, UUID) {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let token = UUID()
        self.waiters.withLock { $0[token] = continuation }
        return (stream, token)
    }

    func unsubscribe(_ token: UUID) {
        self.waiters.withLock { $0.removeValue(forKey: token) }?.finish()
    }

    func notify() {
        for continuation in self.waiters.withLock({ Array($0.values) }) { continuation.yield() }
    }

    /// Waits at most `timeout` until `condition` holds, testing it again after each change; returns whether
    /// it held.
    func wait(timeout: Duration, until condition: @escaping @Sendable () -> Bool) async -> Bool {
        let (events, token) = self.subscribe()
        defer { self.unsubscribe(token) }
        if condition() { return true }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await _ in events where condition() { return true }
                return false
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first || condition()
        }
    }
}
