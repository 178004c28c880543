// A token of a PKCS#11 module, logged in as the user, with a bounded pool of sessions.

import CSaMDShims

/// A token found by its label in a ``PKCS11Module``, logged in as the normal user (`CKU_USER`), with a bounded
/// pool of read/write sessions: safe to use from many threads at once, each session used by one thread at a time.
///
/// PKCS#11 keeps the login per application, not per session: the first session logs in and every later one is
/// logged in too. Closing the last session logs out, so the pool keeps its sessions open until the token value
/// is released. The PIN is not kept: if the token logs the application out (all sessions closed by the token,
/// a removed device), calls fail with ``PKCS11Error/Code/notLoggedIn`` and a new `PKCS11Token` must log in again.
///
/// - SeeAlso: PKCS#11 v2.40 Base §5.6 (sessions, `C_Login`), RFC 7512 (`token=`).
package final class PKCS11Token: Sendable {
    /// The module holding the token.
    package let module: PKCS11Module
    /// The token's label (RFC 7512 `token=`).
    package let label: String
    /// The slot the token is in (`CK_SLOT_ID`).
    package let slotID: UInt
    /// The token's serial number, manufacturer and model from `C_GetTokenInfo`, blank padding removed.
    package let serialNumber: String, manufacturer: String, model: String
    /// The most sessions the pool opens: the `maximumSessions` asked for, never more than the token's
    /// `ulMaxRwSessionCount`.
    package let maximumSessions: Int

    let pool: PKCS11SessionPool

    /// How many sessions a token opens unless told otherwise.
    package static let defaultMaximumSessions = 4
    /// The upper bound of `maximumSessions`.
    package static let maximumSessionsLimit = 64
    /// How long a call waits for a free session unless told otherwise (10 seconds).
    package static let defaultSessionWaitTimeout: Duration = .seconds(10)
    /// The longest PIN accepted, in bytes.
    package static let maximumPINBytes = 256

    /// Finds the token labelled `label` in `module`, opens a session and logs in as the user with `pin`.
    ///
    /// - Parameters:
    ///   - label: the token's label, 1…32 bytes of UTF-8 (`CK_TOKEN_INFO.label` without its padding).
    ///   - pin: the user PIN, 1…``maximumPINBytes`` bytes, in guarded memory (SaMDCrypto's `SecureBytes`). It is
    ///     read in place, never copied or kept; the caller releases it (which zeroes it).
    ///   - maximumSessions: 1…``maximumSessionsLimit``; lowered to the token's `ulMaxRwSessionCount`.
    ///   - sessionWaitTimeout: how long a call waits for a free session before ``PKCS11Error/Code/timeout``.
    /// - Throws: ``PKCS11Error/Code/tokenAbsent``, ``PKCS11Error/Code/tokenAmbiguous``,
    ///   ``PKCS11Error/Code/pinIncorrect``, ``PKCS11Error/Code/pinLocked``, ``PKCS11Error/Code/sessionLimit``,
    ///   ``PKCS11Error/Code/invalidInput`` (label, PIN length, `maximumSessions`), or another mapped `CK_RV` of
    ///   `C_OpenSession`/`C_Login`. `CKR_USER_ALREADY_LOGGED_IN` is success. No message holds the PIN.
    package init(
        module: PKCS11Module, label: String, pin: some PKCS11SecretBytes,
        maximumSessions: Int = PKCS11Token.defaultMaximumSessions,
        sessionWaitTimeout: Duration = PKCS11Token.defaultSessionWaitTimeout
    ) throws {
        guard (1...Self.maximumSessionsLimit).contains(maximumSessions) else {
            throw PKCS11Error(
                .invalidInput, "maximumSessions \(maximumSessions) is outside 1…\(Self.maximumSessionsLimit)")
        }
        guard sessionWaitTimeout >= .zero else {
            throw PKCS11Error(.invalidInput, "a negative session wait timeout")
        }
        let (slot, info) = try module.slot(tokenLabel: label)
        let functions = module.functions
        var capacity = maximumSessions
        if info.ulMaxRwSessionCount != CK_EFFECTIVELY_INFINITE
            && info.ulMaxRwSessionCount != PKCS11Constants.unavailableInformation
        {
            capacity = min(capacity, Int(clamping: info.ulMaxRwSessionCount))
        }
        let session = try PKCS11SessionPool.openSession(functions, slot: slot)
        do {
            try Self.login(functions, session: session, pin: pin, label: label)
        } catch {
            _ = functions.pointee.C_CloseSession(session)
            throw error
        }
        self.module = module
        self.label = label
        self.slotID = slot
        self.serialNumber = PKCS11Text.padded(info.serialNumber)
        self.manufacturer = PKCS11Text.padded(info.manufacturerID)
        self.model = PKCS11Text.padded(info.model)
        self.maximumSessions = capacity
        self.pool = PKCS11SessionPool(
            functions: functions, slot: slot, first: session, capacity: capacity, waitTimeout: sessionWaitTimeout)
    }

    private static func login(
        _ functions: UnsafeMutablePointer<CK_FUNCTION_LIST>, session: CK_SESSION_HANDLE, pin: some PKCS11SecretBytes,
        label: String
    ) throws {
        let result = try PKCS11Module.withPIN(pin) { pointer, count in
            functions.pointee.C_Login(session, CKU_USER, pointer, count)
        }
        guard result == CKR_OK || result == CKR_USER_ALREADY_LOGGED_IN else {
            throw PKCS11Error.call("C_Login as the user of token \(PKCS11Text.escaped(label))", result)
        }
    }

    /// Calls `body` with a session of the pool that no other thread uses until `body` returns, waiting at most
    /// `timeout` (default: the token's session wait timeout) for one. For the token's own operations and tests;
    /// `body` must not keep the handle.
    /// - Throws: ``PKCS11Error/Code/timeout`` when every session stayed in use; whatever `body` throws.
    package func withSession<Result>(timeout: Duration? = nil, _ body: (_ session: UInt) throws -> Result) throws
        -> Result
    {
        try self.pool.withSession(timeout: timeout, body)
    }

    /// How many sessions the pool holds open now, at most ``maximumSessions``.
    package var openSessions: Int { self.pool.openSessions }

    /// Throws the mapped error of `result` from `operation` (a PKCS#11 function and what it did) unless it is
    /// `CKR_OK`.
    func check(_ operation: @autoclosure () -> String, _ result: CK_RV) throws {
        guard result == CKR_OK else { throw PKCS11Error.call(operation(), result) }
    }

    /// The module's function list.
    var functions: UnsafeMutablePointer<CK_FUNCTION_LIST> { self.module.functions }
}
