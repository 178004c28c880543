// A SoftHSM2 token made in this process for one test, logged in through SaMDKit, removed afterwards.

import Foundation
import SaMDCrypto
import SaMDOpenSSLSupport
import SaMDTestSupport
import Testing

/// A fresh in-process SoftHSM2 token (``SoftHSMToken/inProcess(label:)``) and SaMDKit's view of it.
struct PKCS11Fixture {
    let softHSM: SoftHSMToken
    let module: PKCS11Module
    let token: PKCS11Token

    /// The test PIN in guarded memory.
    static func pin(_ text: String = SoftHSMToken.testPIN) throws -> SecureBytes {
        try SecureBytes(copying: Array(text.utf8))
    }

    /// Runs `body` with a new token logged in with `maximumSessions` sessions; the token is deleted afterwards,
    /// whether `body` throws or not.
    static func with<Result>(
        maximumSessions: Int = PKCS11Token.defaultMaximumSessions,
        sessionWaitTimeout: Duration = PKCS11Token.defaultSessionWaitTimeout,
        _ body: (PKCS11Fixture) async throws -> Result
    ) async throws -> Result {
        let softHSM = try await SoftHSMToken.inProcess(label: "p11")
        defer { softHSM.remove() }
        let module = try PKCS11Module.load(path: SoftHSMToken.modulePath)
        let token = try PKCS11Token(
            module: module, label: softHSM.label, pin: Self.pin(), maximumSessions: maximumSessions,
            sessionWaitTimeout: sessionWaitTimeout)
        return try await body(PKCS11Fixture(softHSM: softHSM, module: module, token: token))
    }

    /// `pkcs11-tool --list-objects --type secrkey` on the token, logged in: its standard output.
    func listedSecretKeys() async throws -> String {
        let run = try await self.softHSM.pkcs11Tool(["--list-objects", "--type", "secrkey"])
        try #require(run.status == 0, "pkcs11-tool --list-objects failed: \(run)")
        return run.output
    }
}

/// The `PKCS11Error` that `body` threw, or nil if it returned; any other error is recorded as an issue.
func pkcs11Error<T>(_ body: () throws -> T) -> PKCS11Error? {
    do {
        _ = try body()
        return nil
    } catch let error as PKCS11Error {
        return error
    } catch {
        Issue.record("not a PKCS11Error: \(error)")
        return nil
    }
}
