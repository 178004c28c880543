public import Foundation
import SaMDCrypto
import SaMDOpenSSLSupport

/// A SoftHSM2 token made for one test: its own configuration and token directory in a temporary directory
/// (`SOFTHSM2_CONF` points there), initialised with `softhsm2-util`, removed by ``remove()``.
///
/// Programs started by a test get ``environment``. A test that loads the module in its own process shares one
/// configuration for the whole process (SoftHSM2 reads `SOFTHSM2_CONF` and its token directory once, at
/// `C_Initialize`: a token `softhsm2-util` makes afterwards is not seen): use ``inProcess(label:)``, which makes
/// the token through the loaded module itself (`C_InitToken` on SoftHSM2's free slot), in
/// ``processConfigurationDirectory``.
public struct SoftHSMToken: Sendable {
    /// Where Debian's `softhsm2` package installs the module.
    public static let modulePath = "/usr/lib/softhsm/libsofthsm2.so"
    /// The user PIN every test token gets (test-only: never a real token's PIN).
    public static let testPIN = "1234-test-pin"
    /// The security officer PIN every test token gets.
    public static let testSOPIN = "5678-test-so-pin"

    /// The directory holding `softhsm2.conf` and `tokens/`.
    public let directory: URL
    /// The token's label.
    public let label: String
    /// Whether ``remove()`` deletes ``directory`` (not for the process-wide configuration).
    let ownsDirectory: Bool

    /// `SOFTHSM2_CONF` for programs that use this token.
    public var environment: [String: String] { ["SOFTHSM2_CONF": self.configurationPath] }
    /// The path of `softhsm2.conf`.
    public var configurationPath: String { self.directory.appendingPathComponent("softhsm2.conf").path }
    /// An RFC 7512 URI for an object of this token, with the module's path.
    public func uri(object: String, type: String? = nil) -> String {
        "pkcs11:token=\(self.label);object=\(object)\(type.map { ";type=\($0)" } ?? "")?module-path=\(Self.modulePath)"
    }

    /// Makes a configuration directory and a token labelled `label` in it.
    /// - Throws: ``SetupFailure`` when SoftHSM2 is not installed (`Scripts/setup` installs it) or
    ///   `softhsm2-util` fails.
    public static func create(label: String = "samd") async throws -> SoftHSMToken {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "samd-softhsm-\(UUID().uuidString)")
        try Self.writeConfiguration(in: directory)
        let token = SoftHSMToken(directory: directory, label: label, ownsDirectory: true)
        do {
            try await token.initialise()
        } catch {
            token.remove()
            throw error
        }
        return token
    }

    /// The configuration directory this test process uses for modules it loads itself; `SOFTHSM2_CONF` is set to
    /// it the first time (before any test loads the module), and the directory is deleted when the process exits.
    public static let processConfigurationDirectory: URL = {
        let directory = URL(fileURLWithPath: Self.processConfigurationPath)
        try? Self.writeConfiguration(in: directory)
        setenv("SOFTHSM2_CONF", directory.appendingPathComponent("softhsm2.conf").path, 1)
        atexit { try? FileManager.default.removeItem(atPath: SoftHSMToken.processConfigurationPath) }
        return directory
    }()

    private static let processConfigurationPath = FileManager.default.temporaryDirectory.appendingPathComponent(
        "samd-softhsm-process-\(getpid())-\(UUID().uuidString)"
    ).path

    /// A new token, labelled `label` plus a unique suffix, in ``processConfigurationDirectory``, made through the
    /// module this process loads (``PKCS11Module/load(path:)``), so that it is seen whenever the module was
    /// initialised. Call it before the test loads the module itself: the first call sets `SOFTHSM2_CONF`.
    public static func inProcess(label: String = "samd") async throws -> SoftHSMToken {
        try Self.makeInProcess(label: label)
    }

    /// ``inProcess(label:)`` for a synchronous caller (a test fixture's `init`, a test whose body uses a library's
    /// synchronous API that has an asynchronous overload): nothing in making the token waits on a task.
    public static func inProcess(label: String = "samd") throws -> SoftHSMToken {
        try Self.makeInProcess(label: label)
    }

    private static func makeInProcess(label: String) throws -> SoftHSMToken {
        let unique = "\(label)-\(UUID().uuidString.prefix(8).lowercased())"
        let directory = Self.processConfigurationDirectory
        guard FileManager.default.fileExists(atPath: Self.modulePath) else {
            throw SetupFailure("\(Self.modulePath) is missing; run Scripts/setup (it installs softhsm2)")
        }
        let module = try PKCS11Module.load(path: Self.modulePath)
        let tokens = directory.appendingPathComponent("tokens").path
        // One token made at a time in this process, and each makes exactly one new directory under tokens/.
        try Self.creation.withLock {
            let before = Set(try FileManager.default.contentsOfDirectory(atPath: tokens))
            try module.initializeToken(
                label: unique, securityOfficerPIN: SecureBytes(copying: Array(Self.testSOPIN.utf8)),
                userPIN: SecureBytes(copying: Array(Self.testPIN.utf8)))
            let added = Set(try FileManager.default.contentsOfDirectory(atPath: tokens)).subtracting(before)
            guard added.count == 1 else {
                throw SetupFailure("C_InitToken of \(unique) added \(added.count) directories to \(tokens)")
            }
        }
        return SoftHSMToken(directory: directory, label: unique, ownsDirectory: false)
    }

    private static let creation = NSLock()

    /// Runs `pkcs11-tool` (opensc) on this token, logged in with the user PIN unless `login` is false: the
    /// independent check of what SaMDKit did in the token.
    public func pkcs11Tool(_ arguments: [String], login: Bool = true, timeout: Duration = .seconds(30)) async throws
        -> ChildProcess.Run
    {
        let tool = try ProgramLocations.requiredTool("pkcs11-tool")
        let common = ["--module", Self.modulePath, "--token-label", self.label]
        var attempt = 1
        while true {
            let run = try await ChildProcess.run(
                tool, common + (login ? ["--login", "--pin", Self.testPIN] : []) + arguments,
                environment: self.environment, timeout: timeout)
            // SoftHSM 2.6 gives a token it reads without its serial slot 0, and aborts when two share it
            // (SlotManager::insertToken): a token made or removed by another test of this process while the tool
            // starts. Nothing has been done in the token yet; start it again, a few times at most.
            guard !self.ownsDirectory, attempt < 5, run.killedBySignal, run.status == 128 + SIGABRT,
                run.standardError.contains("SlotManager")
            else { return run }
            attempt += 1
        }
    }

    /// Generates a key pair in the token (`pkcs11-tool --keypairgen`), e.g. `EC:prime256v1`, labelled `label`.
    public func generateKeyPair(label: String, type: String = "EC:prime256v1", id: String = "01") async throws {
        let run = try await self.pkcs11Tool(["--keypairgen", "--key-type", type, "--label", label, "--id", id])
        guard run.status == 0 else { throw SetupFailure("pkcs11-tool --keypairgen failed: \(run)") }
    }

    /// Deletes the token's directory (a token of ``create()``); an ``inProcess(label:)`` token is left to the
    /// process's exit, when ``processConfigurationDirectory`` is removed.
    public func remove() {
        if self.ownsDirectory {
            try? FileManager.default.removeItem(at: self.directory)
            return
        }
        // An in-process token stays until the process exits (the configuration directory is removed then, at
        // `atexit`): SoftHSM 2.6 rescans `tokens/` on every `C_GetSlotList`, and a token directory taken away
        // while parallel tests list slots made the loaded module lose a token made meanwhile (`tokenAbsent`
        // right after `C_InitToken`, about one run in three of the token suites). Tokens are a few kilobytes.
    }

    private func initialise() async throws {
        let utility = try ProgramLocations.requiredTool("softhsm2-util")
        guard FileManager.default.fileExists(atPath: Self.modulePath) else {
            throw SetupFailure("\(Self.modulePath) is missing; run Scripts/setup (it installs softhsm2)")
        }
        let run = try await ChildProcess.run(
            utility,
            ["--init-token", "--free", "--label", self.label, "--pin", Self.testPIN, "--so-pin", Self.testSOPIN],
            environment: self.environment, timeout: .seconds(30))
        guard run.status == 0 else { throw SetupFailure("softhsm2-util --init-token failed: \(run)") }
    }

    private static func writeConfiguration(in directory: URL) throws {
        let tokens = directory.appendingPathComponent("tokens")
        try FileManager.default.createDirectory(
            at: tokens, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let configuration = """
            directories.tokendir = \(tokens.path)
            objectstore.backend = file
            log.level = ERROR
            slots.removable = false

            """
        try Data(configuration.utf8).write(to: directory.appendingPathComponent("softhsm2.conf"))
    }
}
