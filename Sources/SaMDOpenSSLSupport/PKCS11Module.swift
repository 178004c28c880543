// A PKCS#11 module loaded at run time (dlopen), once per path in the process.

import CSaMDShims
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A PKCS#11 module (a Cryptoki library such as SoftHSM2's `libsofthsm2.so`, an HSM vendor's client, or
/// tpm2-pkcs11), loaded with `dlopen(RTLD_NOW | RTLD_LOCAL)` and initialised with `C_Initialize` and
/// `CKF_OS_LOCKING_OK`, so its functions may be called from any thread.
///
/// ``load(path:)`` loads each file once per process: every caller with the same path (after symbolic links are
/// resolved) gets the same instance. A module is never finalised: `C_Finalize` ends every session of every user
/// of the module in the process (OpenSSL's `pkcs11` engine among them), so SaMDKit leaves the module
/// initialised until the process exits. SaMDKit links no PKCS#11 library.
///
/// - SeeAlso: PKCS#11 v2.40 Base §5.4 (`C_Initialize`, `C_GetInfo`, `C_GetFunctionList`), RFC 7512
///   (`module-path`).
package final class PKCS11Module: Sendable {
    /// The module's file, with symbolic links resolved.
    package let path: String
    /// What `C_GetInfo` says about the module (an SBOM names it from this).
    package let information: Information
    /// Whether this process had already initialised the module when SaMDKit loaded it
    /// (`CKR_CRYPTOKI_ALREADY_INITIALIZED`, for example by OpenSSL's `pkcs11` engine).
    package let wasAlreadyInitialized: Bool

    /// The module's function list, valid until the process exits (the module is never unloaded). PKCS#11 allows
    /// concurrent calls from any thread once initialised with `CKF_OS_LOCKING_OK`.
    nonisolated(unsafe) let functions: UnsafeMutablePointer<CK_FUNCTION_LIST>
    /// One slot-list read at a time in the process: SoftHSM 2.6 inserts the slots of tokens made since its last
    /// `C_GetSlotList` during that call (its new free slot after a `C_InitToken`), and two threads inserting the
    /// same slot abort the process (`SlotManager::insertToken`: `Assertion result.second failed`) — it aborted
    /// the test suite once, where tokens are made and opened from parallel tests. Process-wide rather
    /// than per module object, because OpenSSL's pkcs11 engine (libp11) lists the slots of the same loaded
    /// library too (``withSlotListing(_:)``). A slot list is read only when a token is opened or made, or a
    /// token key loaded, never per operation, so serialising it costs nothing measurable.
    private static let slotListing = Mutex(())

    /// Runs `body`, which lists a module's slots (`C_GetSlotList`, or the pkcs11 engine loading a key, which
    /// does), while no other such call runs in the process.
    package static func withSlotListing<T>(_ body: () throws -> T) rethrows -> T {
        try Self.slotListing.withLock { _ in try body() }
    }

    /// `C_GetInfo`, with PKCS#11's blank padding removed.
    package struct Information: Sendable, Hashable {
        /// `manufacturerID`, e.g. "SoftHSM".
        package let manufacturer: String
        /// `libraryDescription`, e.g. "Implementation of PKCS11".
        package let libraryDescription: String
        /// `libraryVersion`, `major.minor` (e.g. "2.6").
        package let libraryVersion: String
        /// `cryptokiVersion`, the PKCS#11 version the module implements, `major.minor` (e.g. "2.40").
        package let cryptokiVersion: String
    }

    private static let loaded = Mutex<[String: PKCS11Module]>([:])

    /// Whether the process is exiting: set by an `atexit` handler registered after each module is loaded, so
    /// that it runs before that module's own teardown (the C++ static destructors `dlopen` registered: SoftHSM2
    /// frees its sessions and slots there, and a call meanwhile from another thread crashes the process — a
    /// session pool released on one thread while a command returned and exited on another did, once).
    private static let exiting = Mutex(false)

    /// Runs `body`, which calls a module while releasing what it holds (`C_CloseSession` in a `deinit`), unless
    /// the process is exiting — then the process's end closes the sessions. While `body` runs, the exit
    /// handler waits, so no such call overlaps a module's teardown.
    package static func unlessExiting(_ body: () -> Void) {
        Self.exiting.withLock { exiting in
            if !exiting { body() }
        }
    }

    /// The longest module path accepted, in bytes.
    package static let maximumPathBytes = 4096

    private init(
        path: String, functions: UnsafeMutablePointer<CK_FUNCTION_LIST>, information: Information,
        wasAlreadyInitialized: Bool
    ) {
        self.path = path
        self.functions = functions
        self.information = information
        self.wasAlreadyInitialized = wasAlreadyInitialized
    }

    /// The module at `path` (an absolute path, as RFC 7512's `module-path`), loaded and initialised on first use
    /// and shared by every later caller.
    /// - Throws: ``PKCS11Error/Code/invalidInput`` for a path that is empty, relative, longer than
    ///   ``maximumPathBytes`` or holds a NUL; ``PKCS11Error/Code/moduleMissing`` when no file is there or
    ///   `dlopen` fails (the message names the path and `dlerror`'s text); ``PKCS11Error/Code/notAPKCS11Module``
    ///   when the object has no `C_GetFunctionList` or it, `C_Initialize` or `C_GetInfo` fails.
    package static func load(path: String) throws -> PKCS11Module {
        guard path.hasPrefix("/"), path.utf8.count <= Self.maximumPathBytes, !path.utf8.contains(0) else {
            throw PKCS11Error(
                .invalidInput,
                "a PKCS#11 module path must be absolute, without NUL, at most \(Self.maximumPathBytes) bytes: "
                    + PKCS11Text.escaped(path, limit: 256))
        }
        guard let resolved = realpath(path, nil) else {
            throw PKCS11Error(
                .moduleMissing, "no PKCS#11 module at \(PKCS11Text.escaped(path)): \(String(cString: strerror(errno)))")
        }
        let canonical = String(cString: resolved)
        free(resolved)
        return try Self.loaded.withLock { modules in
            if let module = modules[canonical] { return module }
            let module = try Self.open(canonical)
            modules[canonical] = module
            atexit { PKCS11Module.exiting.withLock { $0 = true } }
            return module
        }
    }

    /// The modules this process has loaded, by path (for an inventory of what runs).
    package static var loadedModules: [PKCS11Module] {
        Self.loaded.withLock { Array($0.values) }.sorted { $0.path < $1.path }
    }

    private static func open(_ path: String) throws -> PKCS11Module {
        var error = [CChar](repeating: 0, count: 512)
        guard let handle = CSaMDShims_pkcs11_dlopen(path, &error, error.count) else {
            let text = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw PKCS11Error(
                .moduleMissing, "dlopen could not load \(PKCS11Text.escaped(path)): \(PKCS11Text.escaped(text))")
        }
        var list: UnsafeMutablePointer<CK_FUNCTION_LIST>? = nil
        var returnValue: CK_RV = 0
        guard CSaMDShims_pkcs11_get_function_list(handle, &list, &returnValue) == 0 else {
            CSaMDShims_pkcs11_dlclose(handle)
            throw PKCS11Error(
                .notAPKCS11Module, "\(PKCS11Text.escaped(path)) has no C_GetFunctionList: not a PKCS#11 module")
        }
        guard returnValue == CKR_OK, let list, list.pointee.C_Initialize != nil, list.pointee.C_GetInfo != nil else {
            CSaMDShims_pkcs11_dlclose(handle)
            throw PKCS11Error(
                .notAPKCS11Module,
                "C_GetFunctionList of \(PKCS11Text.escaped(path)) failed: \(PKCS11ReturnValue.describe(returnValue))",
                returnValue: returnValue)
        }
        let initialized = CSaMDShims_pkcs11_initialize(list)
        guard initialized == CKR_OK || initialized == CKR_CRYPTOKI_ALREADY_INITIALIZED else {
            CSaMDShims_pkcs11_dlclose(handle)
            throw PKCS11Error(
                .notAPKCS11Module,
                "C_Initialize of \(PKCS11Text.escaped(path)) failed: \(PKCS11ReturnValue.describe(initialized))",
                returnValue: initialized)
        }
        var info = CK_INFO()
        let infoResult = list.pointee.C_GetInfo(&info)
        guard infoResult == CKR_OK else {
            // Initialised: left loaded, as a module is never finalised (another user may share it).
            throw PKCS11Error.call("C_GetInfo of \(PKCS11Text.escaped(path))", infoResult, otherwise: .notAPKCS11Module)
        }
        let information = Information(
            manufacturer: PKCS11Text.padded(info.manufacturerID),
            libraryDescription: PKCS11Text.padded(info.libraryDescription),
            libraryVersion: "\(info.libraryVersion.major).\(info.libraryVersion.minor)",
            cryptokiVersion: "\(info.cryptokiVersion.major).\(info.cryptokiVersion.minor)"
        )
        return PKCS11Module(
            path: path, functions: list, information: information,
            wasAlreadyInitialized: initialized == CKR_CRYPTOKI_ALREADY_INITIALIZED)
    }

    /// The slot whose token is labelled `label` (RFC 7512 `token=`; PKCS#11 `CK_TOKEN_INFO.label`, compared
    /// after its blank padding is removed). Slots whose token cannot be read are skipped.
    /// - Throws: ``PKCS11Error/Code/invalidInput`` for a label that is empty or longer than 32 bytes of UTF-8;
    ///   ``PKCS11Error/Code/tokenAbsent`` when no slot holds such a token; ``PKCS11Error/Code/tokenAmbiguous``
    ///   when several do; the mapped error of `C_GetSlotList`.
    /// - SeeAlso: PKCS#11 v2.40 Base §5.5 (`C_GetSlotList`, `C_GetTokenInfo`).
    func slot(tokenLabel label: String) throws -> (slot: UInt, information: CK_TOKEN_INFO) {
        guard !label.isEmpty, label.utf8.count <= 32 else {
            throw PKCS11Error(
                .invalidInput, "a token label is 1 to 32 bytes of UTF-8: \(PKCS11Text.escaped(label, limit: 64))")
        }
        let slots = try self.slotsWithTokens()
        var matches: [(UInt, CK_TOKEN_INFO)] = []
        for slot in slots {
            var info = CK_TOKEN_INFO()
            guard self.functions.pointee.C_GetTokenInfo(slot, &info) == CKR_OK else { continue }
            if PKCS11Text.padded(info.label) == label { matches.append((slot, info)) }
        }
        guard let first = matches.first else {
            throw PKCS11Error(
                .tokenAbsent,
                "no slot of \(PKCS11Text.escaped(self.path)) holds a token labelled \(PKCS11Text.escaped(label))")
        }
        guard matches.count == 1 else {
            throw PKCS11Error(
                .tokenAmbiguous,
                "\(matches.count) slots of \(PKCS11Text.escaped(self.path)) hold a token labelled "
                    + PKCS11Text.escaped(label))
        }
        return first
    }
}

extension PKCS11Module {
    /// The slots with a token present (`C_GetSlotList` with `tokenPresent` true): a `NULL` list first for the count,
    /// then the list, again while it grows between the two calls (a token inserted), at most 4 times.
    /// - Throws: the mapped error of `C_GetSlotList`.
    func slotsWithTokens() throws -> [CK_SLOT_ID] {
        try Self.withSlotListing { try self.readSlotList() }
    }

    private func readSlotList() throws -> [CK_SLOT_ID] {
        for _ in 0..<4 {
            var count: CK_ULONG = 0
            var result = self.functions.pointee.C_GetSlotList(CK_BBOOL(CK_TRUE), nil, &count)
            guard result == CKR_OK else { throw PKCS11Error.call("C_GetSlotList", result) }
            var slots = [CK_SLOT_ID](repeating: 0, count: Int(min(count, 4096)))
            var filled = CK_ULONG(slots.count)
            result = self.functions.pointee.C_GetSlotList(CK_BBOOL(CK_TRUE), &slots, &filled)
            if result == CKR_BUFFER_TOO_SMALL { continue }
            guard result == CKR_OK else { throw PKCS11Error.call("C_GetSlotList", result) }
            return Array(slots.prefix(Int(min(filled, CK_ULONG(slots.count)))))
        }
        throw PKCS11Error(.moduleFailure, "C_GetSlotList: the list of slots kept growing")
    }
}

/// Text from and for PKCS#11: blank-padded fields, and escaped text for messages.
package enum PKCS11Text {
    /// A fixed-size, blank-padded UTF-8 field of a PKCS#11 structure (a tuple of bytes) without its padding.
    static func padded<Field>(_ field: Field) -> String {
        withUnsafeBytes(of: field) { bytes in
            var text = String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            while text.last == " " { text.removeLast() }
            return text
        }
    }

    /// `text` in double quotes, control characters as `\u{…}`, cut after `limit` characters.
    package static func escaped(_ text: String, limit: Int = 1024) -> String {
        var result = "\""
        for (index, scalar) in text.unicodeScalars.enumerated() {
            if index == limit {
                result += "…"
                break
            }
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case _
            where scalar.properties.generalCategory == .control || scalar.value == 0x2028
                || scalar.value == 0x2029:
                result += "\\u{\(String(scalar.value, radix: 16))}"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
