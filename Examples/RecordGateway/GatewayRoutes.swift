import Foundation
import HTTPTypes
import Hummingbird
import NIOHTTP1
import SaMDHummingbird
import SaMDKeys
import SaMDRecordService
import SaMDStore
import Synchronization

/// The gateway's routes on Hummingbird's router: each guarded by the role it needs (``TLSRoleMiddleware``),
/// the others' methods answered 405 with `Allow`, everything behind ``GatewayResponseMiddleware``.
enum GatewayRoutes {
    static func router(_ core: GatewayCore) -> Router<GatewayRequestContext> {
        let router = Router(context: GatewayRequestContext.self)
        router.add(middleware: GatewayResponseMiddleware(core: core))
        func guarded(_ role: RecordRole) -> RouterGroup<GatewayRequestContext> {
            router.group().add(
                middleware: TLSRoleMiddleware(
                    role, policy: core.roles, logger: core.logger, eventNamespace: "samd.gateway"))
        }
        guarded(.device).get(RouterPath(GatewayRoute.health.rawValue)) { _, _ in
            GatewayReply.json(.ok, GatewayReply.Health(status: "ok")).response
        }
        guarded(.device).put(RouterPath(GatewayRoute.record.rawValue)) { request, context in
            await Self.putRecord(request, context: context, core: core).response
        }
        guarded(.reader).get(RouterPath(GatewayRoute.record.rawValue)) { _, context in
            await Self.getRecord(context: context, core: core).response
        }
        guarded(.shredder).delete(RouterPath(GatewayRoute.subject.rawValue)) { _, context in
            await Self.shredSubject(context: context, core: core).response
        }
        let methods: [HTTPRequest.Method] = [.get, .head, .post, .put, .delete, .patch, .options, .trace]
        for route in GatewayRoute.allCases {
            let allow = route.allowedMethods.map(\.rawValue).joined(separator: ", ")
            for method in methods where !route.allowedMethods.contains(method) {
                router.on(RouterPath(route.rawValue), method: method) { _, _ in
                    var reply = GatewayReply.error(
                        .methodNotAllowed, "method-not-allowed", "this resource does not answer that method")
                    reply.headers[.allow] = allow
                    return reply.response
                }
            }
        }
        return router
    }

    static func tooLarge(limit: Int) -> GatewayReply {
        .error(.contentTooLarge, "payload-too-large", "a request body is at most \(limit) bytes").closing()
    }

    static func overBudget() -> GatewayReply {
        var reply = GatewayReply.error(
            .serviceUnavailable, "unavailable", "the gateway holds too many request bodies now; try again later")
        reply.headers[.retryAfter] = "1"
        return reply.closing()
    }

    // MARK: Records

    /// The record route's raw (percent-encoded) parameters.
    static func recordParameters(_ context: GatewayRequestContext) -> [Substring?] {
        [context.parameters.get("subject")?[...], context.parameters.get("id")?[...]]
    }

    static func putRecord(_ request: Request, context: GatewayRequestContext, core: GatewayCore) async -> GatewayReply {
        if Self.isSealed(request) {
            return await Self.putSealedRecord(request, context: context, core: core)
        }
        let ids: [String]
        let recordType: String
        do throws(GatewayRefusal) {
            ids = try GatewayRouting.identifiers(Self.recordParameters(context))
            recordType = try GatewayRouting.recordType(request.headers[values: .contentType])
        } catch {
            return error.reply
        }
        let client = context.client
        let logger = core.logger
        let limit = core.configuration.maximumBodyByteCount
        let budget = core.configuration.maximumBufferedBodyByteCount
        let declared = request.headers[.contentLength].flatMap { Int($0) }
        // A record larger than what the store's streaming put holds (or of unknown length: chunked) streams
        // into the store; a smaller one is buffered and stored at once.
        let streaming = declared.map { $0 > core.store.streamingBufferByteCount } ?? true
        let held = streaming ? core.store.streamingBufferByteCount : limit
        // A declared length that cannot fit what is free now is refused before a byte of the body is read; one
        // that fits reserves nothing yet: the budget is taken as the bytes arrive, so a client that announces
        // much and sends little holds little.
        guard core.bodyBytesFit(min(declared ?? 0, held)) else {
            GatewayEvents.bodiesOverBudget(logger, client: client, limit: budget)
            return Self.overBudget()
        }
        let body = GatewayRequestBody(request.body, core: core, heldByteCount: held)
        defer { body.release() }
        do {
            try await context.continueIfExpected()
            let write: RecordWriteResult
            if streaming {
                write = try await core.store.put(
                    streaming: body, subject: ids[0], recordID: ids[1], recordType: recordType, expectedRevision: nil)
            } else {
                // Grown as the body arrives: a declared length is a claim, not an allocation.
                var bytes: [UInt8] = []
                bytes.reserveCapacity(min(declared ?? 0, 64 << 10))
                for try await piece in body {
                    piece.withContiguousStorageIfAvailable { bytes.append(contentsOf: $0) }
                        ?? bytes.append(contentsOf: piece)
                }
                write = try await core.store.put(bytes, subject: ids[0], recordID: ids[1], recordType: recordType)
            }
            GatewayEvents.recordStored(
                logger, client: client, revision: write.revision, key: "\(write.key)", recordType: recordType,
                bytes: body.received)
            return .json(write.revision == 1 ? .created : .ok, GatewayReply.Revision(revision: write.revision))
        } catch GatewayBodyRefusal.tooLarge {
            GatewayEvents.bodyTooLarge(logger, client: client, limit: limit, declared: nil)
            return Self.tooLarge(limit: limit)
        } catch GatewayBodyRefusal.overBudget {
            GatewayEvents.bodiesOverBudget(logger, client: client, limit: budget)
            return Self.overBudget()
        } catch let deadline as GatewayRequestDeadline {
            return deadline.reply
        } catch let error as RecordStoreError {
            return Self.reply(for: error, route: .record, method: "PUT", isShred: false, core: core, client: client)
        } catch let error as HTTPParserError where error != .invalidEOFState {
            // Malformed framing (a bad chunk size, a body longer than declared): NIO's parser stopped; the
            // connection's framing is lost.
            return GatewayReply.error(.badRequest, "invalid-request", "the request body's framing is malformed")
                .closing()
        } catch {
            // The body did not arrive whole: the connection ended or broke mid-body. Nothing is stored, and the
            // connection closes without an answer (the client is gone or its framing is lost).
            try? await context.channel.close()
            return GatewayReply.error(.badRequest, "invalid-request", "the request body did not arrive").closing()
        }
    }

    // MARK: Sealed uploads

    /// The media type of a sealed upload: an envelope sealed to the store's recipient key (EnvelopeFormat.md).
    static let sealedEnvelopeType = "application/vnd.samdkit.envelope"

    /// Whether the request's one `Content-Type` is ``sealedEnvelopeType`` (compared without case).
    static func isSealed(_ request: Request) -> Bool {
        let values = request.headers[values: .contentType]
        return values.count == 1 && values[0].trimmingASCIISpaces().lowercased() == Self.sealedEnvelopeType
    }

    /// The most body bytes the request may have: ``RecordGatewayConfiguration/maximumBodyByteCount``, or for a
    /// sealed upload the envelope of a record of that size (the record limit applies to its plaintext).
    static func bodyLimit(_ request: Request, core: GatewayCore) -> Int {
        let limit = core.configuration.maximumBodyByteCount
        return Self.isSealed(request) ? SealedUpload.maximumEnvelopeByteCount(forRecordsOf: limit) : limit
    }

    /// `PUT` of a sealed upload: the record type from `SaMD-Record-Type`, the envelope streamed into the store's
    /// sealed put (checked, rewrapped, stored as sealed). 201/200 as a plaintext `PUT`; 200 with
    /// `SaMD-Already-Stored: true` for a redelivery; 400 `envelope-not-authentic` or `recipient-key-unknown`, 415
    /// `not-sealed-to-recipient` (nothing stored; `samd.gateway.sealed-upload-refused`).
    static func putSealedRecord(_ request: Request, context: GatewayRequestContext, core: GatewayCore) async
        -> GatewayReply
    {
        let ids: [String]
        let recordType: String
        do throws(GatewayRefusal) {
            ids = try GatewayRouting.identifiers(Self.recordParameters(context))
            recordType = try GatewayRouting.recordType(
                request.headers[values: .samdRecordType], header: "SaMD-Record-Type")
        } catch {
            return error.reply
        }
        let client = context.client
        let logger = core.logger
        let limit = Self.bodyLimit(request, core: core)
        let budget = core.configuration.maximumBufferedBodyByteCount
        let declared = request.headers[.contentLength].flatMap { Int($0) }
        let held = core.store.streamingBufferByteCount
        guard core.bodyBytesFit(min(declared ?? 0, held)) else {
            GatewayEvents.bodiesOverBudget(logger, client: client, limit: budget)
            return Self.overBudget()
        }
        let body = GatewayRequestBody(request.body, core: core, heldByteCount: held, limit: limit)
        defer { body.release() }
        do {
            try await context.continueIfExpected()
            let sealed = try await core.store.put(
                sealedEnvelope: body, subject: ids[0], recordID: ids[1], recordType: recordType, expectedRevision: nil)
            let write = sealed.write
            GatewayEvents.sealedUploadStored(
                logger, client: client, revision: write.revision, key: "\(write.key)", recordType: recordType,
                bytes: body.received, alreadyStored: sealed.alreadyStored)
            if sealed.alreadyStored {
                var reply = GatewayReply.json(.ok, GatewayReply.Revision(revision: write.revision))
                reply.headers[.samdAlreadyStored] = "true"
                return reply
            }
            return .json(write.revision == 1 ? .created : .ok, GatewayReply.Revision(revision: write.revision))
        } catch GatewayBodyRefusal.tooLarge {
            GatewayEvents.bodyTooLarge(logger, client: client, limit: limit, declared: nil)
            return Self.tooLarge(limit: limit)
        } catch GatewayBodyRefusal.overBudget {
            GatewayEvents.bodiesOverBudget(logger, client: client, limit: budget)
            return Self.overBudget()
        } catch let deadline as GatewayRequestDeadline {
            return deadline.reply
        } catch let error as RecordStoreError {
            let refusal: (status: HTTPResponse.Status, code: String, message: String)? =
                switch error.code {
                case .envelopeNotAuthentic:
                    (
                        .badRequest, "envelope-not-authentic",
                        "the envelope does not open under this record's address and type with the recipient key it names"
                    )
                case .notSealedToRecipient:
                    (
                        .unsupportedMediaType, "not-sealed-to-recipient",
                        "the body is not an envelope sealed to the gateway's recipient key"
                    )
                case .recipientKeyUnknown:
                    (
                        .badRequest, "recipient-key-unknown",
                        "the envelope is sealed to a recipient key version the gateway does not hold"
                    )
                default: nil
                }
            if let refusal {
                GatewayEvents.sealedUploadRefused(
                    logger, client: client, reason: refusal.code, status: refusal.status.code)
                return .error(refusal.status, refusal.code, refusal.message)
            }
            return Self.reply(for: error, route: .record, method: "PUT", isShred: false, core: core, client: client)
        } catch let error as HTTPParserError where error != .invalidEOFState {
            return GatewayReply.error(.badRequest, "invalid-request", "the request body's framing is malformed")
                .closing()
        } catch {
            try? await context.channel.close()
            return GatewayReply.error(.badRequest, "invalid-request", "the request body did not arrive").closing()
        }
    }

    static func getRecord(context: GatewayRequestContext, core: GatewayCore) async -> GatewayReply {
        let ids: [String]
        do throws(GatewayRefusal) {
            ids = try GatewayRouting.identifiers(Self.recordParameters(context))
        } catch {
            return error.reply
        }
        do {
            let record = try await core.store.get(subject: ids[0], recordID: ids[1])
            GatewayEvents.recordRead(
                core.logger, client: context.client, revision: record.revision, recordType: record.recordType,
                bytes: record.payload.count)
            return .record(record.payload, recordType: record.recordType)
        } catch {
            return Self.reply(
                for: error, route: .record, method: "GET", isShred: false, core: core, client: context.client)
        }
    }

    static func shredSubject(context: GatewayRequestContext, core: GatewayCore) async -> GatewayReply {
        let subject: String
        do throws(GatewayRefusal) {
            subject = try GatewayRouting.identifiers([context.parameters.get("subject")?[...]])[0]
        } catch {
            return error.reply
        }
        do {
            let shred = try await core.store.shred(subject: subject)
            let receipt = shred.receipt
            GatewayEvents.subjectShredded(
                core.logger, client: context.client, key: "\(receipt.key)", destroyedAt: receipt.destroyedAt,
                records: shred.recordCount)
            return .json(
                .ok,
                GatewayReply.Receipt(
                    key: "\(receipt.key)", destroyedAt: receipt.destroyedAt.formatted(.iso8601),
                    records: shred.recordCount))
        } catch {
            return Self.reply(
                for: error, route: .subject, method: "DELETE", isShred: true, core: core, client: context.client)
        }
    }

    /// Store errors as statuses. Reasons of 400 and 413 are the store's words (which never hold an id); every
    /// other body is fixed text.
    static func reply(
        for error: any Error, route: GatewayRoute, method: String, isShred: Bool, core: GatewayCore,
        client: GatewayEvents.Client
    ) -> GatewayReply {
        let logger = core.logger
        guard let error = error as? RecordStoreError else {
            GatewayEvents.storeFailed(
                logger, client: client, method: method, route: route, error: "unavailable", status: 503)
            return .error(.serviceUnavailable, "unavailable", "the record store is not available; try again later")
        }
        switch error.code {
        case .invalidArgument:
            return .error(.badRequest, "invalid-request", error.reason)
        case .limitExceeded where method == "GET":
            // A stored record larger than this instance's limit (a row tampered with, or written by an instance
            // configured with a larger one): the operator's problem, not the request's.
            GatewayEvents.storeFailed(
                logger, client: client, method: method, route: route, error: "\(error.code)", status: 500)
            return .error(.internalServerError, "internal-error", "the request could not be completed")
        case .limitExceeded:
            return .error(.contentTooLarge, "payload-too-large", error.reason)
        case .notFound:
            return isShred
                ? .error(.notFound, "not-found", "this subject has no key to shred")
                : .error(.notFound, "not-found", "no record at this address")
        case .shredded:
            return .error(.gone, "gone", "the subject was crypto-shredded; its records can never be opened")
        case .conflict:
            return .error(.conflict, "conflict", "the record changed meanwhile; try again")
        case .authenticationFailed:
            GatewayEvents.recordAuthenticationFailed(logger, client: client, method: method)
            return .error(.internalServerError, "internal-error", "the request could not be completed")
        case .keyUnavailable where !error.isRetryable:
            // A key the request needs is not there (no active KEK, a key version missing from a key store restored
            // from another time): waiting does not bring it back, so no "try again".
            GatewayEvents.storeFailed(
                logger, client: client, method: method, route: route, error: "\(error.code)", status: 500)
            return .error(
                .internalServerError, "key-unavailable",
                "the record store lacks a key this request needs; the operator must restore or rotate its keys")
        default:
            // storage, a busy key store, a database server down: the operator's problem, maybe temporary.
            GatewayEvents.storeFailed(
                logger, client: client, method: method, route: route, error: "\(error.code)", status: 503)
            var reply = GatewayReply.error(
                .serviceUnavailable, "unavailable", "the record store is not available; try again later")
            if error.isRetryable {
                // Busy: the key store's lock held past its timeout, or the database's; a database server that
                // cannot be reached (down, restarting) is given a little longer.
                reply.headers[.retryAfter] = error.code == .unavailable ? "2" : "1"
            }
            return reply
        }
    }
}

extension HTTPField.Name {
    /// `SaMD-Record-Type`: a sealed upload's record type (its body's type is the envelope's).
    static let samdRecordType = HTTPField.Name("SaMD-Record-Type")!
    /// `SaMD-Already-Stored: true`: the sealed upload was stored before (a redelivery); nothing was written.
    static let samdAlreadyStored = HTTPField.Name("SaMD-Already-Stored")!
}
