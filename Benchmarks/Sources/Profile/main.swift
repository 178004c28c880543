// A plain loop over one hot path, for profilers (perf record, valgrind --tool=callgrind) that want one
// process doing one thing, without package-benchmark's harness around it:
//   .build/release/Profile seal 1024 20000
//   valgrind --tool=callgrind .build/release/Profile rewrap 0 2000
//   .build/release/Profile handshake 0 200          (SaMDKit TLSHandler pair on EmbeddedChannels)
//   .build/release/Profile handshake-resumed 0 200  (the same, each resuming the previous session)
//   .build/release/Profile handshake-openssl 0 200  (OpenSSL called directly, in-memory BIO pair)
//   .build/release/Profile rekey 5000 5             (SubjectRekeyJob over 5 000 records of 1 KiB, 100 per
//                                                    patient, run 5 times; prints each run's time)
import Foundation
import Logging
import NIOCore
import NIOEmbedded
import SaMDCrypto
import SaMDDevPKI
import SaMDEnvelope
import SaMDKeys
import SaMDStore
import SaMDTLS
import TLSReference

#if canImport(Glibc)
    import Glibc
#endif

let arguments = CommandLine.arguments
guard arguments.count == 4, let size = Int(arguments[2]), let count = Int(arguments[3]), size >= 0, count > 0 else {
    print("usage: Profile seal|open|rewrap|handshake|handshake-resumed|handshake-openssl|rekey SIZE COUNT")
    exit(64)
}
if arguments[1] == "rekey" {
    try profileRekey(records: size, runs: count)
    exit(0)
}
if arguments[1].hasPrefix("handshake") {
    try profileHandshakes(
        count, openSSLOnly: arguments[1] == "handshake-openssl", resuming: arguments[1] == "handshake-resumed")
    exit(0)
}
let identifier = try KeyIdentifier(name: "records-kek", version: 1)
let newIdentifier = try KeyIdentifier(name: "records-kek", version: 2)
let kek = try SecureBytes(randomByteCount: 32)
let newKEK = try SecureBytes(randomByteCount: 32)
let keys = StaticKeyProvider(keys: [identifier: kek])
let context = try EncryptionContext([
    ("subject", "patient-1"), ("record", "record-1"), ("type", "application/fhir+json"),
])
let plaintext = [UInt8](repeating: 0x42, count: size)
let sealed = try Envelope.seal(plaintext, context: context, to: .keyEncryptionKey(identifier, kek))
var checksum = 0
switch arguments[1] {
case "seal":
    for _ in 0..<count {
        checksum &+= try Envelope.seal(plaintext, context: context, to: .keyEncryptionKey(identifier, kek)).count
    }
case "open":
    for _ in 0..<count {
        checksum &+= try Envelope.open(sealed, context: context, keys: keys).count
    }
case "rewrap":
    let header = try EnvelopeHeader.parse(sealed)
    for _ in 0..<count {
        checksum &+= try Envelope.rewrapHeader(header, keys: keys, to: .keyEncryptionKey(newIdentifier, newKEK))
            .byteCount
    }
default:
    print("usage: Profile seal|open|rewrap|handshake|handshake-resumed|handshake-openssl|rekey SIZE COUNT")
    exit(64)
}
print(checksum)

/// Full TLS 1.3 mTLS handshakes, both ends in this thread: SaMDKit's handlers on two EmbeddedChannels, or
/// OpenSSL called directly.
func profileHandshakes(_ count: Int, openSSLOnly: Bool, resuming: Bool) throws {
    let pki = try DevelopmentPKI()
    if openSSLOnly {
        let raw = try RawOpenSSLHandshake(
            serverChain: pki.server.chainPEM, serverKey: pki.server.privateKeyPEM,
            clientChain: pki.device.chainPEM, clientKey: pki.device.privateKeyPEM,
            root: pki.root.certificate.certificatePEM
        )
        for _ in 0..<count { try raw.handshake() }
        print("\(count) raw OpenSSL handshakes")
        return
    }
    let root = Array(pki.root.certificate.certificatePEM.utf8)
    // PROFILE_LOG_LEVEL=info keeps the per-handshake security events (as a deployment logs them).
    var logger = Logger(label: "samdkit.tls")
    logger.logLevel =
        Logger.Level(rawValue: ProcessInfo.processInfo.environment["PROFILE_LOG_LEVEL"] ?? "warning") ?? .warning
    let server = try TLSContext(
        configuration: .gatewayServer(
            identity: .pem(
                certificateChain: Array(pki.server.chainPEM.utf8), privateKey: Array(pki.server.privateKeyPEM.utf8)),
            clientTrustRoots: .pem(root)
        ), logger: logger)
    var clientConfiguration = TLSConfiguration.deviceClient(
        identity: .pem(
            certificateChain: Array(pki.device.chainPEM.utf8), privateKey: Array(pki.device.privateKeyPEM.utf8)),
        trustRoots: .pem(root)
    )
    clientConfiguration.sessionResumption = resuming
    let client = try TLSContext(configuration: clientConfiguration, logger: logger)
    var completed = 0
    var resumed = 0
    // A resuming run opens one connection first, for the ticket the next one resumes with.
    for _ in 0..<(resuming ? count + 1 : count) {
        let clientChannel = EmbeddedChannel()
        let serverChannel = EmbeddedChannel()
        let clientHandler = TLSHandler(clientContext: client, serverName: .dns("localhost"), port: 443)
        let serverHandler = TLSHandler(serverContext: server)
        try clientChannel.pipeline.syncOperations.addHandler(clientHandler)
        try serverChannel.pipeline.syncOperations.addHandler(serverHandler)
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 443)
        try serverChannel.connect(to: address).wait()
        try clientChannel.connect(to: address).wait()
        try shuttle(clientChannel, serverChannel)
        if try clientHandler.handshakeFuture.wait().sessionResumed { resumed += 1 }
        _ = try serverHandler.handshakeFuture.wait()
        completed += 1
        // close_notify both ways, then the channels are done.
        clientChannel.close(promise: nil)
        try shuttle(clientChannel, serverChannel)
        _ = try? clientChannel.finish(acceptAlreadyClosed: true)
        _ = try? serverChannel.finish(acceptAlreadyClosed: true)
    }
    print("\(completed) SaMDKit handshakes, \(resumed) resumed")
}

/// Moves bytes between the two channels until neither has any to send (bounded).
func shuttle(_ a: EmbeddedChannel, _ b: EmbeddedChannel) throws {
    for _ in 0..<32 {
        var moved = false
        while let bytes = try a.readOutbound(as: ByteBuffer.self) {
            try b.writeInbound(bytes)
            moved = true
        }
        while let bytes = try b.readOutbound(as: ByteBuffer.self) {
            try a.writeInbound(bytes)
            moved = true
        }
        if !moved { return }
    }
}

/// `runs` re-keys of a store of `records` records of 1 KiB, 100 per patient (the benchmark's shape), in a
/// temporary directory removed afterwards.
func profileRekey(records: Int, runs: Int) throws {
    let directory = FileManager.default.temporaryDirectory.path + "/samd-profile-rekey-\(getpid())"
    try FileManager.default.createDirectory(
        atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
    defer { try? FileManager.default.removeItem(atPath: directory) }
    LoggingSystem.bootstrap { _ in SwiftLogNoOpLogHandler() }
    let keyStore = try FileKeyStore.create(
        at: directory + "/keys", passphrase: SecureBytes(copying: Array("profile-passphrase-only".utf8)),
        kdf: .init(iterations: 1, memoryByteCount: 8 << 20)
    )
    let store = try EncryptedRecordStore(directory: directory + "/records", keyStore: keyStore)
    let payload = [UInt8](repeating: 0x7B, count: 1024)
    for record in 0..<records {
        try store.put(
            payload, subject: "patient-\(record / 100)", recordID: "record-\(record % 100)",
            recordType: "application/fhir+json")
    }
    for _ in 0..<runs {
        let started = Date()
        let report = try SubjectRekeyJob(store: store).run()
        let elapsed = Date().timeIntervalSince(started)
        print(
            "re-keyed \(report.recordsRewrapped) records in \(Int(elapsed * 1000)) ms: \(Int(Double(report.recordsRewrapped) / elapsed)) records/s"
        )
    }
}
