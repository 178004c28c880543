import Foundation
import Synchronization

/// SoftHSM2 tokens for one benchmark process (package-benchmark runs each benchmark in a process of its own): their
/// configuration, set in `SOFTHSM2_CONF`, and the tokens, initialised with `softhsm2-util`, before the module is
/// first loaded (SoftHSM2 reads both once per process, at `C_Initialize`). A token holds one key store's keys.
public enum BenchmarkToken {
    /// Where Debian's `softhsm2` package installs the module.
    public static let modulePath = "/usr/lib/softhsm/libsofthsm2.so"
    /// A PIN for a throwaway token.
    public static let pin = "benchmark-pin-only"

    /// How many tokens the process makes, all before the module is first loaded here.
    static let tokenCount = 8

    /// The labels of the tokens made, once per process.
    private static let labels: Result<[String], BenchmarkCheckFailure> = {
        do {
            let directory = try temporaryDirectory("samd-bench-softhsm")
            try FileManager.default.createDirectory(atPath: directory + "/tokens", withIntermediateDirectories: true)
            try Data("directories.tokendir = \(directory)/tokens\nobjectstore.backend = file\nlog.level = ERROR\n".utf8)
                .write(to: URL(fileURLWithPath: directory + "/softhsm2.conf"))
            setenv("SOFTHSM2_CONF", directory + "/softhsm2.conf", 1)
            let labels = (1...tokenCount).map { "bench-\($0)" }
            for label in labels {
                let utility = Process()
                utility.executableURL = URL(fileURLWithPath: "/usr/bin/softhsm2-util")
                utility.arguments = [
                    "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", "bench-so-pin",
                ]
                utility.standardOutput = FileHandle.nullDevice
                try utility.run()
                utility.waitUntilExit()
                guard utility.terminationStatus == 0 else {
                    return .failure(BenchmarkCheckFailure(description: "softhsm2-util --init-token failed"))
                }
            }
            return .success(labels)
        } catch {
            return .failure(BenchmarkCheckFailure(description: "SoftHSM2 token: \(error)"))
        }
    }()

    private static let used = Mutex(0)

    /// The URI (RFC 7512) of a token no key store of this process uses yet, for `PKCS11Custody.create(uri:pin:)`
    /// with ``pin``.
    /// - Throws: ``BenchmarkCheckFailure`` when SoftHSM2 is missing or every token is taken.
    public static func unusedTokenURI() throws -> String {
        let labels = try self.labels.get()
        let index = self.used.withLock { used in
            defer { used += 1 }
            return used
        }
        try BenchmarkCheck.that(index < labels.count, "all \(labels.count) benchmark tokens are in use")
        return "pkcs11:token=\(labels[index]);object=records?module-path=\(modulePath)"
    }
}
