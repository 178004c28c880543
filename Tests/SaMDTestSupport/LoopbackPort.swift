import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Ports on the loopback interface for tests.
public enum LoopbackPort {
    /// A port on 127.0.0.1 where nothing listens: bound to port 0, read, closed (free a moment ago).
    public static func unused() throws -> Int {
        let (fd, port) = try self.bound(listening: false)
        close(fd)
        return port
    }

    /// A TCP socket listening on 127.0.0.1 at a port the kernel chose; the caller closes `fd`.
    public static func listening() throws -> (fd: Int32, port: Int) {
        try self.bound(listening: true)
    }

    private static func bound(listening: Bool) throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ready = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
                    && (!listening || listen(fd, 8) == 0)
            }
        }
        guard ready else {
            let code = errno
            close(fd)
            throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO)
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }
}
