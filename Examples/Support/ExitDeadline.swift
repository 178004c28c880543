import Dispatch

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Ends the process with `status` once `delay` has passed, unless it has ended before: what a stopping server
/// arms so that a connection that does not close cannot keep it running.
/// - Parameters:
///   - delay: the time left to stop in an orderly way (to the nanosecond; a negative one is zero).
///   - status: the exit status (default 0: a server stopped by a signal has done what it was asked).
public func exitAfter(_ delay: Duration, status: Int32 = ExitStatus.ok) {
    let nanoseconds = min(max(0, delay / .nanoseconds(1)), Double(Int32.max) * 1e9)
    DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(nanoseconds))) { exit(status) }
}
