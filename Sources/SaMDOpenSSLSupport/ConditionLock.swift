// A mutex with a condition variable (POSIX threads), waited on until a monotonic deadline: what NSCondition
// gave, without linking Foundation (a device agent links this module).

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A `pthread_mutex_t` and a `pthread_cond_t` on the monotonic clock, so that a wait's deadline does not move
/// with the wall clock.
///
/// `@unchecked Sendable`: POSIX mutexes and condition variables are made to be shared between threads; both
/// live in memory allocated once, which never moves, and are destroyed in `deinit`.
final class ConditionLock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(self.mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        #if os(Linux)
            pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        #endif
        pthread_cond_init(self.condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(self.condition)
        pthread_mutex_destroy(self.mutex)
        self.condition.deallocate()
        self.mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(self.mutex) }

    func unlock() { pthread_mutex_unlock(self.mutex) }

    /// Wakes one waiter.
    func signal() { pthread_cond_signal(self.condition) }

    /// Waits (the lock held, released while waiting and held again on return) until signalled or until `timeout`
    /// from now has passed. Like any condition wait it may wake early: the caller checks its predicate again.
    /// - Returns: `false` when the time has run out.
    func wait(for timeout: Duration) -> Bool {
        guard timeout > .zero else { return false }
        let (seconds, attoseconds) = timeout.components
        let nanoseconds = Int(attoseconds / 1_000_000_000)
        #if os(Linux)
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let total = now.tv_nsec + nanoseconds
            var deadline = timespec(
                tv_sec: now.tv_sec + Int(seconds) + total / 1_000_000_000, tv_nsec: total % 1_000_000_000)
            return pthread_cond_timedwait(self.condition, self.mutex, &deadline) != ETIMEDOUT
        #else
            var relative = timespec(tv_sec: Int(seconds), tv_nsec: nanoseconds)
            return pthread_cond_timedwait_relative_np(self.condition, self.mutex, &relative) != ETIMEDOUT
        #endif
    }
}
