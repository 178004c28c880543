// Between the stores' synchronous API (the key store, the key jobs: they block on the database) and async code.

import Foundation
import SaMDPostgres

/// Runs `body` in a task and waits for it on this thread: for the synchronous commands (samd-vault), on their
/// main thread. The task runs on SaMDPostgres's blocking-bridge executor, never the cooperative pool, and releases
/// `body` before this thread wakes.
public func waitFor<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    try Blocking.wait(body)
}

/// Runs `body` — synchronous work that blocks, such as `KeyRotationJob.run` or a key store's `destroy` over a
/// database — on a thread of its own and returns what it returned once it did: never on Swift's cooperative
/// pool, whose few threads (one per core) the database pool's own tasks need.
public func onThreadOfItsOwn<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    let work = HandOver(body)
    return try await withCheckedThrowingContinuation { continuation in
        // The work (and the store it captured) is released on that thread before the caller resumes.
        Thread { continuation.resume(with: Result { try work.take()() }) }.start()
    }
}
