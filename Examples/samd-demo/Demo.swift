import Foundation
import SaMDCrypto
import SaMDDevPKI
import SaMDEnvelope
import SaMDExampleStorage
import SaMDExampleSupport
import SaMDKeys
import SaMDRecordService
import SaMDStore
import SaMDTLS

struct DemoOptions {
    var recordsDirectory: URL
    var subjectCount: Int
    var workDirectory: String?
    /// `--pkcs11-module`: SoftHSM2's module, for a fresh token holding the KEK and the gateway's TLS key.
    var pkcs11ModulePath: String? = nil
    /// `--postgres`: two instances over a PostgreSQL server the demo starts in its work directory (with a token).
    var postgres = false

    /// SoftHSM2's module where Debian's `softhsm2` installs it: the token of `--postgres` without
    /// `--pkcs11-module`.
    static let softHSMModulePath = "/usr/lib/softhsm/libsofthsm2.so"

    /// The module of the demo's token: `--pkcs11-module`; else, with `--postgres` (a key store in PostgreSQL keeps
    /// its KEKs in a token), SoftHSM2's; else none.
    /// - Throws: `DemoSetupError` (69) when `--postgres` needs SoftHSM2's module and it is not installed.
    func tokenModulePath() throws -> String? {
        if let given = self.pkcs11ModulePath { return given }
        guard self.postgres else { return nil }
        guard FileManager.default.fileExists(atPath: Self.softHSMModulePath) else {
            throw DemoSetupError(
                description:
                    "--postgres keeps the KEK in a SoftHSM2 token (instances sharing a key store in PostgreSQL keep its KEKs in a PKCS #11 token), but SoftHSM2's module is not at \(Self.softHSMModulePath): install softhsm2 (Scripts/setup does) or give its path with --pkcs11-module",
                exitCode: ExitStatus.unavailable)
        }
        return Self.softHSMModulePath
    }
}

/// A demo that could not start (bad input, no room): a message and a sysexits(3) code.
struct DemoSetupError: Error, CustomStringConvertible {
    let description: String
    let exitCode: Int32
}

/// The end-to-end run. Every step records a check; nothing stops at the first failure unless the next step
/// cannot run without it.
///
/// One instance of the service (a store and the gateway in front of it, ``DemoInstance``) over the work
/// directory; with `--postgres`, two — A and B, as two gateway processes — over one PostgreSQL database
/// (``DemoDatabase``): the device uploads through A, the reader reads through B, the key jobs run over A's store
/// while both serve, a shredding through A holds through B at once.
struct Demo {
    let options: DemoOptions
    static let maximumRecordCount = 10_000

    func run(say: @escaping @Sendable (String) -> Void) async throws -> DemoReport {
        var report = DemoReport()
        let files = try self.loadRecords()
        report.recordCount = files.count
        report.byteCount = files.reduce(0) { $0 + $1.bytes.count }
        report.subjectCount = Set(files.map(\.subject)).count
        say(
            "records: \(files.count) files, \(report.byteCount) bytes, from \(self.options.recordsDirectory.path), over \(report.subjectCount) subjects"
        )
        let tokenModulePath = try self.options.tokenModulePath()

        let work = try WorkDirectory(requested: self.options.workDirectory)
        defer { work.removeIfTemporary() }
        say("work directory: \(work.path)\(work.isTemporary ? " (temporary)" : "")")

        // 1. A throw-away PKI (its files kept with the work directory, and PostgreSQL's certificate with
        // --postgres), a key store and the record stores. With --pkcs11-module (and --postgres), a fresh SoftHSM2
        // token in the work directory holds the KEK and the gateway's key.
        let pki = try DevelopmentPKI()
        let pkiFiles = DevelopmentPKIFiles(directory: URL(fileURLWithPath: work.path + "/pki"))
        if !work.isTemporary || self.options.postgres { try pki.write(to: pkiFiles.directory) }
        let readerSAN = try Self.uriSAN(of: pki.reader)
        let token = try tokenModulePath.map { try DemoToken.create(modulePath: $0, in: work) }
        let database = try self.options.postgres ? DemoDatabase.start(in: work, pki: pkiFiles, say: say) : nil
        // Stopped whatever happens below (at the end, explicitly, once the scan has read its files).
        defer { database?.finish() }
        let say = database?.untilInterrupted(say) ?? say
        let stores: [DemoStore]
        if let database, let token {
            stores = try await self.openDatabaseStores(database, token: token, in: work, say: say)
        } else {
            stores = [try self.openDirectoryStore(in: work, token: token, say: say)]
        }
        say(
            "PKI: root, intermediate, gateway (\(DevelopmentPKI.serverSANs.map(\.description).joined(separator: ", "))), device \(try Self.uriSAN(of: pki.device)), reader \(readerSAN)"
        )

        // 2. The gateways on 127.0.0.1, port 0: devices write, the reader reads and shreds.
        let contexts = DemoInstance.Contexts(
            server: try self.gatewayServerContext(pki: pki, token: token, work: work, say: say),
            device: try Self.clientContext(pki.device, root: pki.root),
            reader: try Self.clientContext(pki.reader, root: pki.root))
        let instances = try await Self.startInstances(stores, contexts: contexts, readerSAN: readerSAN, say: say)
        // A uploads, shreds and runs the key jobs; B reads (A does everything when it is alone).
        let writer = instances[0]
        let other = instances[instances.count - 1]
        let shared = instances.count > 1
        let serving = shared ? "both gateways serving" : "the gateway serving"

        do {
            // 3. The device uploads every record.
            var clock = ContinuousClock.now
            var uploaded = 0
            for file in files {
                let response = try await writer.device.put(
                    subject: file.subject, recordID: file.recordID, recordType: file.recordType, body: file.bytes)
                if response.status == 201 {
                    uploaded += 1
                } else {
                    say("  upload of \(file.recordID): HTTP \(response.status)")
                }
            }
            report.uploadSeconds = Self.seconds(since: clock)
            report.check(
                "device uploads \(files.count) records over mutual TLS\(writer.through) (201 each)",
                uploaded == files.count, "\(uploaded) of \(files.count)", say: say)

            let forbidden = try await writer.device.get(subject: files[0].subject, recordID: files[0].recordID)
            report.check(
                "a device certificate may not read (403)", forbidden.status == 403, "HTTP \(forbidden.status)", say: say
            )

            // 4. The reader reads every record back, byte for byte.
            clock = ContinuousClock.now
            let (identical, firstMismatch) = try await other.readBack(files)
            report.readSeconds = Self.seconds(since: clock)
            report.check(
                "reader reads every record back byte for byte\(other.through)", identical == files.count,
                firstMismatch ?? "\(identical) identical", say: say)

            // 5. Rotate the KEK and rewrap the subject keys while the gateways serve (reads go on through each for
            // as long as the job runs; a small store rotates in milliseconds); then destroy the old version.
            let keys = writer.store.keys
            let jobStore = writer.store.records
            let old = try await Self.activeKEK(of: keys)
            let (rotated, rotationReads) = try await DemoInstance.whileServing(instances, files) {
                try KeyRotationJob(store: jobStore, batchSize: 1).run(newKEKVersion: true)
            }
            report.rotationSeconds = rotated.elapsed / .seconds(1)
            report.subjectKeysRewrapped = rotated.rewrapped
            report.check(
                "KEK rotated \(old) → \(rotated.target), \(rotated.subjectKeyCount) subject keys rewrapped with \(serving)",
                rotated.finished && rotated.target.version == old.version + 1 && rotationReads.allIdentical,
                "\(rotated.rewrapped) rewrapped in \(String(format: "%.3f", report.rotationSeconds)) s; \(rotationReads.description)",
                say: say
            )
            _ = try await onThreadOfItsOwn { try keys.destroy(old) }
            var afterDestroy: [(identical: Int, firstMismatch: String?)] = []
            for instance in instances { afterDestroy.append(try await instance.readBack(files)) }
            report.check(
                "after destroying \(old), every record still opens byte for byte\(shared ? " through both gateways" : "")",
                afterDestroy.allSatisfy { $0.identical == files.count },
                afterDestroy.lazy.compactMap(\.firstMismatch).first
                    ?? zip(instances, afterDestroy).map { "\($1.identical) identical\($0.through)" }.joined(
                        separator: ", "),
                say: say)
            if let token {
                // Read back from the token itself: destroy is C_DestroyObject; what remains never left the token.
                let (gone, goneDetail) = token.secretKeyIsGone("\(old)")
                report.check("\(old) is destroyed in the token (C_DestroyObject)", gone, goneDetail, say: say)
                let held =
                    ["\(rotated.target)", PKCS11Custody.indexWrapKeyLabel, PKCS11Custody.metadataMACKeyLabel]
                    .map(token.secretKeyStaysInToken) + [token.gatewayKeyStaysInToken()]
                report.check(
                    "the KEK \(rotated.target), the store's wrap and MAC keys and the gateway's TLS key are in the token: sensitive, never extractable",
                    held.allSatisfy(\.0), held.map(\.1).joined(separator: "; "), say: say)
            }

            // 6. With two instances: re-key every subject (fresh subject-key material, every record's header
            // rewrapped, the old versions destroyed: the recovery from a subject-key compromise) while both serve.
            if shared {
                let (rekeyed, rekeyReads) = try await DemoInstance.whileServing(instances, files) {
                    try SubjectRekeyJob(store: jobStore, batchSize: 1).run()
                }
                report.rekey = (rekeyed.recordsRewrapped, rekeyed.elapsed / .seconds(1))
                report.check(
                    "every subject re-keyed (fresh subject keys, every record rewrapped, old versions destroyed) with \(serving)",
                    rekeyed.finished && rekeyed.recordsRewrapped == files.count && rekeyReads.allIdentical,
                    "\(rekeyed.subjectKeyCount) subject keys, \(rekeyed.recordsRewrapped) records rewrapped, \(rekeyed.versionsDestroyed) old versions destroyed in \(String(format: "%.3f", rekeyed.elapsed / .seconds(1))) s; \(rekeyReads.description)",
                    say: say)
            }

            // 7. Crypto-shred one subject; its records are gone through every gateway at once.
            let victim = files[0].subject
            let shredded = try await writer.reader.shred(subject: victim)
            var gone = 0
            var kept = 0
            for file in files {
                let response = try await other.reader.get(subject: file.subject, recordID: file.recordID)
                if file.subject == victim {
                    gone += response.status == 410 ? 1 : 0
                } else {
                    kept += response.status == 200 && response.body == file.bytes ? 1 : 0
                }
            }
            let victimCount = files.filter { $0.subject == victim }.count
            report.shreddedRecords = victimCount
            report.check(
                "shredding one subject\(writer.through): its \(victimCount) records answer 410 Gone\(other.through), the other \(files.count - victimCount) still open",
                shredded.status == 200 && gone == victimCount && kept == files.count - victimCount,
                "shred HTTP \(shredded.status), \(gone) gone, \(kept) kept",
                say: say
            )

            // 8. A client without a certificate is refused by the handshake.
            let anonymous = RecordClient(
                host: "127.0.0.1", port: writer.port,
                context: try TLSContext(
                    configuration: .client(trustRoots: .pem(Array(pki.root.certificate.certificatePEM.utf8)))),
                serverName: nil)
            var refusal = "connected"
            var refused = false
            do {
                let response = try await anonymous.health()
                refusal = "HTTP \(response.status)"
            } catch let error as TLSError {
                refused = error.code == .certificateRequired
                refusal = "\(error.code)"
            } catch {
                refusal = "\(error)"
            }
            report.check("a client without a certificate is refused (certificateRequired)", refused, refusal, say: say)

            // 9. A device certificate from another CA is refused too, and never retried as a network error.
            let stranger = RecordClient(
                host: "127.0.0.1", port: writer.port,
                context: try Self.clientContext(pki.unknownCADevice, root: pki.root), serverName: nil)
            var strangerRefusal = "connected"
            var strangerRefused = false
            do {
                let response = try await stranger.put(
                    subject: "demo-patient-1", recordID: "intruder", recordType: "text/plain", body: Array("x".utf8))
                strangerRefusal = "HTTP \(response.status)"
            } catch let error as TLSError {
                strangerRefused = error.isCertificateError && !error.isRetryable
                strangerRefusal = "\(error.code)"
            } catch {
                strangerRefusal = "\(error)"
            }
            report.check(
                "a device certificate from an unknown CA is refused", strangerRefused, strangerRefusal, say: say)
        } catch {
            report.check("the demo ran to its end", false, "\(error)", say: say)
        }
        // The KEK versions, for the summary, while the key store is open.
        let versions = (try? await onThreadOfItsOwn { try writer.store.keys.list() }) ?? []
        for instance in instances { await instance.stop() }
        report.handshakes = instances.map(\.handshakes)

        // 10. What the stores wrote: no plaintext, no identifier (DemoScan). Read only now that nothing uses them
        // any more: closing a descriptor of a file drops every POSIX lock this process holds on it, SQLite's
        // included (sqlite.org/howtocorrupt.html §2.2); PostgreSQL first writes every change to its data files.
        // The control: record types are stored in clear, so a scan that cannot find the type of a record still
        // stored is not looking. The shredded subject's rows are deleted, so the control is a record that was
        // kept; when every record was shredded (one subject), SQLite's own header or the records table's name.
        let keptRecord = files.first { $0.subject != files.first?.subject }
        if let database {
            let name = "PostgreSQL's data files and log hold no plaintext and no subject or record id"
            do {
                let scan = try DemoScan.scan(
                    try database.filesAfterCheckpoint(), for: files,
                    control: Array((keptRecord?.recordType ?? "samd_record").utf8))
                report.check(
                    name, scan.passed,
                    scan.failure ?? "\(scan.byteCount) bytes in \(scan.fileCount) files scanned after CHECKPOINT",
                    say: say)
            } catch {
                report.check(name, false, "\(error)", say: say)
            }
        } else {
            let scan = try DemoScan.scan(
                work.files(below: "records"), for: files,
                control: Array((keptRecord?.recordType ?? "SQLite format 3").utf8))
            report.check(
                "the database holds no plaintext and no subject or record id", scan.passed,
                scan.failure ?? "\(scan.byteCount) bytes scanned", say: say)
        }

        if let token {
            report.locations = token.locations(versions: versions)
        }
        if let database {
            report.locations += database.locations
            database.finish()
        }

        // 11. The envelope alone, on the same bytes: seal and open throughput in this process.
        (report.sealMiBPerSecond, report.openMiBPerSecond) = try Self.envelopeThroughput(files.map(\.bytes))
        return report
    }

    // MARK: Steps

    /// Starts one instance per store, named A, B, … when there are several; when one fails, stops those
    /// started and closes the other stores.
    static func startInstances(
        _ stores: [DemoStore], contexts: DemoInstance.Contexts, readerSAN: String, say: (String) -> Void
    ) async throws -> [DemoInstance] {
        let names: [String?] =
            stores.count == 1 ? [nil] : stores.indices.map { String(UnicodeScalar(UInt8(65 + $0))) }
        var instances: [DemoInstance] = []
        do {
            for (name, store) in zip(names, stores) {
                instances.append(
                    try await DemoInstance.start(
                        name, store: store, contexts: contexts, readerSAN: readerSAN, say: say))
            }
        } catch {
            for instance in instances { await instance.stop() }
            for store in stores.dropFirst(instances.count) { await store.close() }
            throw error
        }
        return instances
    }

    /// The active version of the store's KEK, from its metadata (a token store never exports a KEK to seal with).
    static func activeKEK(of keys: FileKeyStore) async throws -> KeyIdentifier {
        let listed = try await onThreadOfItsOwn { try keys.list() }
        guard
            let active = listed.last(where: {
                $0.identifier.name == FileKeyStore.defaultKeyName && $0.state == .active
            })
        else {
            throw DemoSetupError(description: "the key store has no active KEK", exitCode: ExitStatus.software)
        }
        return active.identifier
    }

    /// Seals and opens every record with the envelope under a throw-away KEK; MiB per second each way.
    static func envelopeThroughput(_ records: [[UInt8]]) throws -> (Double, Double) {
        let id = try KeyIdentifier(name: "demo", version: 1)
        let kek = try SecureBytes(randomByteCount: 32)
        let keys = StaticKeyProvider(keys: [id: kek])
        let context = try EncryptionContext([
            ("subject", "demo"), ("record", "throughput"), ("type", "application/octet-stream"),
        ])
        let total = Double(records.reduce(0) { $0 + $1.count }) / 1_048_576
        var clock = ContinuousClock.now
        let sealed = try records.map { try Envelope.seal($0, context: context, to: .keyEncryptionKey(id, kek)) }
        let sealSeconds = Self.seconds(since: clock)
        clock = ContinuousClock.now
        for envelope in sealed { _ = try Envelope.open(envelope, context: context, keys: keys) }
        let openSeconds = Self.seconds(since: clock)
        return (sealSeconds > 0 ? total / sealSeconds : 0, openSeconds > 0 ? total / openSeconds : 0)
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
}
