// The example commands' bridges between synchronous and async code hand their work to another thread or task.
// Once, `samd-gateway rotate` over a token store crashed as it exited (signal 11 in SoftHSM2): the job's thread
// resumed the command first and released the store it had captured afterwards, so the token's session pool was
// closed on that thread while the command's thread ran the process's exit and SoftHSM2's teardown. The work is now
// released before the caller goes on; these tests would have seen it still alive.

import Foundation
import SaMDExampleStorage
import Synchronization
import Testing

@Suite("Thread bridges release their work before the caller goes on")
struct ThreadBridgeTests {
    /// Something whose release is observable: its deinit sets `flag`.
    final class Tracked: Sendable {
        final class Flag: Sendable {
            let value = Mutex(false)
        }

        private let flag: Flag

        init(_ flag: Flag) {
            self.flag = flag
        }

        func use() -> Int { 42 }

        deinit { self.flag.value.withLock { $0 = true } }
    }

    @Test func onThreadOfItsOwnReleasesWhatItsWorkCapturedBeforeResuming() async throws {
        let flag = Tracked.Flag()
        let answer = try await {
            let tracked = Tracked(flag)
            return try await onThreadOfItsOwn { tracked.use() }
        }()
        #expect(answer == 42)
        #expect(flag.value.withLock { $0 }, "the work's captures must be gone when the caller resumes")
    }

    @Test func waitForReleasesWhatItsWorkCapturedBeforeReturning() throws {
        let flag = Tracked.Flag()
        let answer = try {
            let tracked = Tracked(flag)
            return try waitFor { tracked.use() }
        }()
        #expect(answer == 42)
        #expect(flag.value.withLock { $0 }, "the work's captures must be gone when the caller returns")
    }
}
