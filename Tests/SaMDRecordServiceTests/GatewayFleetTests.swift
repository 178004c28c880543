// Two samd-gateway processes over one PostgreSQL database (records, key metadata and subject keys in it, the KEKs
// in one SoftHSM2 token), a rotation process beside them: what one instance writes the other reads, jobs run while
// both serve, processes killed at the worst moments lose nothing, and a database restart is 503s, then recovery.

import Foundation
import SaMDLocalPostgres
import SaMDRecordService
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Two gateway processes over one PostgreSQL database", .serialized)
struct GatewayFleetTests {
    /// A database made for the test (its own PostgreSQL server), a token, and a key store in the database made by
    /// `samd-vault keys init --keystore postgresql://… --kek pkcs11:…`.
    final class Fleet: @unchecked Sendable {
        let work: Harness.TemporaryDirectory
        let server: LocalPostgresServer
        let token: SoftHSMToken

        var url: String { self.server.url }

        init() async throws {
            let work = try Harness.TemporaryDirectory("samd-fleet")
            let pki = Harness.pki
            chmod(work.path, 0o755)
            let server = try LocalPostgresServer.start(
                in: work.file("postgres"), certificatePath: pki.cert("server"), keyPath: pki.key("server"),
                certificateAuthorityPath: pki.root)
            let token: SoftHSMToken
            do {
                token = try await SoftHSMToken.create()
            } catch {
                server.remove()
                throw error
            }
            self.work = work
            self.server = server
            self.token = token
            let run = try await ChildProcess.run(
                try ProgramLocations.binary("samd-vault"),
                ["keys", "init", "--keystore", self.url, "--kek", token.uri(object: "records")],
                environment: self.environment, timeout: .seconds(60))
            // A one-shot command does not log its database connections' TLS handshakes nor its key store's
            // listener (info) among its output.
            guard run.status == 0, run.output.contains("created key store postgresql://"),
                !(run.output + run.standardError).contains("samd.tls.handshake"),
                !(run.output + run.standardError).contains("keys-listening")
            else {
                self.remove()
                throw SetupFailure("samd-vault keys init in PostgreSQL failed: \(run)")
            }
        }

        /// The token's SOFTHSM2_CONF, its PIN, and the database's password file.
        var environment: [String: String] {
            self.token.environment.merging([
                "SAMD_PKCS11_PIN": SoftHSMToken.testPIN, "PGPASSFILE": self.server.passwordFile,
            ]) { $1 }
        }

        func remove() {
            self.server.remove()
            self.token.remove()
        }

        /// A gateway over the database.
        func gateway() async throws -> Harness.GatewayProcess {
            let pki = Harness.pki
            return try await Harness.GatewayProcess(
                [
                    "--cert", pki.cert("server"), "--key", pki.key("server"), "--ca", pki.root, "--store", self.url,
                    "--keystore", self.url, "--reader", TestPKI.readerURI, "--shredder", Harness.shredderURI,
                ], environment: self.environment)
        }

        /// `samd-gateway rotate` over the database, started (not awaited).
        func rotation(_ extra: [String]) throws -> ChildProcess {
            try ChildProcess(
                try ProgramLocations.binary("samd-gateway"),
                ["rotate", "--store", self.url, "--keystore", self.url] + extra, environment: self.environment)
        }
    }

    /// A device, a reader and a shredder of one gateway.
    struct Clients {
        let device: RecordClient
        let reader: RecordClient
        let shredder: RecordClient

        init(_ gateway: Harness.GatewayProcess) throws {
            self.device = RecordClient(
                host: "127.0.0.1", port: gateway.port, context: try Harness.clientContext("device"))
            self.reader = RecordClient(
                host: "127.0.0.1", port: gateway.port, context: try Harness.clientContext("reader"))
            self.shredder = RecordClient(
                host: "127.0.0.1", port: gateway.port, context: try Harness.clientContext("shredder"))
        }

        func close() async {
            await self.device.close()
            await self.reader.close()
            await self.shredder.close()
        }
    }

    static func payload(_ index: Int) -> [UInt8] {
        Array(
            #"{"resourceType":"Observation","id":"obs-\#(index)","valueQuantity":{"value":\#(90 + index % 10)}}"#.utf8)
    }

    /// A mistyped --store once pointed `rotate --rekey-subjects` at an empty database beside the key store's: it
    /// made the record tables there, found no record of any subject, destroyed every subject's old key version
    /// and exited 0 — every record of the real store lost (410). Two databases are refused, and rotate makes
    /// nothing in a database without a store.
    @Test("rotate refuses --store in another database than --keystore (64), and a database without a store (66)")
    func rotateRefusesAnotherOrAnEmptyDatabase() async throws {
        let fleet = try await Fleet()
        defer { fleet.remove() }
        try fleet.server.createDatabase("mistyped")
        let mistyped = fleet.server.url(database: "mistyped")
        for (store, keystore, status) in [(mistyped, fleet.url, Int32(64)), (mistyped, mistyped, Int32(66))] {
            let run = try await ChildProcess.run(
                try ProgramLocations.binary("samd-gateway"),
                ["rotate", "--store", store, "--keystore", keystore, "--new-version", "--rekey-subjects"],
                environment: fleet.environment, timeout: .seconds(60))
            #expect(run.status == status, "\(run)")
        }
        let tables = try fleet.server.administer(
            "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'samd_%'", database: "mistyped")
        #expect(tables.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "rotate made tables: \(tables)")
        // The key store's own database is untouched: still one KEK version.
        let versions = try fleet.server.administer("SELECT count(*) FROM samd_subject_key")
        #expect(versions.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
    }

    @Test(
        "written through one gateway, read through the other; a rotation and a re-key while both serve writes; a shred through one is 410 through the other"
    )
    func twoGatewaysOneDatabase() async throws {
        let fleet = try await Fleet()
        defer { fleet.remove() }
        let gateways = [try await fleet.gateway(), try await fleet.gateway()]
        defer { for gateway in gateways { gateway.stop() } }
        let clients = try gateways.map(Clients.init)
        var written: [Int] = []
        for index in 0..<24 {
            let put = try await clients[index % 2].device.put(
                subject: "patient-\(index % 6)", recordID: "obs-\(index)", recordType: "application/fhir+json",
                body: Self.payload(index))
            #expect(put.status == 201, "\(put)")
            written.append(index)
        }
        for index in written {
            let read = try await clients[(index + 1) % 2].reader.get(
                subject: "patient-\(index % 6)", recordID: "obs-\(index)")
            #expect(read.status == 200 && read.body == Self.payload(index), "obs-\(index): \(read.status)")
        }

        // A rotation, then a re-key, in another process, while both gateways take writes and reads.
        let rotation = try fleet.rotation(["--new-version", "--rekey-subjects", "--batch-size", "1"])
        var index = written.count
        var failures: [String] = []
        var during = 0
        while rotation.isRunning, during < 400 {
            let client = clients[index % 2]
            let put = try await client.device.put(
                subject: "patient-\(index % 6)", recordID: "obs-\(index)", recordType: "application/fhir+json",
                body: Self.payload(index))
            if put.status == 201 { written.append(index) } else { failures.append("PUT obs-\(index): \(put.status)") }
            let old = written[during % written.count]
            let read = try await clients[(index + 1) % 2].reader.get(
                subject: "patient-\(old % 6)", recordID: "obs-\(old)")
            if read.status != 200 || read.body != Self.payload(old) {
                failures.append("GET obs-\(old): \(read.status)")
            }
            index += 1
            during += 1
        }
        #expect(await rotation.waitForExit(timeout: .seconds(120)) == 0, "\(rotation.standardError.text)")
        let output = rotation.standardOutput.text
        #expect(output.contains("rotation finished: records:2"), "\(output)")
        #expect(output.contains("re-key finished: 6 subjects"), "\(output)")
        #expect(failures.isEmpty, "\(failures.prefix(5))")
        #expect(during > 0)
        for index in written {
            for client in clients {
                let read = try await client.reader.get(subject: "patient-\(index % 6)", recordID: "obs-\(index)")
                #expect(read.status == 200 && read.body == Self.payload(index), "obs-\(index): \(read.status)")
            }
        }

        // A shredding through one gateway holds through the other at once.
        let shred = try await clients[0].shredder.shred(subject: "patient-0")
        #expect(shred.status == 200, "\(shred)")
        for index in written where index % 6 == 0 {
            #expect(try await clients[1].reader.get(subject: "patient-0", recordID: "obs-\(index)").status == 410)
        }
        #expect(try await clients[1].reader.get(subject: "patient-1", recordID: "obs-1").status == 200)
        for client in clients { await client.close() }
    }

    @Test(
        "a gateway SIGKILLed mid-request and the rotation SIGKILLed mid-batch: nothing acknowledged is lost, the rerun finishes"
    )
    func killedProcesses() async throws {
        let fleet = try await Fleet()
        defer { fleet.remove() }
        let first = try await fleet.gateway()
        let survivor = try await fleet.gateway()
        defer {
            first.stop()
            survivor.stop()
        }
        let clients = try Clients(first)
        let survivors = try Clients(survivor)
        for index in 0..<30 {
            let put = try await clients.device.put(
                subject: "patient-\(index % 10)", recordID: "obs-\(index)", body: Self.payload(index))
            #expect(put.status == 201, "\(put)")
        }
        // A large upload in flight through the first gateway when it is killed.
        let large = [UInt8](repeating: 0x5a, count: 24 << 20)
        let upload = Task {
            try? await clients.device.put(subject: "patient-large", recordID: "scan", body: large)
        }
        try await Task.sleep(for: .milliseconds(150))
        kill(first.child.processIdentifier, SIGKILL)
        _ = await upload.value
        let scan = try await survivors.reader.get(subject: "patient-large", recordID: "scan")
        #expect(scan.status == 404 || (scan.status == 200 && scan.body == large), "half-written: \(scan.status)")

        // The rotation killed after its first committed batch, then run again: it resumes and finishes.
        let rotation = try fleet.rotation(["--new-version", "--rekey-subjects", "--batch-size", "1"])
        let batched = await rotation.waitForStandardOutput(containing: "re-key: ", timeout: .seconds(60))
        #expect(batched, "\(rotation.standardOutput.text)\(rotation.standardError.text)")
        rotation.signal(SIGKILL)
        _ = await rotation.waitForExit(timeout: .seconds(10))
        let rerun = try fleet.rotation(["--new-version", "--rekey-subjects", "--batch-size", "4"])
        #expect(await rerun.waitForExit(timeout: .seconds(120)) == 0, "\(rerun.standardError.text)")
        #expect(rerun.standardOutput.text.contains("re-key finished"), "\(rerun.standardOutput.text)")
        #expect(rerun.standardError.text.contains("samd.store.rekey-resumed"), "\(rerun.standardError.text)")
        // Its locks' unlocks reach the server before its pool closes: no release failure logged at its end.
        #expect(!rerun.standardError.text.contains("keys-lock-release-failed"), "\(rerun.standardError.text)")
        for index in 0..<30 {
            let read = try await survivors.reader.get(subject: "patient-\(index % 10)", recordID: "obs-\(index)")
            #expect(read.status == 200 && read.body == Self.payload(index), "obs-\(index): \(read.status)")
        }
        #expect(
            try await survivors.device.put(subject: "patient-1", recordID: "after", body: [1]).status == 201)
        await clients.close()
        await survivors.close()
    }

    @Test(
        "PostgreSQL restarted under both gateways: 503 with Retry-After while it is down, then both serve again by themselves"
    )
    func databaseRestart() async throws {
        let fleet = try await Fleet()
        defer { fleet.remove() }
        let gateways = [try await fleet.gateway(), try await fleet.gateway()]
        defer { for gateway in gateways { gateway.stop() } }
        let clients = try gateways.map(Clients.init)
        #expect(try await clients[0].device.put(subject: "patient-1", recordID: "r", body: [1, 2, 3]).status == 201)
        try fleet.server.stop()
        // Seen by an independent client: the status and its Retry-After.
        let pki = Harness.pki
        let curl = try await ChildProcess.run(
            try ProgramLocations.requiredTool("curl"),
            [
                "--silent", "--show-error", "--max-time", "60", "--cacert", pki.root, "--cert", pki.cert("device"),
                "--key", pki.key("device"), "-X", "PUT", "-H", "Content-Type: application/fhir+json", "--data-binary",
                "{}", "-D", "-", "-o", "/dev/null", "https://127.0.0.1:\(gateways[1].port)/records/patient-3/r",
            ], timeout: .seconds(90))
        #expect(curl.output.hasPrefix("HTTP/1.1 503"), "\(curl)")
        #expect(curl.output.lowercased().contains("\r\nretry-after: 2\r\n"), "\(curl)")
        for client in clients {
            let put = try await client.device.put(subject: "patient-2", recordID: "r", body: [4])
            #expect(put.status == 503, "\(put)")
            #expect(put.errorCode == "unavailable")
            let get = try await client.reader.get(subject: "patient-1", recordID: "r")
            #expect(get.status == 503, "\(get)")
        }
        try fleet.server.start()
        for client in clients {
            let recovered = await eventually(timeout: 30) {
                (try? await client.reader.get(subject: "patient-1", recordID: "r"))?.status == 200
            }
            #expect(recovered)
        }
        for (number, client) in clients.enumerated() {
            #expect(try await client.device.put(subject: "patient-2", recordID: "r\(number)", body: [4]).status == 201)
        }
        #expect(gateways.allSatisfy { $0.child.isRunning })
        for client in clients { await client.close() }
    }
}
