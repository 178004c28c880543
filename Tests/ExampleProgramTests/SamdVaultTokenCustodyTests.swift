// samd-vault with a key store whose KEKs are in a SoftHSM2 token made for each test (its own SOFTHSM2_CONF,
// removed after the test): the whole life cycle, the PIN's sources and refusals, a wrong PIN and an absent token —
// every check of the token made independently with pkcs11-tool.

import Foundation
import SaMDTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("samd-vault with its KEKs in a PKCS #11 token")
struct SamdVaultTokenCustodyTests {
    /// A work directory and a token; both removed when released.
    final class Workspace {
        let directory: URL
        let token: SoftHSMToken

        init(label: String = "vault") async throws {
            self.directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "samd-vault-token-\(UUID().uuidString)")
            try FileManager.default.createDirectory(
                at: self.directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            self.token = try await SoftHSMToken.create(label: label)
        }

        deinit {
            self.token.remove()
            try? FileManager.default.removeItem(at: self.directory)
        }

        func path(_ name: String) -> String { self.directory.appendingPathComponent(name).path }

        /// `--kek` for this token.
        var kek: String { self.token.uri(object: "records") }

        /// The token's configuration and the PIN in `SAMD_PKCS11_PIN` (unless `pin` is nil), nothing else inherited.
        func environment(pin: String? = SoftHSMToken.testPIN) -> [String: String] {
            var environment = self.token.environment.merging(["PATH": "/usr/bin:/bin"]) { $1 }
            if let pin { environment["SAMD_PKCS11_PIN"] = pin }
            return environment
        }

        func run(_ arguments: [String], environment: [String: String]? = nil) async throws -> ChildProcess.Run {
            try await ChildProcess.run(
                try ProgramLocations.binary("samd-vault"), arguments, environment: environment ?? self.environment(),
                inheritsEnvironment: false, currentDirectory: self.directory, timeout: .seconds(120))
        }

        /// `keys init --keystore ks --kek pkcs11:…` with the right PIN.
        func initialise() async throws {
            let run = try await self.run(["keys", "init", "--keystore", "ks", "--kek", self.kek])
            #expect(run.status == 0, "\(run)")
            #expect(run.output.contains("records:1") && run.output.contains("PKCS #11 token"), "\(run)")
        }

        func write(_ text: String, to name: String) throws {
            try Data(text.utf8).write(to: URL(fileURLWithPath: self.path(name)))
        }

        func read(_ name: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: self.path(name))) }

        /// Every file under `name` (paths relative to it) with its bytes and mode: what "nothing written" compares.
        func snapshot(_ name: String) throws -> [String: String] {
            let root = self.path(name)
            var files: [String: String] = [:]
            let enumerator = try #require(FileManager.default.enumerator(atPath: root))
            while let relative = enumerator.nextObject() as? String {
                let full = root + "/" + relative
                var info = stat()
                guard lstat(full, &info) == 0 else { continue }
                let mode = String(info.st_mode, radix: 8)
                if info.st_mode & S_IFMT == S_IFREG {
                    let bytes = try Data(contentsOf: URL(fileURLWithPath: full))
                    files[relative] = mode + " " + bytes.base64EncodedString()
                } else {
                    files[relative] = mode
                }
            }
            return files
        }

        /// The token's secret-key objects as `pkcs11-tool --list-objects` shows them, one block per object.
        func secretKeyObjects() async throws -> [String: String] {
            let listing = try await self.token.pkcs11Tool(["--list-objects", "--type", "secrkey"])
            #expect(listing.status == 0, "\(listing)")
            var objects: [String: String] = [:]
            for block in listing.output.components(separatedBy: "Secret Key Object").dropFirst() {
                guard let line = block.split(separator: "\n").first(where: { $0.contains("label:") }) else { continue }
                let label = line.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces)
                objects[label] = block
            }
            return objects
        }

        /// pkcs11-tool's independent check of a KEK object: present, sensitive, never extractable, its value
        /// unreadable (`--read-object` fails: CKR_ATTRIBUTE_SENSITIVE).
        func expectKEKObjectLocked(_ label: String) async throws {
            let objects = try await self.secretKeyObjects()
            let block = try #require(objects[label], "no object \(label) in \(objects.keys.sorted())")
            #expect(block.contains("AES length 32"), "\(block)")
            #expect(block.contains("sensitive") && block.contains("never extractable"), "\(block)")
            let read = try await self.token.pkcs11Tool(["--read-object", "--type", "secrkey", "--label", label])
            #expect(read.status != 0, "the value of \(label) was read: \(read)")
        }
    }

    @Test("init, seal and open with --subject, rotate, list, rewrap, retire, destroy and shred — checked in the token")
    func wholeLifeCycle() async throws {
        let workspace = try await Workspace()
        try await workspace.initialise()
        try await workspace.expectKEKObjectLocked("records:1")
        #expect(try await workspace.secretKeyObjects()["records:2"] == nil)

        // Without --subject: 64, naming --subject, and nothing is created.
        try workspace.write("{\"resourceType\":\"Observation\",\"id\":\"spo2\"}", to: "record.json")
        let refused = try await workspace.run(["seal", "--keystore", "ks", "record.json", "refused.env"])
        #expect(refused.status == 64, "\(refused)")
        #expect(refused.standardError.contains("--subject"), "\(refused)")
        #expect(!FileManager.default.fileExists(atPath: workspace.path("refused.env")))

        let records = try MedicalRecords.load(from: MedicalRecords.packageFolder).prefix(3)
        for (index, (_, bytes)) in records.enumerated() {
            try Data(bytes).write(to: URL(fileURLWithPath: workspace.path("in-\(index)")))
            let seal = try await workspace.run([
                "seal", "--keystore", "ks", "--subject", "patient-\(index)", "--context", "kind=test", "in-\(index)",
                "env-\(index)",
            ])
            #expect(seal.status == 0, "\(seal)")
        }

        let rotate = try await workspace.run(["keys", "rotate", "--keystore", "ks"])
        #expect(rotate.status == 0, "\(rotate)")
        #expect(rotate.output.contains("records:2 is active; 3 subject key(s) rewrapped"), "\(rotate)")
        try await workspace.expectKEKObjectLocked("records:1")
        try await workspace.expectKEKObjectLocked("records:2")

        let list = try await workspace.run(["keys", "list", "--keystore", "ks"])
        #expect(list.status == 0, "\(list)")
        #expect(list.output.contains("records:1\tdeactivated") && list.output.contains("records:2\tactive"), "\(list)")

        // Rewrap: envelopes under subject keys are left as they are (their subject keys were rewrapped in the token).
        let before = try workspace.read("env-0")
        let rewrap = try await workspace.run(["rewrap", "--keystore", "ks", "env-0", "env-1"])
        #expect(rewrap.status == 0, "\(rewrap)")
        #expect(rewrap.output.contains("0 rewrapped") && rewrap.output.contains("2 already current"), "\(rewrap)")
        #expect(try workspace.read("env-0") == before)

        // Destroy records:1: the object is gone from the token; every record still opens under records:2.
        let destroy = try await workspace.run(["keys", "destroy", "--keystore", "ks", "--key", "records:1"])
        #expect(destroy.status == 0, "\(destroy)")
        let objects = try await workspace.secretKeyObjects()
        #expect(objects["records:1"] == nil, "records:1 is still in the token: \(objects.keys.sorted())")
        try await workspace.expectKEKObjectLocked("records:2")
        for (index, (_, bytes)) in records.enumerated() {
            let open = try await workspace.run([
                "open", "--keystore", "ks", "--subject", "patient-\(index)", "--context", "kind=test", "env-\(index)",
                "-",
            ])
            #expect(open.status == 0, "\(open)")
            #expect(Array(open.standardOutput) == bytes)
        }

        // Retire: the active version only opens; a new rotation makes records:3.
        let retire = try await workspace.run(["keys", "retire", "--keystore", "ks", "--key", "records:2"])
        #expect(retire.status == 0, "\(retire)")
        #expect(try await workspace.run(["keys", "rotate", "--keystore", "ks"]).status == 0)
        try await workspace.expectKEKObjectLocked("records:3")

        // Shred: the subject's records never open again; the others do.
        let shred = try await workspace.run(["shred", "--keystore", "ks", "--subject", "patient-0"])
        #expect(shred.status == 0, "\(shred)")
        let shredded = try await workspace.run([
            "open", "--keystore", "ks", "--subject", "patient-0", "--context", "kind=test", "env-0", "out-0",
        ])
        #expect(shredded.status == 69, "\(shredded)")
        #expect(!FileManager.default.fileExists(atPath: workspace.path("out-0")))
        let other = try await workspace.run([
            "open", "--keystore", "ks", "--subject", "patient-1", "--context", "kind=test", "env-1", "-",
        ])
        #expect(other.status == 0 && Array(other.standardOutput) == records[records.startIndex + 1].1, "\(other)")
        // No command printed or logged the PIN.
        for run in [refused, rotate, list, rewrap, destroy, shred, shredded] {
            #expect(!run.standardError.contains(SoftHSMToken.testPIN) && !run.output.contains(SoftHSMToken.testPIN))
        }
    }

    @Test("the PIN from --pin-file (0600) alone; a PIN file others can read is 66; no PIN at all is 66")
    func pinFromAFile() async throws {
        let workspace = try await Workspace()
        try await workspace.initialise()
        let pinFile = workspace.path("pin")
        try workspace.write(SoftHSMToken.testPIN + "\n", to: "pin")
        chmod(pinFile, 0o600)
        let withFile = try await workspace.run(
            ["keys", "list", "--keystore", "ks", "--pin-file", pinFile], environment: workspace.environment(pin: nil))
        #expect(withFile.status == 0, "\(withFile)")
        #expect(withFile.output.contains("records:1\tactive"), "\(withFile)")

        chmod(pinFile, 0o644)
        let unsafe = try await workspace.run(
            ["keys", "list", "--keystore", "ks", "--pin-file", pinFile], environment: workspace.environment(pin: nil))
        #expect(unsafe.status == 66, "\(unsafe)")
        #expect(unsafe.standardError.contains("unsafeFile"), "\(unsafe)")

        let none = try await workspace.run(
            ["keys", "list", "--keystore", "ks"], environment: workspace.environment(pin: nil))
        #expect(none.status == 66, "\(none)")
        #expect(none.standardError.contains("SAMD_PKCS11_PIN"), "\(none)")

        // A token store opens with its PIN, never a passphrase file: 64, naming the PIN's sources.
        try workspace.write("a passphrase of some length\n", to: "passphrase")
        chmod(workspace.path("passphrase"), 0o600)
        let passphrase = try await workspace.run([
            "keys", "list", "--keystore", "ks", "--passphrase-file", workspace.path("passphrase"),
        ])
        #expect(passphrase.status == 64, "\(passphrase)")
        #expect(passphrase.standardError.contains("SAMD_PKCS11_PIN"), "\(passphrase)")
    }

    @Test("--pin on the command line and pin-value in the URI are refused with 64; nothing is made")
    func pinOnTheCommandLineOrInTheURIIsRefused() async throws {
        let workspace = try await Workspace()
        let secret = "4321-never-echoed"
        let module = SoftHSMToken.modulePath
        let label = workspace.token.label
        let attempts: [[String]] = [
            ["keys", "init", "--keystore", "ks", "--kek", workspace.kek, "--pin", secret],
            [
                "keys", "init", "--keystore", "ks", "--kek",
                "pkcs11:token=\(label);object=records?module-path=\(module)&pin-value=\(secret)",
            ],
            [
                "keys", "init", "--keystore", "ks", "--kek",
                "pkcs11:token=\(label);object=records;pin-value=\(secret)?module-path=\(module)",
            ],
        ]
        for arguments in attempts {
            let run = try await workspace.run(arguments)
            #expect(run.status == 64, "\(arguments): \(run)")
            #expect(run.standardError.contains("PIN"), "\(run)")
            #expect(!run.standardError.contains(secret) && !run.output.contains(secret), "\(run)")
            #expect(!FileManager.default.fileExists(atPath: workspace.path("ks")))
        }
        // Nothing was made in the token either.
        #expect(try await workspace.secretKeyObjects().isEmpty)

        try await workspace.initialise()
        for command in [["keys", "list"], ["keys", "rotate"], ["shred", "--subject", "patient-1"]] {
            let run = try await workspace.run(command + ["--keystore", "ks", "--pin", secret])
            #expect(run.status == 64, "\(command): \(run)")
            #expect(!run.standardError.contains(secret), "\(run)")
        }
    }

    @Test("a wrong PIN and an absent token are 69 and leave the key store's files unchanged byte for byte")
    func wrongPINAndAbsentTokenAre69AndWriteNothing() async throws {
        let workspace = try await Workspace()
        // The store is made, and a record sealed, by other processes with the right PIN.
        try await workspace.initialise()
        try workspace.write("{\"heart_rate\":61}", to: "record.json")
        let seal = try await workspace.run(["seal", "--keystore", "ks", "--subject", "patient-7", "record.json", "env"])
        #expect(seal.status == 0, "\(seal)")
        let before = try workspace.snapshot("ks")
        let objectsBefore = try await workspace.secretKeyObjects().keys.sorted()
        #expect(before.keys.contains { $0.hasPrefix("subjects/") }, "\(before.keys.sorted())")

        let wrong = workspace.environment(pin: "0000-wrong-pin")
        // Another token's configuration: the store's token is not there.
        let elsewhere = try await SoftHSMToken.create(label: "another-token")
        defer { elsewhere.remove() }
        let absent = elsewhere.environment.merging(["PATH": "/usr/bin:/bin", "SAMD_PKCS11_PIN": SoftHSMToken.testPIN]) {
            $1
        }
        let commands: [[String]] = [
            ["keys", "rotate", "--keystore", "ks"],
            ["keys", "list", "--keystore", "ks"],
            ["keys", "destroy", "--keystore", "ks", "--key", "records:1"],
            ["seal", "--keystore", "ks", "--subject", "patient-8", "record.json", "new-env"],
            ["open", "--keystore", "ks", "--subject", "patient-7", "env", "opened"],
            ["rewrap", "--keystore", "ks", "env"],
            ["shred", "--keystore", "ks", "--subject", "patient-7"],
        ]
        for (environment, expected) in [(wrong, "pinIncorrect"), (absent, "tokenAbsent")] {
            for command in commands {
                let run = try await workspace.run(command, environment: environment)
                #expect(run.status == 69, "\(command): \(run)")
                #expect(run.standardError.contains(expected), "\(command): \(run)")
                #expect(!run.standardError.contains("0000-wrong-pin"), "\(run)")
                #expect(try workspace.snapshot("ks") == before, "\(command) changed the key store")
                #expect(!FileManager.default.fileExists(atPath: workspace.path("new-env")))
                #expect(!FileManager.default.fileExists(atPath: workspace.path("opened")))
            }
        }
        #expect(try await workspace.secretKeyObjects().keys.sorted() == objectsBefore)
        // The comparison can fail: with the right PIN the same rotation changes the files and the token.
        #expect(try await workspace.run(["keys", "rotate", "--keystore", "ks"]).status == 0)
        #expect(try workspace.snapshot("ks") != before)
        #expect(try await workspace.secretKeyObjects().keys.sorted() != objectsBefore)

        // A module that cannot be loaded: 69 at init, nothing made.
        let missing = try await workspace.run([
            "keys", "init", "--keystore", "ks-missing", "--kek",
            "pkcs11:token=\(workspace.token.label);object=records?module-path=/nonexistent/libnothing.so",
        ])
        #expect(missing.status == 69, "\(missing)")
        #expect(missing.standardError.contains("moduleMissing"), "\(missing)")
        #expect(!FileManager.default.fileExists(atPath: workspace.path("ks-missing")))

        // A wrong PIN at init: 69, no store, nothing in the token.
        let fresh = try await Workspace(label: "fresh")
        let refused = try await fresh.run(
            ["keys", "init", "--keystore", "ks", "--kek", fresh.kek],
            environment: fresh.environment(pin: "0000-wrong-pin"))
        #expect(refused.status == 69, "\(refused)")
        #expect(!FileManager.default.fileExists(atPath: fresh.path("ks")))
        #expect(try await fresh.secretKeyObjects().isEmpty)
    }

    @Test("--help says how a key store in a token is made and opened, and what seal needs")
    func helpExplainsTokenCustody() async throws {
        let vault = try ProgramLocations.binary("samd-vault")
        // The help as one line: ArgumentParser wraps it at any space.
        func help(_ arguments: [String]) async throws -> String {
            let run = try await ChildProcess.run(vault, arguments + ["--help"])
            return run.output.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        }
        let top = try await help([])
        for needle in ["--kek pkcs11:", "SAMD_PKCS11_PIN", "--pin-file", "--subject", "pin-value", "exit 64"] {
            #expect(top.contains(needle), "samd-vault --help lacks \(needle): \(top)")
        }
        let initHelp = try await help(["keys", "init"])
        for needle in ["--kek", "module-path", "--pin-file", "SAMD_PKCS11_PIN", "never extractable"] {
            #expect(initHelp.contains(needle), "keys init --help lacks \(needle): \(initHelp)")
        }
        let destroyHelp = try await help(["keys", "destroy"])
        #expect(destroyHelp.contains("destroy its object"), "\(destroyHelp)")
        for command in [["seal"], ["open"], ["rewrap"], ["shred"], ["keys", "rotate"], ["keys", "list"]] {
            let text = try await help(command)
            #expect(text.contains("--pin-file"), "\(command) --help lacks --pin-file")
            #expect(!text.contains("--pin <"), "\(command) --help offers --pin")
        }
    }

    @Test("keys init --kek into a directory others may read is 73 before the token is touched; fixed, it succeeds")
    func initChecksTheDirectoryBeforeTheToken() async throws {
        let workspace = try await Workspace()
        let directory = workspace.path("ks")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        chmod(directory, 0o755)
        let open = try await workspace.run(["keys", "init", "--keystore", "ks", "--kek", workspace.kek])
        #expect(open.status == 73, "\(open)")
        #expect(open.standardError.contains("0700"), "\(open)")
        // The token holds nothing: a later init in it is not refused as a second store.
        #expect(try await workspace.secretKeyObjects().isEmpty)
        try workspace.write("x", to: "a-file")
        let file = try await workspace.run(["keys", "init", "--keystore", "a-file", "--kek", workspace.kek])
        #expect(file.status == 73, "\(file)")
        #expect(try await workspace.secretKeyObjects().isEmpty)
        chmod(directory, 0o700)
        try await workspace.initialise()
        try await workspace.expectKEKObjectLocked("records:1")
    }
}
