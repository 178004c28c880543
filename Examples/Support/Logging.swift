public import Logging

/// Routes swift-log to standard error, one line per event, from `level` up. Standard output stays for the
/// lines scripts read. Messages and metadata values are escaped (``escapingControlCharacters(_:)``): a peer's
/// certificate name or an error's text cannot start a forged log line.
public func bootstrapLogging(level: Logger.Level) {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return EscapingLogHandler(handler)
    }
}

/// A log handler that escapes control characters in what it passes on (``escapingControlCharacters(_:)``):
/// the message and every metadata value, the handler's own included.
public struct EscapingLogHandler<Wrapped: LogHandler>: LogHandler {
    public var wrapped: Wrapped

    public init(_ wrapped: Wrapped) {
        self.wrapped = wrapped
    }

    public var logLevel: Logger.Level {
        get { self.wrapped.logLevel }
        set { self.wrapped.logLevel = newValue }
    }

    public var metadataProvider: Logger.MetadataProvider? {
        get { self.wrapped.metadataProvider }
        set { self.wrapped.metadataProvider = newValue }
    }

    public var metadata: Logger.Metadata {
        get { self.wrapped.metadata }
        set { self.wrapped.metadata = newValue.mapValues(Self.escaped) }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.wrapped[metadataKey: key] }
        set { self.wrapped[metadataKey: key] = newValue.map(Self.escaped) }
    }

    public func log(event: LogEvent) {
        var event = event
        event.message = "\(escapingControlCharacters(event.message.description))"
        event.metadata = event.metadata?.mapValues(Self.escaped)
        self.wrapped.log(event: event)
    }

    static func escaped(_ value: Logger.Metadata.Value) -> Logger.Metadata.Value {
        switch value {
        case .string(let text): .string(escapingControlCharacters(text))
        case .stringConvertible(let value): .string(escapingControlCharacters(value.description))
        case .array(let values): .array(values.map(Self.escaped))
        case .dictionary(let values): .dictionary(values.mapValues(Self.escaped))
        }
    }
}

/// A logger with its own level (the handler's default level from ``bootstrapLogging(level:)`` is replaced):
/// for the library's loggers, whose events a program shows at a level of its own choosing.
public func makeLogger(label: String, level: Logger.Level) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = level
    return logger
}
