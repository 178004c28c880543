import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import SaMDExampleSupport
import SaMDKeys
import SaMDStore
import SaMDTLS
import Synchronization

/// What a store call produced, carried back from the thread pool to the event loop.
enum StoreOutcome: Sendable {
    case stored(RecordWriteResult, bytes: Int, recordType: String)
    case read(StoredRecord)
    case shredded(ShredReceipt)
}

// MARK: The store

extension GatewayHTTPHandler {
    func perform(
        context: ChannelHandlerContext,
        _ operation: GatewayOperation,
        route: GatewayRoute,
        head: HTTPRequestHead,
        keepAlive: Bool,
        body: ByteBuffer
    ) {
        if case .health = operation {
            self.respond(
                context: context, .json(.ok, GatewayReply.Health(status: "ok")), version: head.version,
                keepAlive: keepAlive)
            return
        }
        let store = self.core.store
        let work = self.core.threadPool.runIfActive(eventLoop: context.eventLoop) { () throws -> StoreOutcome in
            switch operation {
            case .putRecord(let subject, let recordID, let recordType):
                let result = try store.put(
                    body.readableBytesView, subject: subject, recordID: recordID, recordType: recordType)
                return .stored(result, bytes: body.readableBytes, recordType: recordType)
            case .getRecord(let subject, let recordID):
                return .read(try store.get(subject: subject, recordID: recordID))
            case .shredSubject(let subject):
                return .shredded(try store.shred(subject: subject))
            case .health:
                preconditionFailure("answered without the store")
            }
        }
        work.assumeIsolated().whenComplete { result in
            // The store has sealed (or refused) the body: its bytes go back to the shared budget.
            self.releaseBody()
            let reply = self.reply(for: result, operation: operation, route: route, method: head.method.rawValue)
            self.respond(context: context, reply, version: head.version, keepAlive: keepAlive)
        }
    }

    func reply(
        for result: Result<StoreOutcome, any Error>, operation: GatewayOperation, route: GatewayRoute, method: String
    ) -> GatewayReply {
        let logger = self.core.logger
        switch result {
        case .success(.stored(let write, let bytes, let recordType)):
            GatewayEvents.recordStored(
                logger, client: self.client, revision: write.revision, key: "\(write.key)", recordType: recordType,
                bytes: bytes)
            return .json(write.revision == 1 ? .created : .ok, GatewayReply.Revision(revision: write.revision))
        case .success(.read(let record)):
            GatewayEvents.recordRead(
                logger, client: self.client, revision: record.revision, recordType: record.recordType,
                bytes: record.payload.count)
            return .record(record.payload, recordType: record.recordType)
        case .success(.shredded(let shred)):
            let receipt = shred.receipt
            GatewayEvents.subjectShredded(
                logger, client: self.client, key: "\(receipt.key)", destroyedAt: receipt.destroyedAt,
                records: shred.recordCount)
            return .json(
                .ok,
                GatewayReply.Receipt(
                    key: "\(receipt.key)", destroyedAt: receipt.destroyedAt.formatted(.iso8601),
                    records: shred.recordCount))
        case .failure(let error as RecordStoreError):
            return self.reply(for: error, operation: operation, route: route, method: method)
        case .failure:
            // The thread pool is not running: only while the process shuts down.
            GatewayEvents.storeFailed(
                logger, client: self.client, method: method, route: route, error: "unavailable", status: 503)
            return .error(.serviceUnavailable, "unavailable", "the record store is not available; try again later")
        }
    }

    /// Store errors as statuses. Reasons of 400 and 413 are the store's words (which never hold an id);
    /// every other body is fixed text.
    func reply(for error: RecordStoreError, operation: GatewayOperation, route: GatewayRoute, method: String)
        -> GatewayReply
    {
        switch error.code {
        case .invalidArgument:
            return .error(.badRequest, "invalid-request", error.reason)
        case .limitExceeded:
            return .error(.payloadTooLarge, "payload-too-large", error.reason)
        case .notFound:
            if case .shredSubject = operation {
                return .error(.notFound, "not-found", "this subject has no key to shred")
            }
            return .error(.notFound, "not-found", "no record at this address")
        case .shredded:
            return .error(.gone, "gone", "the subject was crypto-shredded; its records can never be opened")
        case .conflict:
            return .error(.conflict, "conflict", "the record changed meanwhile; try again")
        case .authenticationFailed:
            GatewayEvents.recordAuthenticationFailed(self.core.logger, client: self.client, method: method)
            return .error(.internalServerError, "internal-error", "the request could not be completed")
        case .keyUnavailable where !error.isRetryable:
            // A key the request needs is not there (no active KEK, a key version missing from a key store restored
            // from another time): waiting does not bring it back, so no "try again".
            GatewayEvents.storeFailed(
                self.core.logger, client: self.client, method: method, route: route, error: "\(error.code)", status: 500
            )
            return .error(
                .internalServerError, "key-unavailable",
                "the record store lacks a key this request needs; the operator must restore or rotate its keys")
        default:
            // storage, a busy key store: the operator's problem, maybe temporary.
            GatewayEvents.storeFailed(
                self.core.logger, client: self.client, method: method, route: route, error: "\(error.code)", status: 503
            )
            var reply = GatewayReply.error(
                .serviceUnavailable, "unavailable", "the record store is not available; try again later")
            if error.isRetryable {
                // Busy: the key store's lock held past its timeout, or the database's.
                reply.headers.append(("retry-after", "1"))
            }
            return reply
        }
    }
}
