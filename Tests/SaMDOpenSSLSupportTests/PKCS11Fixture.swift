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
    /// whether `body` throws or not — once SaMDKit's `PKCS11Token` is released (a thread of the test may hold it a
    /// moment longer), so that closing its sessions does not write into the token's directory while
    /// `softhsm2-util` deletes it: SoftHSM2 would leave a token without a serial behind, and two of those share
    /// slot 0, which aborts every later SoftHSM2 process on that directory.
    static func with<Result>(
        maximumSessions: Int = PKCS11Token.defaultMaximumSessions,
        sessionWaitTimeout: Duration = PKCS11Token.defaultSessionWaitTimeout,
        _ body: (PKCS11Fixture) async throws -> Result
    ) async throws -> Result {
        let softHSM = try await SoftHSMToken.inProcess(label: "p11")
        defer { softHSM.remove() }
        let released = Released()
        defer { released.wait(upTo: .seconds(10)) }
        let module = try PKCS11Module.load(path: SoftHSMToken.modulePath)
        let token = try PKCS11Token(
            module: module, label: softHSM.label, pin: Self.pin(), maximumSessions: maximumSessions,
            sessionWaitTimeout: sessionWaitTimeout)
        released.watch(token)
        return try await body(PKCS11Fixture(softHSM: softHSM, module: module, token: token))
    }

    /// Waits for the last reference to a token to go.
    final class Released: @unchecked Sendable { // `token` is only read and written under `lock`.
        private let lock = NSLock()
        private weak var token: PKCS11Token?

        func watch(_ token: PKCS11Token) { self.lock.withLock { self.token = token } }

        /// Returns once the token is deallocated, or records an issue after `limit`.
        func wait(upTo limit: Duration) {
            let clock = ContinuousClock()
            let deadline = clock.now + limit
            while self.lock.withLock({ self.token != nil }) {
                guard clock.now < deadline else {
                    Issue.record("the PKCS11Token outlived its test by \(limit)")
                    return
                }
                // Nothing to await: the last holder is a thread finishing its closure.
                Thread.sleep(forTimeInterval: 0.005)
            }
        }
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
