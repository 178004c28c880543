public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A TPM 2.0 token made for one test: a software TPM (`swtpm`), reached through the tpm2-pkcs11 PKCS#11 module
/// with a token, a user PIN and one EC P-256 key pair generated inside the TPM (`C_GenerateKeyPair`), all in a
/// temporary directory that ``remove()`` deletes after stopping every process the token started.
///
/// Three processes, each a ``ChildProcess`` of the test:
/// - `swtpm socket --tpm2` with its state in ``directory``, on two Unix sockets there (`tpm.sock` for TPM
///   commands, `tpm.sock.ctrl` for its control channel), not TCP ports: swtpm can bind port 0 but never says
///   which port it got, and tpm2-tss's `swtpm` TCTI always takes the control port to be the command port + 1,
///   so a TCP TPM needs two adjacent free ports chosen ahead (a race with every other test);
/// - a private D-Bus session bus (`dbus-daemon --session`, socket `bus` in ``directory``);
/// - `tpm2-abrmd`, the TPM2 access broker and resource manager, on that bus. tpm2-pkcs11 1.9 leaves transient
///   objects loaded in the TPM when its process ends (here one per TLS client process) and the TPM holds three,
///   so without a resource manager (tpm2-abrmd, or the kernel's `/dev/tpmrm0` on a real device) the second or
///   third TLS client in a row fails to log in with `TPM_RC_OBJECT_MEMORY` (0x902), and `tpm2_ptool` fails at
///   once.
///
/// The token is initialised, its user PIN set and its key pair generated through PKCS#11 itself with opensc's
/// `pkcs11-tool` (`C_InitToken`, `C_InitPIN`, `C_GenerateKeyPair`), so `tpm2_ptool` (Python) is not needed.
/// Programs that use the token get ``environment``. The module reads `TPM2_PKCS11_TCTI` and
/// `TPM2_PKCS11_STORE` at `C_Initialize`, so a test that loads it in its own process must set them first.
/// - SeeAlso: TCG TSS 2.0 TAB and Resource Manager Specification; PKCS#11 v2.40 §5.5 (`C_InitToken`,
///   `C_InitPIN`), §5.14 (`C_GenerateKeyPair`); RFC 7512 (the `pkcs11:` URI).
public struct SoftwareTPMToken: Sendable {
    /// Where Debian's `libtpm2-pkcs11-1` package installs the module.
    #if arch(arm64)
        public static let modulePath = "/usr/lib/aarch64-linux-gnu/pkcs11/libtpm2_pkcs11.so"
    #else
        public static let modulePath = "/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so"
    #endif
    /// The user PIN every test token gets (test-only: never a real token's PIN).
    public static let testPIN = "1234-test-pin"
    /// The security officer PIN every test token gets.
    public static let testSOPIN = "5678-test-so-pin"
    /// The token's label.
    public static let label = "samd-tpm"
    /// The label (`CKA_LABEL`) of the key pair generated in the TPM.
    public static let keyLabel = "device-key"
    /// The `CKA_ID` of the key pair, in hex.
    public static let keyID = "01"
    /// Each wait for a process to start (the TPM's sockets, the bus, the broker) ends by then.
    public static let startTimeout = Duration.seconds(10)

    /// The directory holding the TPM's state (`state/`), the tpm2-pkcs11 store (`store/`), the sockets and
    /// the PIN file; mode 0700.
    public let directory: URL
    let tpm: ChildProcess
    let bus: ChildProcess
    let broker: ChildProcess

    /// The TCTI configuration of the token: tpm2-abrmd on the session bus of ``environment``.
    public static let tcti = "tabrmd:bus_type=session"

    /// The variables a program that uses the token needs: `TPM2_PKCS11_TCTI` (how the module reaches the TPM),
    /// `TPM2_PKCS11_STORE` (the module's SQLite store of token and key metadata: the keys themselves are
    /// TPM-wrapped blobs), `DBUS_SESSION_BUS_ADDRESS` (where tpm2-abrmd is).
    public var environment: [String: String] {
        [
            "TPM2_PKCS11_TCTI": Self.tcti,
            "TPM2_PKCS11_STORE": self.directory.appendingPathComponent("store").path,
            "DBUS_SESSION_BUS_ADDRESS": "unix:path=\(self.busPath)",
        ]
    }

    /// ``environment`` plus `PKCS11_MODULE_PATH`, which the OpenSSL `pkcs11` engine (libp11 0.4.12) loads when
    /// no `MODULE_PATH` control command names a module.
    public var engineEnvironment: [String: String] {
        self.environment.merging(["PKCS11_MODULE_PATH": Self.modulePath]) { $1 }
    }

    /// An RFC 7512 URI for an object of this token, with the module's path (`module-path`, RFC 7512 §2.3).
    public func uri(object: String, type: String? = nil) -> String {
        "\(Self.objectURI(object: object, type: type))?module-path=\(Self.modulePath)"
    }

    /// The RFC 7512 URI of the key pair's private key, with `module-path`.
    public var privateKeyURI: String { self.uri(object: Self.keyLabel, type: "private") }

    /// The private key's URI as libp11 0.4.12's engine takes it: path attributes only (it refuses a query
    /// component such as `module-path`; the module comes from ``engineEnvironment``).
    public var engineKeyURI: String { Self.objectURI(object: Self.keyLabel, type: "private") }

    /// Starts the software TPM, its bus and broker, makes the token and its key pair.
    /// - Throws: ``SetupFailure`` with the failing program's output when a program is missing (`Scripts/setup`
    ///   installs them), does not start within ``startTimeout``, or fails.
    public static func create() async throws -> SoftwareTPMToken {
        for tool in ["swtpm", "dbus-daemon", "tpm2-abrmd", "pkcs11-tool"] { _ = try Self.requiredTool(tool) }
        guard FileManager.default.fileExists(atPath: Self.modulePath) else {
            throw SetupFailure("\(Self.modulePath) is missing; run Scripts/setup (it installs libtpm2-pkcs11-1)")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "samd-swtpm-\(UUID().uuidString.prefix(8).lowercased())")
        // sockaddr_un holds 108 bytes; swtpm's options are comma-separated.
        guard directory.path.utf8.count + "/tpm.sock.ctrl".utf8.count < 108, !directory.path.contains(",") else {
            throw SetupFailure("the temporary directory \(directory.path) is too long or has a comma for swtpm")
        }
        for sub in ["state", "store"] {
            try FileManager.default.createDirectory(
                at: directory.appendingPathComponent(sub), withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: directory.path)
        var started: [ChildProcess] = []
        do {
            let tpm = try await Self.startTPM(in: directory)
            started.append(tpm)
            let bus = try await Self.startBus(in: directory)
            started.append(bus)
            let broker = try await Self.startBroker(in: directory)
            started.append(broker)
            let token = SoftwareTPMToken(directory: directory, tpm: tpm, bus: bus, broker: broker)
            try await token.initialise()
            return token
        } catch {
            for child in started.reversed() { child.kill() }
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
    }

    /// Runs `pkcs11-tool` (opensc) on this token, logged in with the user PIN unless `login` is false: the
    /// independent check of what was done in the token.
    public func pkcs11Tool(_ arguments: [String], login: Bool = true, timeout: Duration = .seconds(60)) async throws
        -> ChildProcess.Run
    {
        let common = ["--module", Self.modulePath, "--token-label", Self.label]
        return try await ChildProcess.run(
            try Self.requiredTool("pkcs11-tool"),
            common + (login ? ["--login", "--pin", Self.testPIN] : []) + arguments,
            environment: self.environment, timeout: timeout)
    }

    /// Writes the key pair's public key (`CKO_PUBLIC_KEY`, read with `pkcs11-tool --read-object`) as a PEM
    /// SubjectPublicKeyInfo into ``directory`` and returns its path: what a CA certifies with
    /// `openssl x509 -new -force_pubkey`.
    public func writePublicKeyPEM() async throws -> String {
        let der = self.directory.appendingPathComponent("\(Self.keyLabel).pub.der").path
        let pem = self.directory.appendingPathComponent("\(Self.keyLabel).pub.pem").path
        let read = try await self.pkcs11Tool(
            ["--read-object", "--type", "pubkey", "--label", Self.keyLabel, "--output-file", der], login: false)
        guard read.status == 0 else { throw SetupFailure("pkcs11-tool --read-object failed: \(read)") }
        let convert = try await ChildProcess.run(
            try Self.requiredTool("openssl"), ["pkey", "-pubin", "-inform", "DER", "-in", der, "-out", pem],
            timeout: .seconds(30))
        guard convert.status == 0 else { throw SetupFailure("openssl pkey (public key to PEM) failed: \(convert)") }
        return pem
    }

    /// Writes the user PIN into a mode-0600 file in ``directory`` and returns its path, for `-pass file:PATH`
    /// (a PIN never goes on a command line that `ps` shows).
    public func writePINFile() throws -> String {
        let path = self.directory.appendingPathComponent("user.pin").path
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
        else { throw SetupFailure("cannot create \(path)") }
        try Data(Self.testPIN.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Stops the broker, the bus and the TPM (SIGKILL, then reaped) and deletes ``directory``.
    public func remove() {
        for child in [self.broker, self.bus, self.tpm] { child.kill() }
        try? FileManager.default.removeItem(at: self.directory)
    }

    /// What the processes wrote (the TPM's log file, the bus's and the broker's output), for a failure message.
    public var diagnostics: String {
        let log = (try? String(contentsOf: self.directory.appendingPathComponent("swtpm.log"), encoding: .utf8)) ?? ""
        return """
            swtpm: \(log.suffix(2000)) \(self.tpm.standardError.text.suffix(2000))
            dbus-daemon: \(self.bus.standardError.text.suffix(2000))
            tpm2-abrmd: \(self.broker.standardOutput.text.suffix(4000)) \(self.broker.standardError.text.suffix(2000))
            """
    }

    private var busPath: String { self.directory.appendingPathComponent("bus").path }

    private static func objectURI(object: String, type: String?) -> String {
        "pkcs11:token=\(Self.label);object=\(object)\(type.map { ";type=\($0)" } ?? "")"
    }

    /// `C_InitToken` with the SO PIN on the module's free slot, `C_InitPIN` for the user PIN, `C_GenerateKeyPair`
    /// (EC P-256) in the TPM.
    private func initialise() async throws {
        let token = ["--token-label", Self.label]
        let steps: [(name: String, arguments: [String])] = [
            ("--init-token", ["--slot-index", "0", "--init-token", "--label", Self.label, "--so-pin", Self.testSOPIN]),
            (
                "--init-pin",
                token + [
                    "--login", "--login-type", "so", "--so-pin", Self.testSOPIN, "--init-pin", "--pin", Self.testPIN,
                ]
            ),
            (
                "--keypairgen",
                token + [
                    "--login", "--pin", Self.testPIN, "--keypairgen", "--key-type", "EC:prime256v1", "--label",
                    Self.keyLabel, "--id", Self.keyID,
                ]
            ),
        ]
        let tool = try Self.requiredTool("pkcs11-tool")
        for step in steps {
            let run = try await ChildProcess.run(
                tool, ["--module", Self.modulePath] + step.arguments, environment: self.environment,
                timeout: .seconds(60))
            guard run.status == 0 else {
                throw SetupFailure("pkcs11-tool \(step.name) on the software TPM failed: \(run)\n\(self.diagnostics)")
            }
        }
    }

    /// `swtpm socket --tpm2`, its state in `directory/state`, the TPM started (`TPM2_Startup(TPM_SU_CLEAR)`, sent
    /// by swtpm itself: `--flags not-need-init,startup-clear`); returns once both sockets accept connections.
    private static func startTPM(in directory: URL) async throws -> ChildProcess {
        let commands = directory.appendingPathComponent("tpm.sock").path
        let control = directory.appendingPathComponent("tpm.sock.ctrl").path
        let tpm = try ChildProcess(
            try Self.requiredTool("swtpm"),
            [
                "socket", "--tpm2", "--tpmstate", "dir=\(directory.appendingPathComponent("state").path),mode=0600",
                "--server", "type=unixio,path=\(commands),mode=0600", "--ctrl", "type=unixio,path=\(control),mode=0600",
                "--flags", "not-need-init,startup-clear",
                "--log", "file=\(directory.appendingPathComponent("swtpm.log").path),level=1",
            ])
        // swtpm says nothing when it listens: its sockets are probed until they accept, within the deadline.
        let deadline = ContinuousClock.now + Self.startTimeout
        while !(Self.acceptsConnections(commands) && Self.acceptsConnections(control)) {
            guard tpm.isRunning, ContinuousClock.now < deadline else {
                let log = (try? String(contentsOf: directory.appendingPathComponent("swtpm.log"), encoding: .utf8))
                tpm.kill()
                throw SetupFailure(
                    "swtpm did not listen on \(commands) within \(Self.startTimeout): \(tpm.standardError.text) \(log ?? "")"
                )
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        return tpm
    }

    /// A D-Bus session bus on `directory/bus`, for tpm2-abrmd alone; returns once it prints its address.
    private static func startBus(in directory: URL) async throws -> ChildProcess {
        let bus = try ChildProcess(
            try Self.requiredTool("dbus-daemon"),
            [
                "--session", "--nofork", "--nopidfile",
                "--address=unix:path=\(directory.appendingPathComponent("bus").path)",
                "--print-address=1",
            ])
        guard await bus.waitForStandardOutput(containing: "unix:path=", timeout: Self.startTimeout) else {
            bus.kill()
            throw SetupFailure("dbus-daemon did not start: \(bus.standardError.text)")
        }
        return bus
    }

    /// tpm2-abrmd on the bus, connected to the TPM through tpm2-tss's `swtpm` TCTI (`path=`: the Unix socket,
    /// `path.ctrl` the control channel); returns once it owns its bus name (it logs `on_name_acquired`).
    private static func startBroker(in directory: URL) async throws -> ChildProcess {
        let broker = try ChildProcess(
            try Self.requiredTool("tpm2-abrmd"),
            [
                "--session", "--logger=stdout", "--flush-all",
                "--tcti=swtpm:path=\(directory.appendingPathComponent("tpm.sock").path)",
            ] + (getuid() == 0 ? ["--allow-root"] : []),
            environment: [
                "DBUS_SESSION_BUS_ADDRESS": "unix:path=\(directory.appendingPathComponent("bus").path)",
                // Its readiness line is logged at INFO level, which GLib shows only with G_MESSAGES_DEBUG.
                "G_MESSAGES_DEBUG": "all",
            ])
        guard await broker.waitForStandardOutput(containing: "on_name_acquired", timeout: Self.startTimeout) else {
            let output = broker.standardOutput.text.suffix(4000) + broker.standardError.text.suffix(2000)
            broker.kill()
            throw SetupFailure("tpm2-abrmd did not start: \(output)")
        }
        return broker
    }

    /// Whether something accepts connections on the Unix socket at `path` (a connection made and closed).
    private static func acceptsConnections(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
            }
        }
    }

    private static func requiredTool(_ name: String) throws -> URL {
        // tpm2-abrmd is in /usr/sbin, which is not on every PATH.
        let sbin = URL(fileURLWithPath: "/usr/sbin").appendingPathComponent(name)
        guard
            let url = ProgramLocations.tool(name)
                ?? (FileManager.default.isExecutableFile(atPath: sbin.path) ? sbin : nil)
        else {
            throw SetupFailure(
                "\(name) is not installed; run Scripts/setup (it installs swtpm, tpm2-abrmd, dbus-daemon, opensc)")
        }
        return url
    }
}
