// A bounded pool of PKCS#11 sessions of one token: each session used by one thread at a time.

import CSaMDShims

/// At most ``capacity`` read/write sessions of one slot, opened on demand and kept open (closing the last session
/// of an application logs it out, PKCS#11 v2.40 Base §5.6). A caller takes a session for the length of one
/// synchronous call and gives it back; when all are taken it waits, at most until its deadline.
///
/// `@unchecked Sendable`: the mutable state is only touched with `condition` locked.
final class PKCS11SessionPool: @unchecked Sendable {
    private let functions: UnsafeMutablePointer<CK_FUNCTION_LIST>
    private let slot: CK_SLOT_ID
    private let condition = ConditionLock()
    private var idle: [CK_SESSION_HANDLE]
    private var opened: Int
    /// The most sessions open at once; lowered when the token answers `CKR_SESSION_COUNT` before it.
    private(set) var capacity: Int
    /// How long ``withSession(timeout:_:)`` waits for a free session by default.
    let waitTimeout: Duration

    /// A pool that already holds `session` (the one the user logged in with).
    init(
        functions: UnsafeMutablePointer<CK_FUNCTION_LIST>, slot: CK_SLOT_ID, first session: CK_SESSION_HANDLE,
        capacity: Int, waitTimeout: Duration
    ) {
        self.functions = functions
        self.slot = slot
        self.idle = [session]
        self.opened = 1
        self.capacity = capacity
        self.waitTimeout = waitTimeout
    }

    deinit {
        let (functions, idle) = (self.functions, self.idle)
        PKCS11Module.unlessExiting {
            for session in idle { _ = functions.pointee.C_CloseSession(session) }
        }
    }

    /// The sessions open now (in use or idle).
    var openSessions: Int {
        self.condition.lock()
        defer { self.condition.unlock() }
        return self.opened
    }

    /// Opens a read/write session of `slot` (`C_OpenSession` with `CKF_SERIAL_SESSION | CKF_RW_SESSION`).
    static func openSession(_ functions: UnsafeMutablePointer<CK_FUNCTION_LIST>, slot: CK_SLOT_ID) throws
        -> CK_SESSION_HANDLE
    {
        var session: CK_SESSION_HANDLE = 0
        let flags = PKCS11Constants.serialSession | PKCS11Constants.readWriteSession
        let result = functions.pointee.C_OpenSession(slot, flags, nil, nil, &session)
        guard result == CKR_OK else { throw PKCS11Error.call("C_OpenSession", result) }
        return session
    }

    /// Calls `body` with a session no other thread uses meanwhile, waiting at most `timeout` (default
    /// ``waitTimeout``) for one. A session that may be unusable or hold an unfinished operation when `body` fails
    /// (see `endsSession`, or any error that is not a ``PKCS11Error``) is closed and replaced.
    /// - Throws: ``PKCS11Error/Code/timeout`` when no session became free in time; the mapped error of
    ///   `C_OpenSession`; whatever `body` throws.
    func withSession<Result>(timeout: Duration? = nil, _ body: (CK_SESSION_HANDLE) throws -> Result) throws -> Result {
        let session = try self.acquire(timeout: timeout ?? self.waitTimeout)
        do {
            let result = try body(session)
            self.release(session, discard: false)
            return result
        } catch let error as PKCS11Error {
            // Without a CK_RV, `moduleFailure` is SaMDKit's own check of a module's answer, perhaps mid-operation
            // (a decryption whose output size was refused); the other codes are decided before or after a call.
            self.release(session, discard: error.returnValue.map(Self.endsSession) ?? (error.code == .moduleFailure))
            throw error
        } catch {
            // Not the token's answer (an allocation failed, say): an operation may still be active in the session.
            self.release(session, discard: true)
            throw error
        }
    }

    /// Whether a return value means the session is unusable, or may still hold an operation (`CKR_BUFFER_TOO_SMALL`
    /// leaves it active, PKCS#11 v2.40 Base §5.2): such a session is closed rather than given back.
    private static func endsSession(_ returnValue: UInt) -> Bool {
        [
            CKR_SESSION_HANDLE_INVALID, CKR_SESSION_CLOSED, CKR_DEVICE_REMOVED, CKR_TOKEN_NOT_PRESENT,
            CKR_OPERATION_ACTIVE, CKR_BUFFER_TOO_SMALL,
        ].contains(returnValue)
    }

    private func acquire(timeout: Duration) throws -> CK_SESSION_HANDLE {
        let clock = ContinuousClock()
        let deadline = clock.now + max(.zero, timeout)
        self.condition.lock()
        while true {
            if let session = self.idle.popLast() {
                self.condition.unlock()
                return session
            }
            if self.opened < self.capacity {
                self.opened += 1
                self.condition.unlock()
                do {
                    return try Self.openSession(self.functions, slot: self.slot)
                } catch let error as PKCS11Error {
                    self.condition.lock()
                    self.opened -= 1
                    // The token's own limit is lower than ours: wait for one of the sessions already open.
                    guard error.code == .sessionLimit, self.opened > 0 else {
                        self.condition.signal()
                        self.condition.unlock()
                        throw error
                    }
                    self.capacity = self.opened
                    continue
                }
            }
            guard self.condition.wait(for: deadline - clock.now) || !self.idle.isEmpty || self.opened < self.capacity
            else {
                let capacity = self.capacity
                self.condition.unlock()
                throw PKCS11Error(
                    .timeout, "no PKCS#11 session of \(capacity) became free within \(timeout)")
            }
        }
    }

    /// Gives `session` back, or with `discard` closes it — after opening its replacement, so that the pool never
    /// closes its last session while it can open another: that would log the application out of the token.
    private func release(_ session: CK_SESSION_HANDLE, discard: Bool) {
        var replacement: CK_SESSION_HANDLE? = nil
        if discard {
            replacement = try? Self.openSession(self.functions, slot: self.slot)
            _ = self.functions.pointee.C_CloseSession(session)
        }
        self.condition.lock()
        if !discard {
            self.idle.append(session)
        } else if let replacement {
            self.idle.append(replacement)
        } else {
            self.opened -= 1
        }
        self.condition.signal()
        self.condition.unlock()
    }
}

/// PKCS#11 constants the OASIS header defines as shifts (`1UL << n`), which Swift does not import.
enum PKCS11Constants {
    /// `CKF_RW_SESSION`.
    static let readWriteSession: CK_FLAGS = 1 << 1
    /// `CKF_SERIAL_SESSION` (required by every `C_OpenSession`).
    static let serialSession: CK_FLAGS = 1 << 2
    /// `CKF_TOKEN_INITIALIZED` in `CK_TOKEN_INFO.flags`.
    static let tokenInitialized: CK_FLAGS = 1 << 10
    /// `CK_UNAVAILABLE_INFORMATION`.
    static let unavailableInformation: CK_ULONG = ~0
    /// `CKR_AEAD_DECRYPT_FAILED` (PKCS#11 v3.0): an AEAD tag did not verify.
    static let aeadDecryptFailed: CK_RV = 0x35
}
