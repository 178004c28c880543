/// Counters of a running ``RecordGateway``, from its start. A snapshot: read
/// ``RecordGateway/statistics`` again for newer values. No identifier is counted.
public struct RecordGatewayStatistics: Sendable, Hashable {
    /// TLS handshakes that completed with a verified, allowed client.
    public var handshakesSucceeded = 0
    /// TLS handshakes that failed: a refused or missing client certificate, no common parameters, a
    /// timeout, a client that is not speaking TLS, a connection closed during the handshake.
    public var handshakesFailed = 0
    /// Final responses with a 2xx status (counted as each is handed to the connection).
    public var responses2xx = 0
    /// Final responses with a 4xx status (refusals: 400, 403, 404, 405, 408, 410, 413).
    public var responses4xx = 0
    /// Final responses with a 5xx status (500, 503).
    public var responses5xx = 0
    /// Request body bytes received (HTTP payload, after TLS and chunked framing).
    public var bytesIn = 0
    /// Response body bytes sent (HTTP payload, counted as it is handed to the connection).
    public var bytesOut = 0
    /// Connections open now (handshaking, idle or busy): a gauge, not a counter.
    public var openConnections = 0

    public init() {}

    /// Final responses sent, of any status.
    public var requests: Int {
        self.responses2xx + self.responses4xx + self.responses5xx
    }

    mutating func countResponse(status: Int) {
        switch status {
        case 200..<300: self.responses2xx += 1
        case 400..<500: self.responses4xx += 1
        case 500..<600: self.responses5xx += 1
        default: break
        }
    }
}
