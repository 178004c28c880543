import Foundation
import Logging
import NIOCore
import SaMDExampleStorage
import SaMDRecordGateway
import SaMDRecordService
import SaMDTLS
import Synchronization

/// One instance of the service: a store, the records gateway in front of it on 127.0.0.1 (port 0), and the
/// device's and the reader's clients of that gateway.
struct DemoInstance {
    /// `A`, `B`, … when the demo runs several; `nil` when it runs one (its messages then name no gateway).
    let name: String?
    let store: DemoStore
    let gateway: RecordGateway
    let port: Int
    let device: RecordClient
    let reader: RecordClient

    /// The TLS contexts every instance's gateway and clients use.
    struct Contexts {
        let server: TLSContext
        let device: TLSContext
        let reader: TLSContext
    }

    /// Starts the gateway over `store`: devices write, the reader (`readerSAN`) reads and shreds.
    static func start(
        _ name: String?, store: DemoStore, contexts: Contexts, readerSAN: String, say: (String) -> Void
    ) async throws -> DemoInstance {
        let gateway = try await RecordGateway.start(
            host: "127.0.0.1", port: 0,
            configuration: RecordGatewayConfiguration(
                tls: contexts.server, readers: [readerSAN], shredders: [readerSAN]),
            store: store.records, logger: Logger(label: "samdkit.gateway")
        )
        let port = gateway.localAddress.port ?? 0
        say("gateway\(name.map { " " + $0 } ?? ""): listening on 127.0.0.1:\(port), client certificates required")
        return DemoInstance(
            name: name, store: store, gateway: gateway, port: port,
            device: RecordClient(host: "127.0.0.1", port: port, context: contexts.device, serverName: nil),
            reader: RecordClient(host: "127.0.0.1", port: port, context: contexts.reader, serverName: nil))
    }

    /// " through gateway A" — or nothing for the demo's only gateway: what a check says of the way it went.
    var through: String {
        self.name.map { " through gateway \($0)" } ?? ""
    }

    /// The gateway's TLS handshakes so far: its name, succeeded, refused.
    var handshakes: (gateway: String?, succeeded: Int, failed: Int) {
        let statistics = self.gateway.statistics
        return (self.name, statistics.handshakesSucceeded, statistics.handshakesFailed)
    }

    /// Stops the gateway (requests in progress finish), then closes the store.
    func stop() async {
        await self.gateway.stop()
        await self.store.close()
    }

    /// Reads every record through this instance's gateway as the reader: how many came back byte for byte, with
    /// their type, and what the first that did not looked like.
    func readBack(_ files: [Demo.RecordFile]) async throws -> (identical: Int, firstMismatch: String?) {
        var identical = 0
        var mismatch: String?
        for file in files {
            let response = try await self.reader.get(subject: file.subject, recordID: file.recordID)
            if response.status == 200, response.body == file.bytes, response.contentType == file.recordType {
                identical += 1
            } else if mismatch == nil {
                mismatch =
                    "\(file.recordID)\(self.through): HTTP \(response.status), \(response.body.count) bytes, \(response.contentType ?? "no type")"
            }
        }
        return (identical, mismatch)
    }

    /// Runs `job` — synchronous, and blocking on the store — on a thread of its own while the reader reads
    /// records through every instance's gateway in turn, for as long as it runs (at least one round, at most
    /// 10 000): how the gateways served meanwhile.
    static func whileServing<Report: Sendable>(
        _ instances: [DemoInstance], _ files: [Demo.RecordFile], _ job: @escaping @Sendable () throws -> Report
    ) async throws -> (Report, ServedReads) {
        let running = JobFlag()
        let task = Task {
            try await onThreadOfItsOwn {
                defer { running.finish() }
                return try job()
            }
        }
        var reads = ServedReads(names: instances.map(\.name))
        var round = 0
        repeat {
            let file = files[round % files.count]
            for (index, instance) in instances.enumerated() {
                let response = try await instance.reader.get(subject: file.subject, recordID: file.recordID)
                reads.count(index, identical: response.status == 200 && response.body == file.bytes)
            }
            round += 1
        } while running.isRunning && round < 10_000
        return (try await task.value, reads)
    }
}

/// The reads answered through each gateway while a job ran.
struct ServedReads {
    let names: [String?]
    private(set) var served: [Int]
    private(set) var identical = 0

    init(names: [String?]) {
        self.names = names
        self.served = names.map { _ in 0 }
    }

    mutating func count(_ instance: Int, identical: Bool) {
        self.served[instance] += 1
        self.identical += identical ? 1 : 0
    }

    var total: Int { self.served.reduce(0, +) }
    var allIdentical: Bool { self.identical == self.total }

    /// "12 reads answered meanwhile, all identical", or with several gateways "reads answered meanwhile: 6
    /// through A, 6 through B, all identical".
    var description: String {
        let sameness = self.allIdentical ? "all identical" : "\(self.total - self.identical) NOT identical"
        guard self.names.count > 1 else { return "\(self.total) reads answered meanwhile, \(sameness)" }
        let each = zip(self.names, self.served).map { "\($1) through \($0 ?? "?")" }
        return "reads answered meanwhile: \(each.joined(separator: ", ")), \(sameness)"
    }
}

/// Whether a job still runs, shared between its thread and the reads.
final class JobFlag: Sendable {
    private let running = Mutex(true)
    var isRunning: Bool { self.running.withLock { $0 } }
    func finish() { self.running.withLock { $0 = false } }
}
