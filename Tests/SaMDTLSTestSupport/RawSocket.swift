// Plain TCP on loopback for the tests that speak to a TLS server below TLS: an SSLv2 hello, an HTTP request,
// a malformed record.

import SaMDTestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// POSIX sockets for the raw-TCP cases.
public enum RawSocket {
    /// A connected socket to 127.0.0.1:`port` with a receive timeout of `receiveTimeout` seconds; throws
    /// `SetupFailure` when it cannot connect.
    public static func connect(port: Int, receiveTimeout: Int = 5) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SetupFailure("socket: \(errno)") }
        var timeout = timeval(tv_sec: receiveTimeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else {
            close(fd)
            throw SetupFailure("connect: \(errno)")
        }
        return fd
    }

    /// Sends `text` as UTF-8 (one `send`, no SIGPIPE).
    public static func send(_ fd: Int32, _ text: String) {
        self.send(fd, bytes: Array(text.utf8))
    }

    /// Sends `bytes` (one `send`, no SIGPIPE).
    public static func send(_ fd: Int32, bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Everything received until the peer closes, an error, or the receive timeout; and whether the connection
    /// ended (EOF or reset) rather than timed out.
    public static func receiveAll(_ fd: Int32) -> (data: [UInt8], closed: Bool) {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                received += buffer.prefix(count)
                continue
            }
            if count == 0 { return (received, true) }
            if errno == EINTR { continue }
            return (received, errno == ECONNRESET)
        }
    }
}
