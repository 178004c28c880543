import Dispatch

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Delivers POSIX signals as an async stream, through Dispatch signal sources (the default action of each
/// signal is replaced by `SIG_IGN` so that only the source sees it).
/// `@unchecked`: the sources are only touched in `init` and `deinit`.
public final class SignalWatcher: @unchecked Sendable {
    public let signals: AsyncStream<Int32>
    private let sources: [any DispatchSourceSignal]

    public init(_ numbers: [Int32]) {
        let queue = DispatchQueue(label: "samdkit.example.signals")
        let (stream, continuation) = AsyncStream<Int32>.makeStream()
        self.signals = stream
        self.sources = numbers.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            return source
        }
    }

    deinit {
        for source in self.sources { source.cancel() }
    }

    /// A watcher of the signals that stop an example server in an orderly way: SIGINT and SIGTERM.
    public static func forStopping() -> SignalWatcher {
        SignalWatcher([SIGINT, SIGTERM])
    }

    /// A watcher of the signal that makes an example server reload its identity at once: SIGHUP.
    public static func forReloading() -> SignalWatcher {
        SignalWatcher([SIGHUP])
    }

    /// The signal's name (`SIGINT`, `SIGTERM`, `SIGHUP`), or `signal N` for another one.
    public static func name(_ number: Int32) -> String {
        switch number {
        case SIGINT: "SIGINT"
        case SIGTERM: "SIGTERM"
        case SIGHUP: "SIGHUP"
        default: "signal \(number)"
        }
    }
}
