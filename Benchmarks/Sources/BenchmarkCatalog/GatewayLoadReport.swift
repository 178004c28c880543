/// What the gateway load client (`GatewayLoad`) prints as JSON after one measured run against one server: the
/// requests completed in the measured window, their rates and latencies by method. bench-compare reads it
/// back (`BenchComparison`'s gateway section), so both sides share this one definition.
///
/// A request counts when it started and finished inside one of the measured slices of time given to this server;
/// rates are those counts over ``durationSeconds``, the slices' total. Latency is from the request's first byte written to its
/// response's last byte read, on a kept-alive connection (no handshake inside).
public struct GatewayLoadReport: Codable, Sendable, Hashable {
    /// One method's figures.
    public struct Method: Codable, Sendable, Hashable {
        /// Requests completed in the measured window.
        public var requests: Int
        /// ``requests`` over the measured window, per second.
        public var perSecond: Double
        /// Latency percentiles (nearest rank), milliseconds.
        public var p50Milliseconds: Double
        public var p99Milliseconds: Double

        public init(requests: Int, perSecond: Double, p50Milliseconds: Double, p99Milliseconds: Double) {
            self.requests = requests
            self.perSecond = perSecond
            self.p50Milliseconds = p50Milliseconds
            self.p99Milliseconds = p99Milliseconds
        }
    }

    /// Kept-alive connections, each looping PUT then GET of its own record.
    public var connections: Int
    /// The record's size, bytes.
    public var recordBytes: Int
    /// Seconds of load before the measured window (handshakes and first writes happen in it).
    public var warmupSeconds: Double
    /// The measured time, seconds: the total of this server's measured slices.
    public var durationSeconds: Double
    public var put: Method
    public var get: Method
    /// Both methods together (its latencies over every request).
    public var total: Method

    public init(
        connections: Int, recordBytes: Int, warmupSeconds: Double, durationSeconds: Double, put: Method,
        get: Method, total: Method
    ) {
        self.connections = connections
        self.recordBytes = recordBytes
        self.warmupSeconds = warmupSeconds
        self.durationSeconds = durationSeconds
        self.put = put
        self.get = get
        self.total = total
    }
}

/// The load bench-compare puts on each server: connections, record size, the two durations and the slices
/// the measured time is cut into (seconds; the client loads the servers in turn, slice by slice).
public struct GatewayLoadPlan: Sendable, Hashable {
    public var connections: Int
    public var recordBytes: Int
    public var warmupSeconds: Double
    public var durationSeconds: Double
    public var sliceSeconds: Double

    /// 8 connections per server, 1 KiB records; 3 s of warm-up and 15 s measured per server, in slices of 1.5 s
    /// (`quick`: 1 s, 4 s, slices of 1 s).
    public init(quick: Bool) {
        self.connections = 8
        self.recordBytes = 1024
        self.warmupSeconds = quick ? 1 : 3
        self.durationSeconds = quick ? 4 : 15
        self.sliceSeconds = quick ? 1 : 1.5
    }
}
