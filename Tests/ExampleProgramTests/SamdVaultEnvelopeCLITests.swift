import Foundation
import SaMDEnvelope
import SaMDTestSupport
import Testing

/// `samd-vault` run as a user runs it, on the real records.
@Suite("samd-vault seal, open, rewrap, inspect, keys, shred")
struct SamdVaultEnvelopeCLITests {
    struct Run {
        let status: Int32
        let output: [UInt8]
        let error: String
    }

    final class Workspace {
        let directory: URL
        let passphrase = "clinic passphrase \(UUID().uuidString)"

        init() throws {
            self.directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "samd-vault-cli-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
        }

        deinit {
            try? FileManager.default.removeItem(at: self.directory)
        }

        func path(_ name: String) -> String {
            self.directory.appendingPathComponent(name).path
        }

        @discardableResult
        func run(_ arguments: [String], stdin: [UInt8]? = nil, environment: [String: String]? = nil) async throws
            -> Run
        {
            let run = try await ChildProcess.run(
                try ProgramLocations.binary("samd-vault"), arguments,
                environment: environment ?? ["SAMD_PASSPHRASE": self.passphrase, "PATH": "/usr/bin:/bin"],
                inheritsEnvironment: false, currentDirectory: self.directory, stdin: Data(stdin ?? []),
                timeout: .seconds(120))
            return Run(status: run.status ?? -1, output: Array(run.standardOutput), error: run.standardError)
        }

        static func executable() throws -> URL {
            try ProgramLocations.binary("samd-vault")
        }

        func initialiseStore() async throws {
            let run = try await self.run(["keys", "init", "--keystore", "ks", "--kdf-cost", "interactive"])
            #expect(run.status == 0, "\(run.error)")
        }
    }

    @Test func everyRecordRoundTripsThroughTheCLI() async throws {
        let workspace = try Workspace()
        try await workspace.initialiseStore()
        let records = try MedicalRecords.load(from: MedicalRecords.packageFolder)
        for (index, (name, bytes)) in records.enumerated() {
            let plain = workspace.path("in-\(index)")
            try Data(bytes).write(to: URL(fileURLWithPath: plain))
            let context = ["--context", "patient=p-\(index % 4)", "--context", "record=\(name)"]
            let sealed = try await workspace.run(["seal", "--keystore", "ks"] + context + [plain, "env-\(index)"])
            #expect(sealed.status == 0, "\(name): \(sealed.error)")
            let opened = try await workspace.run(
                ["open", "--keystore", "ks"] + context + ["env-\(index)", "out-\(index)"])
            #expect(opened.status == 0, "\(name): \(opened.error)")
            #expect(
                Array(try Data(contentsOf: URL(fileURLWithPath: workspace.path("out-\(index)")))) == bytes, "\(name)")
        }
        print("samd-vault round trips: \(records.count) records sealed and opened byte for byte")
    }

    @Test func standardStreamsAndInspect() async throws {
        let workspace = try Workspace()
        try await workspace.initialiseStore()
        let record = Array("PID|1||MRN-77^^^HOSP||DOE^JANE".utf8)
        let sealed = try await workspace.run(
            ["seal", "--keystore", "ks", "--subject", "MRN-77", "-", "-"], stdin: record)
        #expect(sealed.status == 0, "\(sealed.error)")
        try Data(sealed.output).write(to: URL(fileURLWithPath: workspace.path("e")))
        let inspect = try await workspace.run(["inspect", "--json", "e"])
        let info = try JSONDecoder().decode(EnvelopeInfo.self, from: Data(inspect.output))
        #expect(
            info.formatVersion == 1 && info.suite == "Cobblestone-256" && info.chunkSize == 16384
                && info.payloadLength == record.count)
        #expect(info.kekName.hasPrefix("s-") && info.kekVersion == 1)
        let opened = try await workspace.run(
            ["open", "--keystore", "ks", "--subject", "MRN-77", "-", "-"], stdin: sealed.output)
        #expect(opened.status == 0 && opened.output == record)
        // The subject is bound into the context: another subject id does not open it.
        let wrong = try await workspace.run(["open", "--keystore", "ks", "--subject", "MRN-78", "e", "-"])
        #expect(wrong.status == 65 && wrong.output.isEmpty)
    }

    @Test func failuresHaveSysexitsCodesAndWriteNothing() async throws {
        let workspace = try Workspace()
        try await workspace.initialiseStore()
        let record = workspace.path("record")
        try Data((0..<50_000).map { UInt8(truncatingIfNeeded: $0) }).write(to: URL(fileURLWithPath: record))
        #expect(
            try await workspace.run(["seal", "--keystore", "ks", "--context", "patient=p", record, "env"]).status == 0)
        let existing = Data("existing output".utf8)
        try existing.write(to: URL(fileURLWithPath: workspace.path("out")))
        func expectUntouched() throws {
            #expect(try Data(contentsOf: URL(fileURLWithPath: workspace.path("out"))) == existing)
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: workspace.directory.path).filter {
                $0.hasPrefix(".samd-vault")
            }
            #expect(leftovers.isEmpty, "temporary files left: \(leftovers)")
        }

        // 65: wrong context, tampered, truncated.
        #expect(
            try await workspace.run(["open", "--keystore", "ks", "--context", "patient=q", "env", "out"]).status == 65)
        try expectUntouched()
        var tampered = Array(try Data(contentsOf: URL(fileURLWithPath: workspace.path("env"))))
        tampered[tampered.count - 20_000] ^= 1
        try Data(tampered).write(to: URL(fileURLWithPath: workspace.path("tampered")))
        let tamperedRun = try await workspace.run([
            "open", "--keystore", "ks", "--context", "patient=p", "tampered", "out",
        ])
        #expect(tamperedRun.status == 65)
        #expect(tamperedRun.error.split(separator: "\n").filter { $0.hasPrefix("samd-vault:") }.count == 1)
        try expectUntouched()
        try Data(tampered.prefix(16_500)).write(to: URL(fileURLWithPath: workspace.path("short")))
        #expect(
            try await workspace.run(["open", "--keystore", "ks", "--context", "patient=p", "short", "out"]).status == 65
        )
        try expectUntouched()
        // 66: no input. 73: cannot create output. 64: usage.
        #expect(try await workspace.run(["open", "--keystore", "ks", "missing", "out"]).status == 66)
        #expect(try await workspace.run(["seal", "--keystore", "ks", record, "no-such-dir/out"]).status == 73)
        #expect(
            try await workspace.run(["seal", "--keystore", "ks", "--context", "Bad Key=v", record, "out"]).status == 64)
        #expect(
            try await workspace.run(["seal", "--keystore", "ks", "--context", "novalue", record, "out"]).status == 64)
        #expect(try await workspace.run(["keys", "retire", "--keystore", "ks", "--key", "nonsense"]).status == 64)
        try expectUntouched()
        // 69: wrong passphrase, no passphrase, destroyed key.
        let wrongPass = try await workspace.run(
            ["open", "--keystore", "ks", "--context", "patient=p", "env", "out"],
            environment: ["SAMD_PASSPHRASE": "wrong"])
        #expect(wrongPass.status == 69)
        #expect(try await workspace.run(["keys", "list", "--keystore", "ks"], environment: [:]).status == 69)
        try expectUntouched()
        // A passphrase file works; a world-readable one is refused.
        let passFile = workspace.path("pass")
        try Data((workspace.passphrase + "\n").utf8).write(to: URL(fileURLWithPath: passFile))
        chmod(passFile, 0o600)
        #expect(
            try await workspace.run(
                ["keys", "list", "--keystore", "ks", "--passphrase-file", passFile], environment: [:]
            )
            .status == 0)
        chmod(passFile, 0o644)
        #expect(
            try await workspace.run(
                ["keys", "list", "--keystore", "ks", "--passphrase-file", passFile], environment: [:]
            )
            .status == 69)
    }

    /// Key material that does not authenticate — a subject-key file damaged in any of its parts, the key
    /// store's MAC, the passphrase — is the same failure everywhere: exit 69 (the key cannot be used), never
    /// 70 (internal error); nothing is written, and the key store's words say which file.
    @Test func damagedKeyMaterialExitsUnavailableForEveryKind() async throws {
        let workspace = try Workspace()
        try await workspace.initialiseStore()
        try Data("note".utf8).write(to: URL(fileURLWithPath: workspace.path("note")))
        #expect(
            try await workspace.run(["seal", "--keystore", "ks", "--subject", "MRN-1", "note", "note.env"]).status == 0)
        // Rotated, so that the subject key is wrapped under records:2 and records:1 is still there to name.
        #expect(try await workspace.run(["keys", "rotate", "--keystore", "ks"]).status == 0)
        #expect(
            try await workspace.run(["seal", "--keystore", "ks", "--subject", "MRN-1", "note", "note2.env"]).status == 0
        )
        let subjects = try FileManager.default.contentsOfDirectory(atPath: workspace.path("ks/subjects")).filter {
            $0.hasSuffix(".json")
        }
        try #require(subjects.count == 1)
        let subjectFile = workspace.path("ks/subjects/" + subjects[0])
        let original = try Data(contentsOf: URL(fileURLWithPath: subjectFile))
        let keyStoreFile = workspace.path("ks/keystore.json")
        let originalKeyStore = try Data(contentsOf: URL(fileURLWithPath: keyStoreFile))

        func write(_ data: Data, to path: String) throws {
            try data.write(to: URL(fileURLWithPath: path))
            chmod(path, 0o600)
        }
        /// The subject file with its first key version edited.
        func editedSubject(_ edit: (inout [String: Any]) -> Void) throws -> Data {
            var document = try #require(try JSONSerialization.jsonObject(with: original) as? [String: Any])
            var versions = try #require(document["versions"] as? [[String: Any]])
            edit(&versions[0])
            document["versions"] = versions
            return try JSONSerialization.data(withJSONObject: document)
        }
        let subjectDocument = try #require(try JSONSerialization.jsonObject(with: original) as? [String: Any])
        let wrapped = try #require((subjectDocument["versions"] as? [[String: Any]])?.first?["wrapped"] as? String)
        var flipped = Array(try #require(Data(base64Encoded: wrapped)))
        flipped[30] ^= 0x01

        let damages: [(String, file: String, bytes: Data)] = [
            (
                "a bit of the wrapped subject key flipped (AEAD tag)", subjectFile,
                try editedSubject { $0["wrapped"] = Data(flipped).base64EncodedString() }
            ),
            (
                "the wrapping KEK version changed (binding)", subjectFile,
                try editedSubject { version in
                    var by = version["wrappedBy"] as? [String: Any] ?? [:]
                    by["version"] = 1
                    version["wrappedBy"] = by
                }
            ),
            (
                "the wrapped subject key truncated", subjectFile,
                try editedSubject { $0["wrapped"] = Data(flipped.prefix(40)).base64EncodedString() }
            ),
            ("the wrapped subject key not base64", subjectFile, try editedSubject { $0["wrapped"] = "not base64!" }),
            (
                "a subject key named as the wrapping key", subjectFile,
                try editedSubject { version in
                    var by = version["wrappedBy"] as? [String: Any] ?? [:]
                    by["name"] = subjects[0].replacingOccurrences(of: ".json", with: "")
                    version["wrappedBy"] = by
                }
            ),
            ("the subject file not JSON", subjectFile, Data("{\"id\": ".utf8)),
            (
                "the key store's MAC changed", keyStoreFile,
                try {
                    var document = try #require(
                        try JSONSerialization.jsonObject(with: originalKeyStore) as? [String: Any])
                    let macText = try #require(document["mac"] as? String)
                    var mac = Array(try #require(Data(base64Encoded: macText)))
                    mac[0] ^= 0x80
                    document["mac"] = Data(mac).base64EncodedString()
                    return try JSONSerialization.data(withJSONObject: document)
                }()
            ),
        ]
        for (what, file, bytes) in damages {
            #expect(bytes != (file == subjectFile ? original : originalKeyStore), "\(what): the damage changed nothing")
            try write(bytes, to: file)
            let opened = try await workspace.run(["open", "--keystore", "ks", "--subject", "MRN-1", "note2.env", "out"])
            #expect(opened.status == 69, "\(what): open exited \(opened.status): \(opened.error)")
            #expect(opened.error.contains("keyStore"), "\(what): \(opened.error)")
            #expect(!FileManager.default.fileExists(atPath: workspace.path("out")), "\(what)")
            let sealed = try await workspace.run(["seal", "--keystore", "ks", "--subject", "MRN-1", "note", "out"])
            #expect(sealed.status == 69, "\(what): seal exited \(sealed.status): \(sealed.error)")
            #expect(!FileManager.default.fileExists(atPath: workspace.path("out")), "\(what)")
            try write(file == subjectFile ? original : originalKeyStore, to: file)
        }
        // The wrong passphrase is the same family.
        let wrong = try await workspace.run(
            ["open", "--keystore", "ks", "--subject", "MRN-1", "note2.env", "out"],
            environment: ["SAMD_PASSPHRASE": "wrong"])
        #expect(wrong.status == 69)
        // Restored, everything opens again: the failures changed nothing.
        let restored = try await workspace.run(["open", "--keystore", "ks", "--subject", "MRN-1", "note2.env", "-"])
        #expect(restored.status == 0 && restored.output == Array("note".utf8), "\(restored.error)")
    }

    @Test func rotationRewrapDestroyAndShredThroughTheCLI() async throws {
        let workspace = try Workspace()
        try await workspace.initialiseStore()
        let records = try MedicalRecords.load(from: MedicalRecords.packageFolder).prefix(6)
        for (index, (_, bytes)) in records.enumerated() {
            try Data(bytes).write(to: URL(fileURLWithPath: workspace.path("in-\(index)")))
            #expect(
                try await workspace.run([
                    "seal", "--keystore", "ks", "--context", "n=\(index)", "in-\(index)", "env-\(index)",
                ]).status == 0)
        }
        let before = try records.indices.map {
            Array(try Data(contentsOf: URL(fileURLWithPath: workspace.path("env-\($0)"))))
        }
        #expect(try await workspace.run(["keys", "rotate", "--keystore", "ks"]).status == 0)
        let rewrap = try await workspace.run(["rewrap", "--keystore", "ks"] + records.indices.map { "env-\($0)" })
        #expect(rewrap.status == 0, "\(rewrap.error)")
        #expect(String(decoding: rewrap.output, as: UTF8.self).contains("\(records.count) rewrapped to records:2"))
        #expect(try await workspace.run(["keys", "destroy", "--keystore", "ks", "--key", "records:1"]).status == 0)
        let list = try await workspace.run(["keys", "list", "--keystore", "ks", "--json"])
        #expect(String(decoding: list.output, as: UTF8.self).contains("\"destroyed\""))
        for (index, (_, bytes)) in records.enumerated() {
            let after = Array(try Data(contentsOf: URL(fileURLWithPath: workspace.path("env-\(index)"))))
            let oldHeader = try EnvelopeHeader.parse(before[index]).byteCount
            let newHeader = try EnvelopeHeader.parse(after).byteCount
            #expect(Array(before[index][oldHeader...]) == Array(after[newHeader...]), "payload bytes changed")
            let opened = try await workspace.run([
                "open", "--keystore", "ks", "--context", "n=\(index)", "env-\(index)", "-",
            ])
            #expect(opened.status == 0 && opened.output == bytes)
        }

        try Data("note".utf8).write(to: URL(fileURLWithPath: workspace.path("note")))
        #expect(
            try await workspace.run(["seal", "--keystore", "ks", "--subject", "MRN-9", "note", "note.env"]).status == 0)
        let shred = try await workspace.run(["shred", "--keystore", "ks", "--subject", "MRN-9"])
        #expect(shred.status == 0 && String(decoding: shred.output, as: UTF8.self).hasPrefix("shredded s-"))
        let afterShred = try await workspace.run([
            "open", "--keystore", "ks", "--subject", "MRN-9", "note.env", "note.out",
        ])
        #expect(afterShred.status == 69 && afterShred.error.contains("keyDestroyed"))
        #expect(!FileManager.default.fileExists(atPath: workspace.path("note.out")))
    }

    /// Two processes rotating at once are serialised by the store's file lock: no version is lost.
    @Test func twoProcessesRotatingAtOnceLoseNothing() async throws {
        let workspace = try Workspace()
        try await workspace.initialiseStore()
        let executable = try Workspace.executable()
        var processes: [Process] = []
        for _ in 0..<2 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.currentDirectoryURL = workspace.directory
            process.environment = ["SAMD_PASSPHRASE": workspace.passphrase, "PATH": "/usr/bin:/bin"]
            // Five rotations in a row from each process, interleaving with the other.
            process.arguments = [
                "-c",
                "for i in 1 2 3 4 5; do '\(executable.path)' keys rotate --keystore ks >/dev/null 2>&1 || exit 1; done",
            ]
            try process.run()
            processes.append(process)
        }
        for process in processes {
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)
        }
        let list = try await workspace.run(["keys", "list", "--keystore", "ks", "--json"])
        struct Key: Decodable {
            struct Identifier: Decodable { let version: UInt32 }
            let identifier: Identifier
            let state: String
        }
        let keys = try JSONDecoder().decode([Key].self, from: Data(list.output))
        #expect(keys.map(\.identifier.version) == Array(1...11))
        #expect(keys.filter { $0.state == "active" }.count == 1)
    }

    /// Found by a newcomer trial: context values echoed, rewrap stopping at the first bad file, inspect
    /// refusing a pipe, a subject key made for a missing input, plaintext left behind by a killed open.
    @Test func cliFixesFromTheNewcomerTrial() async throws {
        let workspace = try Workspace()
        try await workspace.initialiseStore()
        let record = Array((0..<40_000).map { UInt8(truncatingIfNeeded: $0 &* 13) })
        try Data(record).write(to: URL(fileURLWithPath: workspace.path("r")))

        let echoed = try await workspace.run([
            "seal", "--keystore", "ks", "--context", "patient:MRN-SECRET-123", "r", "x",
        ])
        #expect(echoed.status == 64 && !echoed.error.contains("MRN-SECRET"))

        // One-character names on purpose: Foundation's deletingLastPathComponent trapped on them.
        for name in ["a", "c"] {
            #expect(try await workspace.run(["seal", "--keystore", "ks", "--context", "n=1", "r", name]).status == 0)
        }
        try Data("junk".utf8).write(to: URL(fileURLWithPath: workspace.path("b")))
        #expect(try await workspace.run(["keys", "rotate", "--keystore", "ks"]).status == 0)
        let rewrap = try await workspace.run(["rewrap", "--keystore", "ks", "a", "b", "c"])
        #expect(rewrap.status == 65 && rewrap.error.contains("b: malformed"))
        #expect(String(decoding: rewrap.output, as: UTF8.self).contains("2 rewrapped to records:2"))
        #expect(try await workspace.run(["rewrap", "--keystore", "ks", "-"]).status == 64)

        let sealed = Array(try Data(contentsOf: URL(fileURLWithPath: workspace.path("c"))))
        let inspect = try await workspace.run(["inspect", "--json", "-"], stdin: sealed)
        #expect(inspect.status == 0, "\(inspect.error)")
        #expect(try JSONDecoder().decode(EnvelopeInfo.self, from: Data(inspect.output)).payloadLength == record.count)

        let subjectsBefore = try FileManager.default.contentsOfDirectory(atPath: workspace.path("ks/subjects"))
        #expect(
            try await workspace.run(["seal", "--keystore", "ks", "--subject", "MRN-5", "missing", "x"]).status == 66)
        #expect(try FileManager.default.contentsOfDirectory(atPath: workspace.path("ks/subjects")) == subjectsBefore)

        // An open interrupted while it waits for input removes its temporary output.
        let process = Process()
        process.executableURL = try Workspace.executable()
        process.arguments = ["open", "--keystore", "ks", "--context", "n=1", "-", "out"]
        process.currentDirectoryURL = workspace.directory
        process.environment = ["SAMD_PASSPHRASE": workspace.passphrase]
        let input = Pipe()
        process.standardInput = input
        process.standardError = Pipe()
        try process.run()
        input.fileHandleForWriting.write(Data(sealed.prefix(20_000))) // header and a chunk: plaintext is written
        var temporaries: [String] = []
        for _ in 0..<100 {
            temporaries = try FileManager.default.contentsOfDirectory(atPath: workspace.directory.path).filter {
                $0.hasPrefix(".samd-vault")
            }
            if !temporaries.isEmpty { break }
            usleep(20_000)
        }
        #expect(!temporaries.isEmpty, "the open did not start")
        process.terminate()
        process.waitUntilExit()
        #expect(process.terminationStatus == 128 + SIGTERM)
        let left = try FileManager.default.contentsOfDirectory(atPath: workspace.directory.path).filter {
            $0.hasPrefix(".samd-vault") || $0 == "out"
        }
        #expect(left.isEmpty, "left behind: \(left)")
    }

    /// Found by a second review: links, directories, reserved names, and a seal that outlives a rotation.
    @Test func linksDirectoriesNamesAndRotationDuringASeal() async throws {
        let workspace = try Workspace()
        try await workspace.initialiseStore()
        try Data("record".utf8).write(to: URL(fileURLWithPath: workspace.path("r")))
        #expect(try await workspace.run(["seal", "--keystore", "ks", "r", "e"]).status == 0)
        #expect(
            try await workspace.run(["keys", "init", "--keystore", "ks", "--kdf-cost", "interactive"]).status == 73)
        #expect(try await workspace.run(["keys", "rotate", "--keystore", "ks", "--name", "bad/name"]).status == 64)
        #expect(try await workspace.run(["keys", "rotate", "--keystore", "ks", "--name", "s-abc"]).status == 64)

        // Symbolic and hard links are refused by rewrap; the file they lead to is untouched.
        try FileManager.default.createSymbolicLink(atPath: workspace.path("link"), withDestinationPath: "e")
        try FileManager.default.linkItem(atPath: workspace.path("e"), toPath: workspace.path("hard"))
        #expect(try await workspace.run(["keys", "rotate", "--keystore", "ks"]).status == 0)
        #expect(try await workspace.run(["rewrap", "--keystore", "ks", "link"]).status == 65)
        #expect(try await workspace.run(["rewrap", "--keystore", "ks", "hard"]).status == 65)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: workspace.path("link")) == "e")
        try FileManager.default.removeItem(atPath: workspace.path("hard"))
        #expect(try await workspace.run(["rewrap", "--keystore", "ks", "e"]).status == 0)

        // Directories as input or output: refused before any subject key is made.
        try FileManager.default.createDirectory(atPath: workspace.path("dir"), withIntermediateDirectories: false)
        let subjects = try FileManager.default.contentsOfDirectory(atPath: workspace.path("ks/subjects"))
        #expect(try await workspace.run(["seal", "--keystore", "ks", "--subject", "MRN-1", "dir", "x"]).status == 66)
        #expect(try await workspace.run(["seal", "--keystore", "ks", "--subject", "MRN-1", "r", "dir"]).status == 73)
        #expect(try await workspace.run(["seal", "--keystore", "ks", "--subject", "MRN-1", "r", "dir/"]).status == 73)
        #expect(try FileManager.default.contentsOfDirectory(atPath: workspace.path("ks/subjects")) == subjects)

        // A seal still reading its input when the KEK rotates is not persisted under the old version.
        let process = Process()
        process.executableURL = try Workspace.executable()
        process.arguments = ["seal", "--keystore", "ks", "-", "late"]
        process.currentDirectoryURL = workspace.directory
        process.environment = ["SAMD_PASSPHRASE": workspace.passphrase]
        let input = Pipe()
        process.standardInput = input
        process.standardError = Pipe()
        try process.run()
        input.fileHandleForWriting.write(Data(repeating: 7, count: 20_000))
        var started = false
        for _ in 0..<100 where !started {
            started = try FileManager.default.contentsOfDirectory(atPath: workspace.directory.path).contains {
                $0.hasPrefix(".samd-vault")
            }
            if !started { usleep(20_000) }
        }
        #expect(started)
        #expect(try await workspace.run(["keys", "rotate", "--keystore", "ks"]).status == 0)
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        #expect(process.terminationStatus == 69)
        #expect(!FileManager.default.fileExists(atPath: workspace.path("late")))
    }

    /// Found by a third review: special files as OUT, and write errors on standard output.
    @Test func specialOutputsAndFullDisks() async throws {
        let workspace = try Workspace()
        try await workspace.initialiseStore()
        try Data("record".utf8).write(to: URL(fileURLWithPath: workspace.path("r")))
        #expect(mkfifo(workspace.path("fifo"), 0o600) == 0)
        try FileManager.default.createSymbolicLink(atPath: workspace.path("link"), withDestinationPath: "target")
        for special in ["fifo", "link"] {
            #expect(try await workspace.run(["seal", "--keystore", "ks", "r", special]).status == 73, "\(special)")
        }
        #expect(!FileManager.default.fileExists(atPath: workspace.path("target")))

        let process = Process()
        process.executableURL = try Workspace.executable()
        process.arguments = ["seal", "--keystore", "ks", "r", "-"]
        process.currentDirectoryURL = workspace.directory
        process.environment = ["SAMD_PASSPHRASE": workspace.passphrase]
        process.standardOutput = try #require(FileHandle(forWritingAtPath: "/dev/full"))
        process.standardError = Pipe()
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 74)
    }
}
