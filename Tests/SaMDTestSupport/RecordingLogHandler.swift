import Foundation
public import Logging

/// A swift-log handler that keeps records in memory, for asserting on security events.
public final class RecordingLogHandler: LogHandler, @unchecked Sendable { // state guarded by `lock`
    public struct Record: Sendable {
        public let level: Logger.Level
        public let message: String
        public let metadata: [String: String]
    }

    private let lock = NSLock()
    private var storage: [Record] = []
    private let changes = ChangeNotifier()
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .trace

    public init() {}

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var flat: [String: String] = [:]
        for (key, value) in event.metadata ?? [:] { flat[key] = "\(value)" }
        self.lock.withLock {
            self.storage.append(Record(level: event.level, message: "\(event.message)", metadata: flat))
        }
        self.changes.notify()
    }

    public var records: [Record] { self.lock.withLock { self.storage } }

    /// The records whose `event` metadata is `name`.
    public func events(_ name: String) -> [Record] {
        self.records.filter { $0.metadata["event"] == name }
    }

    /// Every logged line as text (message and metadata), to search for what must never appear.
    public var allText: String {
        self.records.map { record in
            record.message + " "
                + record.metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }.joined(separator: "\n")
    }

    /// Waits at most `timeout` until ``allText`` contains `needle`, looking again at each record logged (no
    /// polling); returns whether it did. For events logged on another task, such as a server's.
    public func waitForText(containing needle: String, timeout: Duration = .seconds(10)) async -> Bool {
        await self.changes.wait(timeout: timeout) { self.allText.contains(needle) }
    }

    /// A logger that writes here.
    public var logger: Logger {
        Logger(label: "test") { _ in self }
    }
}
