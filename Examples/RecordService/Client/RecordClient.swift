public import NIOCore
import NIOHTTP1
public import NIOPosix
import SaMDExampleSupport
public import SaMDTLS

/// A client of the records gateway over mutual TLS: one kept-alive HTTP/1.1 connection, made on first use and
/// made again (with TLS 1.3 session resumption) after the server closed it. Requests are sent one at a time,
/// in order; copies of a client share its connection. A request whose kept-alive connection the server closed
/// cleanly (close_notify) before beginning an answer — its idle timeout racing the request — is sent once more
/// on a new connection: every request of this API is idempotent. A connection cut otherwise (without
/// close_notify, reset: a gateway killed or a network failing mid-request) fails the request with that cause;
/// retrying is the caller's policy (``upload(subject:recordID:recordType:body:policy:onRetry:)``).
///
/// Every method returns the gateway's final answer whatever its status (a 403 or 410 is a
/// ``RecordResponse``, not an error) and throws only when no answer could be had.
///
/// In TLS 1.3 the server judges the client's certificate after the client's handshake completed: a refused
/// client certificate arrives on the first request as a certificate `TLSError`
/// (`TLSError.isCertificateError`), never worth retrying.
public struct RecordClient: Sendable {
    /// The gateway's host (a DNS name or an IP address).
    public let host: String
    /// The gateway's port.
    public let port: Int
    /// The largest answer accepted, in bytes; a larger one fails with ``RecordServiceError/Code/responseTooLarge``.
    public let maximumResponseByteCount: Int
    let authority: String
    let connection: RecordClientConnection

    /// A client; nothing is connected until the first request.
    /// - Parameters:
    ///   - host: the gateway's DNS name or IP address.
    ///   - port: the gateway's port.
    ///   - context: a client context, normally `.deviceClient(identity:trustRoots:)` (the gateway requires a
    ///     client certificate).
    ///   - serverName: the name the gateway's certificate must carry (default: `host`): a DNS name is checked
    ///     against DNS SANs and sent as SNI, an IP address against IP SANs.
    ///   - connectTimeout: how long to wait for the TCP connection (at least 1 ms). The TLS handshake that follows is bounded
    ///     by `context`'s `TLSConfiguration.handshakeTimeout` (`samd-agent` sets it from its
    ///     `--connect-timeout`).
    ///   - requestTimeout: how long from sending a request to its complete answer (at least 1 ms).
    ///   - maximumResponseByteCount: the largest answer accepted, in bytes (default 64 MiB + 64 KiB).
    ///   - group: the event loops to run on.
    public init(
        host: String,
        port: Int,
        context: TLSContext,
        serverName: String? = nil,
        connectTimeout: Duration = .seconds(10),
        requestTimeout: Duration = .seconds(120),
        maximumResponseByteCount: Int = (64 << 20) + (64 << 10),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.host = host
        self.port = port
        self.maximumResponseByteCount = maximumResponseByteCount
        self.authority = Endpoint.format(host: serverName ?? host, port: port)
        self.connection = RecordClientConnection(
            host: host,
            port: port,
            context: context,
            serverName: TLSServerName(serverName ?? host),
            connectTimeout: max(.milliseconds(1), connectTimeout),
            requestTimeout: max(.milliseconds(1), requestTimeout),
            maximumResponseByteCount: maximumResponseByteCount,
            group: group
        )
    }

    /// `PUT /records/{subject}/{recordID}`: stores `body` as the record, with `recordType` as its
    /// Content-Type. The gateway answers 201 (created) or 200 (replaced) with `{"revision":N}`
    /// (``RecordResponse/revision``); 400 for an id or type the store refuses; 413 over its body limit.
    /// - Throws: ``RecordServiceError/Code/invalidRequest`` for an id the store's rule refuses (nothing is
    ///   sent); `TLSError`, ``RecordServiceError`` when no answer could be had.
    public func put(
        subject: String,
        recordID: String,
        recordType: String = RecordTypes.fallback,
        body: some Collection<UInt8>
    ) async throws -> RecordResponse {
        try await self.send(
            method: "PUT",
            path: try Self.recordPath(subject: subject, recordID: recordID),
            headers: [("content-type", recordType)],
            body: Array(body)
        )
    }

    /// `PUT /records/{subject}/{recordID}` with the record read from `file` as it is sent (``RecordUploadFile``:
    /// pieces of 64 KiB, at most 256 KiB unsent): the same request and answers as
    /// ``put(subject:recordID:recordType:body:)`` in constant memory, whatever the record's size.
    /// - Throws: ``RecordServiceError/Code/invalidRequest`` for an id the store's rule refuses (nothing is
    ///   sent); ``RecordServiceError/Code/bodyUnreadable`` when the file cannot be read or changes size while it
    ///   is sent (the connection is closed with the body short: the gateway stores nothing); `TLSError`,
    ///   ``RecordServiceError`` when no answer could be had.
    public func put(
        subject: String,
        recordID: String,
        recordType: String = RecordTypes.fallback,
        file: RecordUploadFile
    ) async throws -> RecordResponse {
        try await self.send(
            method: "PUT",
            path: try Self.recordPath(subject: subject, recordID: recordID),
            headers: [("content-type", recordType)],
            file: file
        )
    }

    /// The media type of a record sealed by the device to the gateway's recipient key:
    /// `application/vnd.samdkit.envelope` (Gateway.md, "Sealed uploads").
    public static let sealedEnvelopeMediaType = "application/vnd.samdkit.envelope"

    /// `PUT /records/{subject}/{recordID}` of an envelope sealed to the gateway's recipient key under the
    /// record's encryption context (`subject`, `record`, `type`), read from `envelope` as it is sent. The body's
    /// `Content-Type` is ``sealedEnvelopeMediaType`` and the record type goes in `SaMD-Record-Type`. The
    /// gateway checks that the envelope opens under that context, rewraps its header to the patient's key and
    /// stores the payload as sealed: 201 (stored), 200 (replaced; with `SaMD-Already-Stored: true` —
    /// ``RecordResponse/isAlreadyStored`` — when this very envelope was already the record), 400
    /// `envelope-not-authentic` or `recipient-key-unknown`, 415 `not-sealed-to-recipient`.
    /// - Throws: as ``put(subject:recordID:recordType:file:)``.
    public func putSealed(
        subject: String,
        recordID: String,
        recordType: String,
        envelope: RecordUploadFile
    ) async throws -> RecordResponse {
        try await self.send(
            method: "PUT",
            path: try Self.recordPath(subject: subject, recordID: recordID),
            headers: [("content-type", Self.sealedEnvelopeMediaType), ("samd-record-type", recordType)],
            file: envelope
        )
    }

    /// `GET /records/{subject}/{recordID}`: 200 with the record and its type (reader role), 403 without the
    /// role, 404 when there is none, 410 when the subject was crypto-shredded.
    /// - Throws: ``RecordServiceError/Code/invalidRequest`` for an id the store's rule refuses (nothing is
    ///   sent); `TLSError`, ``RecordServiceError`` when no answer could be had.
    public func get(subject: String, recordID: String) async throws -> RecordResponse {
        try await self.send(method: "GET", path: try Self.recordPath(subject: subject, recordID: recordID))
    }

    /// `DELETE /subjects/{subject}`: crypto-shreds the subject (shredder role). 200 with the receipt
    /// `{"key","destroyed_at","records"}`, 403 without the role, 404 when there is nothing to shred.
    /// - Throws: ``RecordServiceError/Code/invalidRequest`` for an id the store's rule refuses (nothing is
    ///   sent); `TLSError`, ``RecordServiceError`` when no answer could be had.
    public func shred(subject: String) async throws -> RecordResponse {
        try await self.send(method: "DELETE", path: "/subjects/" + (try Self.encodedIdentifier(subject)))
    }

    /// `GET /healthz`: 200 `{"status":"ok"}` for any verified client.
    /// - Throws: `TLSError`, ``RecordServiceError`` when no answer could be had.
    public func health() async throws -> RecordResponse {
        try await self.send(method: "GET", path: "/healthz")
    }

    /// Sends any request: `path` goes out exactly as given (it must already be percent-encoded). With a
    /// `transfer-encoding: chunked` header the body is sent in chunks, otherwise with `content-length`. For
    /// tools and tests of the HTTP surface.
    /// - Throws: `TLSError`, ``RecordServiceError`` when no answer could be had.
    public func send(method: String, path: String, headers: [(String, String)] = [], body: [UInt8]? = nil) async throws
        -> RecordResponse
    {
        var fields = HTTPHeaders()
        fields.add(name: "host", value: self.authority)
        for (name, value) in headers { fields.add(name: name, value: value) }
        let chunked = fields["transfer-encoding"].contains { $0.lowercased() == "chunked" }
        if let body, !chunked, !fields.contains(name: "content-length") {
            fields.add(name: "content-length", value: String(body.count))
        }
        let head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: path, headers: fields)
        return try await self.connection.exchange(head, body: body.map { ByteBuffer(bytes: $0) })
    }

    /// Sends a request whose body is read from `file` as it goes, with its size as `content-length`.
    private func send(method: String, path: String, headers: [(String, String)], file: RecordUploadFile) async throws
        -> RecordResponse
    {
        var fields = HTTPHeaders()
        fields.add(name: "host", value: self.authority)
        for (name, value) in headers { fields.add(name: name, value: value) }
        fields.add(name: "content-length", value: String(file.byteCount))
        let head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: path, headers: fields)
        return try await self.connection.exchange(head, file: file)
    }

    /// Closes the connection (close_notify). The client stays usable: the next request connects again.
    public func close() async {
        await self.connection.close()
    }

    /// `/records/{subject}/{recordID}`, each id percent-encoded.
    /// - Throws: ``RecordServiceError/Code/invalidRequest`` for an id the store's rule refuses.
    static func recordPath(subject: String, recordID: String) throws -> String {
        "/records/" + (try Self.encodedIdentifier(subject)) + "/" + (try Self.encodedIdentifier(recordID))
    }

    /// `id` percent-encoded as one path segment, after the store's rule: a dot segment (`.`, `..`) would be
    /// normalised out of the path by any HTTP client or proxy (RFC 3986 §5.2.4; `%2E` is the same), so it is
    /// never sent.
    static func encodedIdentifier(_ id: String) throws -> String {
        guard RecordIdentifiers.isValid(id) else {
            throw RecordServiceError(.invalidRequest, "a subject or record id is \(RecordIdentifiers.rule); not sent")
        }
        return Self.percentEncoded(id)
    }

    /// Percent-encodes every byte of UTF-8 but the unreserved characters (RFC 3986 §2.3).
    static func percentEncoded(_ segment: String) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var encoded: [UInt8] = []
        for byte in segment.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                encoded.append(byte)
            default:
                encoded += [UInt8(ascii: "%"), digits[Int(byte >> 4)], digits[Int(byte & 0x0f)]]
            }
        }
        return String(decoding: encoded, as: UTF8.self)
    }
}

extension RecordClient {
    /// Stores a record like ``put(subject:recordID:recordType:body:)``, trying again under `policy` when the
    /// attempt failed in a way that may pass: a retryable network error (``RetryPolicy/isRetryable(_:)``) or
    /// a 503 answer. A refused certificate, a protocol error, or any other answer ends it at once.
    /// - Parameters:
    ///   - subject: the patient's identifier, as in ``put(subject:recordID:recordType:body:)``.
    ///   - recordID: the record's identifier within the subject.
    ///   - recordType: the record's media type, sent as `Content-Type`.
    ///   - body: the record's bytes.
    ///   - policy: how many attempts, and the backoff between them.
    ///   - onRetry: called before each wait with the attempt that failed (1-based), the delay, and
    ///     the error (`nil` for a 503 answer).
    /// - Returns: the last answer (a 503 when every attempt got one).
    /// - Throws: the last attempt's error, or the first one that is not retryable; `CancellationError` when
    ///   the task is cancelled during a wait.
    public func upload(
        subject: String,
        recordID: String,
        recordType: String = RecordTypes.fallback,
        body: some Collection<UInt8>,
        policy: RetryPolicy = RetryPolicy(),
        onRetry: (@Sendable (_ failedAttempt: Int, _ delay: Duration, _ error: (any Error)?) -> Void)? = nil
    ) async throws -> RecordResponse {
        let bytes = Array(body)
        return try await Self.retrying(policy: policy, onRetry: onRetry) {
            try await self.put(subject: subject, recordID: recordID, recordType: recordType, body: bytes)
        }
    }

    /// Stores a record read from `file` like ``put(subject:recordID:recordType:file:)``, trying again under
    /// `policy` as ``upload(subject:recordID:recordType:body:policy:onRetry:)`` does (the file is opened again
    /// for each attempt).
    /// - Parameters:
    ///   - subject: the patient's identifier.
    ///   - recordID: the record's identifier within the subject.
    ///   - recordType: the record's media type, sent as `Content-Type`.
    ///   - file: the record's bytes, in a file.
    ///   - policy: how many attempts, and the backoff between them.
    ///   - onRetry: called before each wait with the attempt that failed (1-based), the delay, and the error
    ///     (`nil` for a 503 answer).
    /// - Returns: the last answer (a 503 when every attempt got one).
    /// - Throws: as ``upload(subject:recordID:recordType:body:policy:onRetry:)``;
    ///   ``RecordServiceError/Code/bodyUnreadable`` at once (never retried).
    public func upload(
        subject: String,
        recordID: String,
        recordType: String = RecordTypes.fallback,
        file: RecordUploadFile,
        policy: RetryPolicy = RetryPolicy(),
        onRetry: (@Sendable (_ failedAttempt: Int, _ delay: Duration, _ error: (any Error)?) -> Void)? = nil
    ) async throws -> RecordResponse {
        try await Self.retrying(policy: policy, onRetry: onRetry) {
            try await self.put(subject: subject, recordID: recordID, recordType: recordType, file: file)
        }
    }

    /// Delivers a sealed envelope like ``putSealed(subject:recordID:recordType:envelope:)``, trying again under
    /// `policy` (a repeated delivery of an envelope the gateway already stored is answered 200 with
    /// `SaMD-Already-Stored: true`, so retrying after a lost answer stores nothing twice).
    /// - Parameters:
    ///   - subject: the patient's identifier.
    ///   - recordID: the record's identifier within the subject.
    ///   - recordType: the record type the envelope's encryption context names.
    ///   - envelope: the envelope, in a file (or a range of one).
    ///   - policy: how many attempts, and the backoff between them.
    ///   - onRetry: called before each wait with the attempt that failed (1-based), the delay, and the error
    ///     (`nil` for a 503 answer).
    /// - Returns: the last answer (a 503 when every attempt got one).
    /// - Throws: as ``upload(subject:recordID:recordType:file:policy:onRetry:)``.
    public func uploadSealed(
        subject: String,
        recordID: String,
        recordType: String,
        envelope: RecordUploadFile,
        policy: RetryPolicy = RetryPolicy(),
        onRetry: (@Sendable (_ failedAttempt: Int, _ delay: Duration, _ error: (any Error)?) -> Void)? = nil
    ) async throws -> RecordResponse {
        try await Self.retrying(policy: policy, onRetry: onRetry) {
            try await self.putSealed(subject: subject, recordID: recordID, recordType: recordType, envelope: envelope)
        }
    }

    /// Runs `attempt` until it gives an answer that is not a 503, fails in a way that is not retryable, or
    /// `policy` runs out of attempts; waits the policy's delay between attempts.
    private static func retrying(
        policy: RetryPolicy,
        onRetry: (@Sendable (_ failedAttempt: Int, _ delay: Duration, _ error: (any Error)?) -> Void)?,
        _ attempt: () async throws -> RecordResponse
    ) async throws -> RecordResponse {
        var number = 1
        while true {
            let failure: (any Error)?
            do {
                let response = try await attempt()
                guard RetryPolicy.isRetryable(status: response.status), number < policy.attempts else {
                    return response
                }
                failure = nil
            } catch {
                guard RetryPolicy.isRetryable(error), number < policy.attempts else { throw error }
                failure = error
            }
            let delay = policy.delay(beforeAttempt: number + 1)
            onRetry?(number, delay, failure)
            try await Task.sleep(for: delay)
            number += 1
        }
    }
}
