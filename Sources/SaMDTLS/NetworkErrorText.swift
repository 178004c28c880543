import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A socket-level failure from SwiftNIO in plain words, for people: the system's text for its `errno`
/// (`connection refused`, `address already in use`, `no route to host`), `no connection within N s`, or
/// `the name cannot be resolved` — not NIO's type dumps. SaMDTLS words its own `TLSError.Code.unreachable`
/// reasons this way; it is public so that a program reports the errors it meets beside the library's (a
/// `TLSServer.bind` that cannot listen, its own `ClientBootstrap`) in the same words.
public enum NetworkErrorText {
    /// The reason `error` gives, one line without a trailing period: for NIO's `IOError` its `errno` through
    /// `strerror(3)`; for a `NIOConnectionError` (each address tried) the first attempt's reason, or the DNS
    /// failure; for `ChannelError.connectTimeout` the time waited, in seconds; for a
    /// `SocketAddressError.UnknownHost` the name that cannot be resolved; otherwise the error's own
    /// description. Never throws.
    public static func reason(_ error: any Error) -> String {
        switch error {
        case let error as IOError:
            return Self.text(errno: error.errnoCode)
        case let error as NIOConnectionError:
            if let first = error.connectionErrors.first {
                return Self.reason(first.error)
            }
            if error.dnsAError != nil || error.dnsAAAAError != nil {
                return "the name \(error.host) cannot be resolved"
            }
            return "no address to connect to"
        case ChannelError.connectTimeout(let amount):
            return "no connection within \(Self.seconds(amount)) s"
        case let error as ChannelError:
            return "\(error)"
        case let error as SocketAddressError.UnknownHost:
            return "the name \(error.host) cannot be resolved (\(error.errorDescription))"
        case is SocketAddressError:
            return "the address cannot be used"
        default:
            return "\(error)"
        }
    }

    /// `strerror(3)` of `code`, its first letter in lower case (`connection refused`).
    package static func text(errno code: CInt) -> String {
        guard let pointer = strerror(code) else { return "errno \(code)" }
        let text = String(cString: pointer)
        guard let first = text.first else { return "errno \(code)" }
        return first.lowercased() + text.dropFirst()
    }

    /// `amount` in seconds, without a fraction when it is whole (`10`, `1.5`).
    static func seconds(_ amount: TimeAmount) -> String {
        let value = Double(amount.nanoseconds) / 1e9
        return value == value.rounded() ? String(Int64(value)) : String(value)
    }
}
