// Initialising a token through the module: C_InitToken, then the user PIN (C_InitPIN) as the security officer.

import CSaMDShims
import Synchronization

extension PKCS11Module {
    /// One token initialisation at a time in the process: two would race for the same uninitialised token.
    private static let provisioning = Mutex(())

    /// Initialises the first uninitialised token of the module (a slot whose token lacks
    /// `CKF_TOKEN_INITIALIZED`, such as SoftHSM2's free slot) with `label` and the security officer's PIN, then
    /// sets the user PIN: `C_InitToken`, then `C_Login` as `CKU_SO`, `C_InitPIN`, `C_Logout`. Everything the token
    /// held is erased. For provisioning, and for a token made by a process that has already loaded the module
    /// (SoftHSM2 reads its token directory once, at `C_Initialize`, so a token made by `softhsm2-util` afterwards
    /// is not seen; one made here is).
    ///
    /// - Parameters:
    ///   - label: 1…32 bytes of UTF-8, blank-padded to 32 as `C_InitToken` takes it; no other token of the module
    ///     may have it.
    ///   - securityOfficerPIN, userPIN: 1…``PKCS11Token/maximumPINBytes`` bytes each, in guarded memory (read in
    ///     place, not kept).
    /// - Returns: the slot of the token (`CK_SLOT_ID`).
    /// - Throws: ``PKCS11Error/Code/invalidInput`` for a label out of bounds or already used;
    ///   ``PKCS11Error/Code/tokenAbsent`` when no slot holds an uninitialised token; ``PKCS11Error/Code/pinIncorrect``
    ///   for a PIN the token refuses (`CKR_PIN_LEN_RANGE`); another mapped `CK_RV`. No message holds a PIN.
    /// - SeeAlso: PKCS#11 v2.40 Base §5.6 (`C_InitToken`, `C_InitPIN`).
    @discardableResult
    package func initializeToken(
        label: String, securityOfficerPIN: some PKCS11SecretBytes, userPIN: some PKCS11SecretBytes
    ) throws -> UInt {
        try Self.provisioning.withLock { _ in
            guard !label.isEmpty, label.utf8.count <= 32 else {
                throw PKCS11Error(
                    .invalidInput, "a token label is 1 to 32 bytes of UTF-8: \(PKCS11Text.escaped(label, limit: 64))")
            }
            do {
                _ = try self.slot(tokenLabel: label)
                throw PKCS11Error(.invalidInput, "a token labelled \(PKCS11Text.escaped(label)) already exists")
            } catch let error as PKCS11Error where error.code == .tokenAbsent {}
            let slot = try self.uninitializedSlot()
            var padded = Array(label.utf8) + [UInt8](repeating: 0x20, count: 32 - label.utf8.count)
            let initialized = try Self.withPIN(securityOfficerPIN) { pin, count in
                self.functions.pointee.C_InitToken(slot, pin, count, &padded)
            }
            guard initialized == CKR_OK else {
                throw PKCS11Error.call("C_InitToken of \(PKCS11Text.escaped(label))", initialized)
            }
            let session = try PKCS11SessionPool.openSession(self.functions, slot: slot)
            defer { _ = self.functions.pointee.C_CloseSession(session) }
            let login = try Self.withPIN(securityOfficerPIN) { pin, count in
                self.functions.pointee.C_Login(session, CKU_SO, pin, count)
            }
            guard login == CKR_OK else {
                throw PKCS11Error.call("C_Login as the security officer of \(PKCS11Text.escaped(label))", login)
            }
            defer { _ = self.functions.pointee.C_Logout(session) }
            let userPINResult = try Self.withPIN(userPIN) { pin, count in
                self.functions.pointee.C_InitPIN(session, pin, count)
            }
            guard userPINResult == CKR_OK else {
                throw PKCS11Error.call("C_InitPIN of \(PKCS11Text.escaped(label))", userPINResult)
            }
            return slot
        }
    }

    /// The first slot with a token present that is not initialised.
    private func uninitializedSlot() throws -> CK_SLOT_ID {
        // slotsWithTokens asks for the count with a NULL list first: SoftHSM2 adds a new free slot on that call
        // when none is left.
        for slot in try self.slotsWithTokens() {
            var info = CK_TOKEN_INFO()
            guard self.functions.pointee.C_GetTokenInfo(slot, &info) == CKR_OK else { continue }
            if info.flags & PKCS11Constants.tokenInitialized == 0 { return slot }
        }
        throw PKCS11Error(.tokenAbsent, "no slot of \(PKCS11Text.escaped(self.path)) holds an uninitialised token")
    }

    /// Calls `body` with the PIN's bytes in place (never copied).
    /// - Throws: ``PKCS11Error/Code/invalidInput`` for a PIN that is empty or over ``PKCS11Token/maximumPINBytes``.
    static func withPIN(
        _ pin: some PKCS11SecretBytes, _ body: (UnsafeMutablePointer<CK_UTF8CHAR>, CK_ULONG) -> CK_RV
    ) throws -> CK_RV {
        try pin.withUnsafeBytes { bytes in
            guard (1...PKCS11Token.maximumPINBytes).contains(bytes.count), let base = bytes.baseAddress else {
                throw PKCS11Error(.invalidInput, "a PIN is 1 to \(PKCS11Token.maximumPINBytes) bytes")
            }
            return body(
                UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: CK_UTF8CHAR.self)), CK_ULONG(bytes.count))
        }
    }
}
