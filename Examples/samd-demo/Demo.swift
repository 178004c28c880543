import Foundation
import Logging
import NIOCore
import SaMDCrypto
import SaMDDevPKI
import SaMDEnvelope
import SaMDExampleSupport
import SaMDKeys
import SaMDOpenSSLSupport
import SaMDRecordGateway
import SaMDRecordService
import SaMDStore
import SaMDTLS
import Synchronization

struct DemoOptions {
    var recordsDirectory: URL
    var subjectCount: Int
    var workDirectory: String?
    /// `--pkcs11-module`: SoftHSM2's module, for a fresh token holding the KEK and the gateway's TLS key.
    var pkcs11ModulePath: String? = nil
}

/// A demo that could not start (bad input, no room): a message and a sysexits(3) code.
struct DemoSetupError: Error, CustomStringConvertible {
    let description: String
    let exitCode: Int32
}

/// The end-to-end run. Every step records a check; nothing stops at the first failure unless the next step
/// cannot run without it.
struct Demo {
    let options: DemoOptions
    static let maximumRecordCount = 10_000

    func run(say: (String) -> Void) async throws -> DemoReport {
        var report = DemoReport()
        let files = try self.loadRecords()
        report.recordCount = files.count
        report.byteCount = files.reduce(0) { $0 + $1.bytes.count }
        report.subjectCount = Set(files.map(\.subject)).count
        say(
            "records: \(files.count) files, \(report.byteCount) bytes, from \(self.options.recordsDirectory.path), over \(report.subjectCount) subjects"
        )

        let work = try WorkDirectory(requested: self.options.workDirectory)
        defer { work.removeIfTemporary() }
        say("work directory: \(work.path)\(work.isTemporary ? " (temporary)" : "")")

        // 1. A throw-away PKI and key store.
        let pki = try DevelopmentPKI()
        if !work.isTemporary { _ = try pki.write(to: URL(fileURLWithPath: work.path + "/pki")) }
        let readerSAN = try Self.uriSAN(of: pki.reader)
        // A random passphrase; kept beside the store (0600) only when the work directory is kept, so that the
        // store can be opened again (`samd-vault --passphrase-file`, `samd-gateway --passphrase-file`).
        // With --pkcs11-module, a fresh SoftHSM2 token in the work directory holds the KEK and the gateway's key.
        let token = try self.options.pkcs11ModulePath.map { try DemoToken.create(modulePath: $0, in: work) }
        let keyStore: FileKeyStore
        if let token {
            keyStore = try FileKeyStore.create(
                at: work.path + "/keys", custody: token.custody, logger: Logger(label: "samdkit.keys"))
            say(
                "key store: KEK records:1 generated in PKCS #11 token \(DemoToken.label) (\(escapingControlCharacters(token.modulePath))); its PINs in \(work.path)/token-user-pin and token-so-pin (0600)"
            )
        } else {
            let passphraseText = try SecureRandom.bytes(count: 24).map { String(format: "%02x", $0) }.joined()
            let passphrase = try SecureBytes(copying: Array(passphraseText.utf8))
            if !work.isTemporary { try work.writePrivate(passphraseText + "\n", to: "passphrase") }
            keyStore = try FileKeyStore.create(
                at: work.path + "/keys", passphrase: passphrase, kdf: .interactive,
                logger: Logger(label: "samdkit.keys"))
        }
        let store = try EncryptedRecordStore(
            directory: work.path + "/records", keyStore: keyStore, logger: Logger(label: "samdkit.store"))
        say(
            "PKI: root, intermediate, gateway (\(DevelopmentPKI.serverSANs.map(\.description).joined(separator: ", "))), device \(try Self.uriSAN(of: pki.device)), reader \(readerSAN)"
        )

        // 2. The gateway on 127.0.0.1, port 0: devices write, the reader reads and shreds.
        let gatewayIdentity: TLSIdentitySource
        if let token {
            // The gateway's certificate, for the public key the token returned; the private key stays there.
            let certificate = try pki.intermediate.issueLeaf(
                forPublicKey: token.gatewayKey.subjectPublicKeyInfo, commonName: "gateway.test",
                sans: DevelopmentPKI.serverSANs, ekus: [.serverAuth])
            if !work.isTemporary { try work.writePrivate(certificate.chainPEM, to: "gateway-token-chain.pem") }
            gatewayIdentity = token.gatewayIdentity(certificateChainPEM: certificate.chainPEM)
            say(
                "gateway TLS key: EC P-256 pair \(DemoToken.gatewayKeyLabel) generated in token \(DemoToken.label); its certificate issued for the token's public key"
            )
        } else {
            gatewayIdentity = .pem(
                certificateChain: Array(pki.server.chainPEM.utf8), privateKey: Array(pki.server.privateKeyPEM.utf8))
        }
        let serverContext = try TLSContext(
            configuration: .gatewayServer(
                identity: gatewayIdentity, clientTrustRoots: .pem(Array(pki.root.certificate.certificatePEM.utf8))
            ))
        let gateway = try await RecordGateway.start(
            host: "127.0.0.1", port: 0,
            configuration: RecordGatewayConfiguration(tls: serverContext, readers: [readerSAN], shredders: [readerSAN]),
            store: store, logger: Logger(label: "samdkit.gateway")
        )
        let port = gateway.localAddress.port ?? 0
        say("gateway: listening on 127.0.0.1:\(port), client certificates required")
        let device = RecordClient(
            host: "127.0.0.1", port: port, context: try Self.clientContext(pki.device, root: pki.root), serverName: nil)
        let reader = RecordClient(
            host: "127.0.0.1", port: port, context: try Self.clientContext(pki.reader, root: pki.root), serverName: nil)

        do {
            // 3. The device uploads every record.
            var clock = ContinuousClock.now
            var uploaded = 0
            for file in files {
                let response = try await device.put(
                    subject: file.subject, recordID: file.recordID, recordType: file.recordType, body: file.bytes)
                if response.status == 201 {
                    uploaded += 1
                } else {
                    say("  upload of \(file.recordID): HTTP \(response.status)")
                }
            }
            report.uploadSeconds = Self.seconds(since: clock)
            report.check(
                "device uploads \(files.count) records over mutual TLS (201 each)", uploaded == files.count,
                "\(uploaded) of \(files.count)", say: say)

            let forbidden = try await device.get(subject: files[0].subject, recordID: files[0].recordID)
            report.check(
                "a device certificate may not read (403)", forbidden.status == 403, "HTTP \(forbidden.status)", say: say
            )

            // 4. The reader reads every record back, byte for byte.
            clock = ContinuousClock.now
            let (identical, firstMismatch) = try await Self.readBack(files, with: reader)
            report.readSeconds = Self.seconds(since: clock)
            report.check(
                "reader reads every record back byte for byte", identical == files.count,
                firstMismatch ?? "\(identical) identical", say: say)

            // 5. Rotate the KEK and rewrap the store while the gateway serves; then destroy the old version.
            // The active KEK version, from the store's metadata (a token store never exports a KEK to seal with).
            guard
                let old = try keyStore.list().last(where: {
                    $0.identifier.name == FileKeyStore.defaultKeyName && $0.state == .active
                })?.identifier
            else {
                throw DemoSetupError(description: "the key store has no active KEK", exitCode: ExitStatus.software)
            }
            // Reads go on through the gateway for as long as the job runs; how many were answered meanwhile is
            // reported (a small store rotates in milliseconds).
            let rotating = RotationFlag()
            let rotation = Task.detached {
                defer { rotating.finish() }
                return try KeyRotationJob(store: store, batchSize: 1).run(newKEKVersion: true)
            }
            var servedDuringRotation = 0
            var identicalDuringRotation = 0
            repeat {
                let file = files[servedDuringRotation % files.count]
                let response = try await reader.get(subject: file.subject, recordID: file.recordID)
                servedDuringRotation += 1
                identicalDuringRotation += response.status == 200 && response.body == file.bytes ? 1 : 0
            } while rotating.isRunning && servedDuringRotation < 10_000
            let rotated = try await rotation.value
            report.rotationSeconds = rotated.elapsed / .seconds(1)
            report.subjectKeysRewrapped = rotated.rewrapped
            report.check(
                "KEK rotated \(old) → \(rotated.target), \(rotated.subjectKeyCount) subject keys rewrapped with the gateway serving",
                rotated.finished && rotated.target.version == old.version + 1
                    && identicalDuringRotation == servedDuringRotation,
                "\(rotated.rewrapped) rewrapped in \(String(format: "%.3f", rotated.elapsed / .seconds(1))) s; \(servedDuringRotation) reads answered meanwhile, all identical",
                say: say
            )
            _ = try keyStore.destroy(old)
            let (afterRotation, mismatch) = try await Self.readBack(files, with: reader)
            report.check(
                "after destroying \(old), every record still opens byte for byte", afterRotation == files.count,
                mismatch ?? "\(afterRotation) identical", say: say)
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

            // 6. Crypto-shred one subject.
            let victim = files[0].subject
            let shredded = try await reader.shred(subject: victim)
            var gone = 0
            var kept = 0
            for file in files {
                let response = try await reader.get(subject: file.subject, recordID: file.recordID)
                if file.subject == victim {
                    gone += response.status == 410 ? 1 : 0
                } else {
                    kept += response.status == 200 && response.body == file.bytes ? 1 : 0
                }
            }
            let victimCount = files.filter { $0.subject == victim }.count
            report.shreddedRecords = victimCount
            report.check(
                "shredding one subject: its \(victimCount) records answer 410 Gone, the other \(files.count - victimCount) still open",
                shredded.status == 200 && gone == victimCount && kept == files.count - victimCount,
                "shred HTTP \(shredded.status), \(gone) gone, \(kept) kept",
                say: say
            )

            // 7. A client without a certificate is refused by the handshake.
            let anonymous = RecordClient(
                host: "127.0.0.1", port: port,
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

            // 8. A device certificate from another CA is refused too, and never retried as a network error.
            let stranger = RecordClient(
                host: "127.0.0.1", port: port, context: try Self.clientContext(pki.unknownCADevice, root: pki.root),
                serverName: nil)
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
        await gateway.stop()
        let statistics = gateway.statistics

        // What is on disk: no plaintext, no identifier — the database, its WAL and shared memory. Read only now
        // that nothing uses the store any more: closing a descriptor of a file drops every POSIX lock this
        // process holds on it, SQLite's included (sqlite.org/howtocorrupt.html §2.2).
        let onDisk = try work.bytes(below: "records")
        let leaks = files.filter { file in
            onDisk.containsSequence(Array(file.subject.utf8)) || onDisk.containsSequence(Array(file.recordID.utf8))
                || Self.plaintextProbes(file.bytes).contains { onDisk.containsSequence($0) }
        }
        // The control: record types are stored in clear, so a scan that cannot find the type of a record still
        // stored is not looking. The shredded subject's rows are deleted (and their pages zeroed), so the
        // control is a record that was kept; when every record was shredded (one subject), SQLite's own header.
        let shreddedSubject = files.first?.subject
        let control =
            if let kept = files.first(where: { $0.subject != shreddedSubject }) {
                onDisk.containsSequence(Array(kept.recordType.utf8))
            } else {
                onDisk.containsSequence(Array("SQLite format 3".utf8))
            }
        report.check(
            "the database holds no plaintext and no subject or record id",
            leaks.isEmpty && control,
            leaks.first.map { "found data of \($0.recordID)" }
                ?? (control
                    ? "\(onDisk.count) bytes scanned" : "the scan did not find the record type stored in clear"),
            say: say
        )

        if let token {
            let objects = ((try? keyStore.list()) ?? []).map { "\($0.identifier) \($0.state)" }
            report.keyLocations = [
                (
                    "KEK custody",
                    "PKCS #11 token \(DemoToken.label), module \(escapingControlCharacters(token.modulePath)) (\(escapingControlCharacters(token.module.information.manufacturer)) \(token.module.information.libraryVersion))"
                ),
                (
                    "KEK objects in the token",
                    "AES-256 KEKs \(objects.joined(separator: ", ")) (a destroyed one is gone from the token); \(PKCS11Custody.indexWrapKeyLabel), \(PKCS11Custody.metadataMACKeyLabel)"
                ),
                ("gateway TLS key in the token", "\(DemoToken.gatewayKeyLabel): EC P-256, signs every handshake there"),
                ("KEK and TLS key outside the token", "never: generated inside it, sensitive, never extractable"),
                (
                    "records sealed under",
                    "per-subject keys wrapped by the token's KEK (CKM_AES_GCM in the token); a token KEK never seals records directly"
                ),
            ]
        }
        report.handshakesSucceeded = statistics.handshakesSucceeded
        report.handshakesFailed = statistics.handshakesFailed

        // 9. The envelope alone, on the same bytes: seal and open throughput in this process.
        (report.sealMiBPerSecond, report.openMiBPerSecond) = try Self.envelopeThroughput(files.map(\.bytes))
        return report
    }

    // MARK: Steps

    struct RecordFile {
        let recordID: String
        let subject: String
        let recordType: String
        let bytes: [UInt8]
    }

    func loadRecords() throws -> [RecordFile] {
        let root = self.options.recordsDirectory.standardizedFileURL
        guard
            let enumerator = FileManager.default.enumerator(
                at: root, includingPropertiesForKeys: [.isRegularFileKey, .fileSizeKey], options: [.skipsHiddenFiles])
        else {
            throw DemoSetupError(description: "cannot read \(root.path)", exitCode: ExitStatus.noInput)
        }
        var paths: [(String, URL)] = []
        for case let found as URL in enumerator {
            // A link is followed to what it names; only regular files are records.
            let url = found.resolvingSymlinksInPath()
            let values = try url.resourceValues(forKeys: [.isRegularFileKey, .fileSizeKey])
            guard values.isRegularFile == true else { continue }
            guard (values.fileSize ?? 0) <= RecordGatewayConfiguration.defaultMaximumBodyByteCount else {
                throw DemoSetupError(
                    description:
                        "\(url.path) is larger than a record may be (\(RecordGatewayConfiguration.defaultMaximumBodyByteCount) bytes)",
                    exitCode: ExitStatus.dataError)
            }
            paths.append((String(found.standardizedFileURL.path.dropFirst(root.path.count + 1)), url))
        }
        guard !paths.isEmpty else {
            throw DemoSetupError(description: "no records in \(root.path)", exitCode: ExitStatus.noInput)
        }
        guard paths.count <= Self.maximumRecordCount else {
            throw DemoSetupError(
                description: "more than \(Self.maximumRecordCount) files in \(root.path)",
                exitCode: ExitStatus.dataError)
        }
        return try paths.sorted { $0.0 < $1.0 }.enumerated().map { index, entry in
            RecordFile(
                recordID: entry.0,
                subject: "demo-patient-\(index % self.options.subjectCount + 1)",
                recordType: RecordTypes.recordType(forFileName: entry.1.lastPathComponent),
                bytes: Array(try Data(contentsOf: entry.1))
            )
        }
    }

    /// Pieces of a record to look for in the database files: 32 bytes from its start, middle and end (the whole
    /// record when it is shorter than 32 bytes; nothing under 12 bytes, which could occur by chance).
    /// A window with fewer than 8 distinct byte values (a run of zeros, padding) is left out: such bytes occur
    /// in any database file.
    static func plaintextProbes(_ bytes: [UInt8]) -> [[UInt8]] {
        guard bytes.count >= 12 else { return [] }
        let windows =
            bytes.count > 32
            ? [0, (bytes.count - 32) / 2, bytes.count - 32].map { Array(bytes[$0..<$0 + 32]) } : [bytes]
        return windows.filter { Set($0).count >= min(8, $0.count / 2) }
    }

    static func readBack(_ files: [RecordFile], with reader: RecordClient) async throws -> (Int, String?) {
        var identical = 0
        var mismatch: String?
        for file in files {
            let response = try await reader.get(subject: file.subject, recordID: file.recordID)
            if response.status == 200, response.body == file.bytes, response.contentType == file.recordType {
                identical += 1
            } else if mismatch == nil {
                mismatch =
                    "\(file.recordID): HTTP \(response.status), \(response.body.count) bytes, \(response.contentType ?? "no type")"
            }
        }
        return (identical, mismatch)
    }

    static func clientContext(_ certificate: DevelopmentCertificate, root: DevelopmentCertificateAuthority) throws
        -> TLSContext
    {
        try TLSContext(
            configuration: .deviceClient(
                identity: .pem(
                    certificateChain: Array(certificate.chainPEM.utf8),
                    privateKey: Array(certificate.privateKeyPEM.utf8)),
                trustRoots: .pem(Array(root.certificate.certificatePEM.utf8))
            ))
    }

    static func uriSAN(of certificate: DevelopmentCertificate) throws -> String {
        for name in certificate.subjectAlternativeNames {
            if case .uri(let value) = name { return value }
        }
        throw DemoSetupError(
            description: "the development certificate \(certificate.subject) has no URI SAN",
            exitCode: ExitStatus.software)
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

/// The demo's private directory: a temporary one removed at the end, or the one asked for (kept).
struct WorkDirectory {
    let path: String
    let isTemporary: Bool

    init(requested: String?) throws {
        if let requested {
            guard !FileManager.default.fileExists(atPath: requested) else {
                throw DemoSetupError(
                    description: "\(requested) exists; the demo writes only into a new directory",
                    exitCode: ExitStatus.cannotCreate)
            }
            self.path = requested
            self.isTemporary = false
        } else {
            self.path =
                FileManager.default.temporaryDirectory.appendingPathComponent("samd-demo-\(UUID().uuidString)").path
            self.isTemporary = true
        }
        do {
            try FileManager.default.createDirectory(
                atPath: self.path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw DemoSetupError(
                description: "cannot create \(self.path): \(error.localizedDescription)",
                exitCode: ExitStatus.cannotCreate)
        }
    }

    /// Every byte of every regular file below `sub`, at any depth.
    func bytes(below sub: String) throws -> [UInt8] {
        var bytes: [UInt8] = []
        let root = URL(fileURLWithPath: self.path + "/" + sub)
        let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey])
        for case let url as URL in enumerator ?? FileManager.DirectoryEnumerator()
        where (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
            bytes += Array(try Data(contentsOf: url))
        }
        return bytes
    }

    /// Writes `text` to `name` in the work directory, created 0600.
    func writePrivate(_ text: String, to name: String) throws {
        let path = self.path + "/" + name
        guard
            FileManager.default.createFile(
                atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        else {
            throw DemoSetupError(description: "cannot write \(path)", exitCode: ExitStatus.cannotCreate)
        }
    }

    func removeIfTemporary() {
        if self.isTemporary { try? FileManager.default.removeItem(atPath: self.path) }
    }
}

extension [UInt8] {
    /// Whether `needle` occurs anywhere in these bytes (Foundation's search, compiled optimised).
    func containsSequence(_ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= self.count else { return false }
        return Data(self).range(of: Data(needle)) != nil
    }
}

/// Whether the rotation job still runs, shared between its task and the reads.
final class RotationFlag: Sendable {
    private let running = Mutex(true)
    var isRunning: Bool { self.running.withLock { $0 } }
    func finish() { self.running.withLock { $0 = false } }
}
