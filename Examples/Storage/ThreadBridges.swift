// Between the stores' synchronous API (the key store, the key jobs: they block on the database) and async code.

import Foundation

/// Runs `body` in a task and waits for it on this thread: for the synchronous commands (samd-vault), on their
/// main thread.
public func waitFor<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let box = WaitBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        do {
            box.result = .success(try await body())
        } catch {
            box.result = .failure(error)
        }
        done.signal()
    }
    done.wait()
    return try box.result!.get()
}

/// `@unchecked Sendable`: written once by the task before `done` is signalled, read only after.
private final class WaitBox<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}

/// Runs `body` — synchronous work that blocks, such as `KeyRotationJob.run` or a key store's `destroy` over a
/// database — on a thread of its own and returns what it returned once it did: never on Swift's cooperative
/// pool, whose few threads (one per core) the database pool's own tasks need.
public func onThreadOfItsOwn<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
