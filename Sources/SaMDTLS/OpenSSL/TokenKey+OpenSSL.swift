// A TLS private key in a PKCS #11 token, loaded through OpenSSL: the `pkcs11` engine on OpenSSL 3.0.

import CSaMDOpenSSL
import CSaMDShims
import SaMDCrypto
import SaMDOpenSSLSupport

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Loads a ``TLSTokenKey``. The one place that chooses how: today the `pkcs11` engine (OpenSSL 3.0, libp11). A
/// later release adds the `pkcs11-provider` path here (OpenSSL ≥ 3.2 with the provider installed: `OSSL_STORE_open`
/// on the URI under a library context that has the provider loaded), chosen before the engine when available.
enum TokenKeyLoader {
    /// How OpenSSL reaches a token key in this process.
    enum Route {
        /// libp11's `pkcs11` ENGINE (`CSaMDShims/engine.c`): OpenSSL 3.0, where engines still work.
        case engine
        // case provider: `pkcs11-provider` through OSSL_STORE (OpenSSL ≥ 3.2, Debian 13). To add: load it in its
        // own OSSL_LIB_CTX with its `pkcs11-module-path` set from the URI, open the URI (the PIN through the
        // store's UI method, not `pin-value`), take the EVP_PKEY; bound every wait (latchset/pkcs11-provider#634).
    }

    /// The route for this process. Today always the engine; the provider, once added, is chosen first when
    /// `OSSL_PROVIDER_try_load(nil, "pkcs11", 1)` succeeds.
    static var route: Route { .engine }

    /// The path attributes the engine (libp11 0.4.12) matches on; any other would be silently dropped.
    private static func checkEngineCanHonour(_ uri: PKCS11URI) throws {
        var refused: [String] = []
        if uri.libraryManufacturer != nil { refused.append("library-manufacturer") }
        if uri.libraryDescription != nil { refused.append("library-description") }
        if uri.libraryVersion != nil { refused.append("library-version") }
        if uri.slotDescription != nil { refused.append("slot-description") }
        if uri.slotManufacturer != nil { refused.append("slot-manufacturer") }
        if uri.slotID != nil { refused.append("slot-id") }
        refused += uri.vendorPathAttributes.map(\.name)
        guard refused.isEmpty else {
            throw TLSError(
                .invalidConfiguration,
                "the token key URI \(uri) has attributes the pkcs11 engine cannot match on (\(refused.joined(separator: ", "))): name the token by token=, the key by object= or id="
            )
        }
        guard uri.type == nil || uri.type == .private else {
            throw TLSError(
                .invalidConfiguration, "the token key URI \(uri) names type=\(uri.type!.rawValue), not private")
        }
        guard uri.object != nil || uri.id != nil else {
            throw TLSError(.invalidConfiguration, "the token key URI \(uri) names no key: give object= or id=")
        }
    }

    /// The private key, its signatures made by the token.
    /// - Throws: ``TLSError`` with ``TLSError/Code/invalidConfiguration`` for a URI the engine cannot use,
    ///   ``TLSError/Code/pkcs11PINUnavailable``, ``TLSError/Code/pkcs11ModuleUnavailable``,
    ///   ``TLSError/Code/pkcs11EngineUnavailable``, ``TLSError/Code/pkcs11TokenAbsent``,
    ///   ``TLSError/Code/pkcs11PINIncorrect``, ``TLSError/Code/pkcs11PINLocked``, ``TLSError/Code/pkcs11KeyNotFound``.
    static func load(_ key: TLSTokenKey) throws -> PrivateKey {
        switch self.route {
        case .engine: try self.loadThroughEngine(key)
        }
    }

    private static func loadThroughEngine(_ key: TLSTokenKey) throws -> PrivateKey {
        let uri = key.uri
        guard let modulePath = uri.modulePath else {
            throw TLSError(
                .invalidConfiguration,
                "the token key URI \(uri) has no module-path: give the PKCS #11 module, e.g. ?module-path=/usr/lib/softhsm/libsofthsm2.so"
            )
        }
        guard modulePath.hasPrefix("/"), !modulePath.utf8.contains(0) else {
            throw TLSError(.invalidConfiguration, "module-path in \(uri) is not an absolute path")
        }
        try self.checkEngineCanHonour(uri)
        var info = stat()
        guard stat(modulePath, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw TLSError(
                .pkcs11ModuleUnavailable, "the PKCS #11 module \(PKCS11URI.printable(modulePath)) does not exist")
        }
        let pin: SecureBytes
        do {
            pin = try key.pin.read()
        } catch let error as PKCS11PINError {
            throw TLSError(.pkcs11PINUnavailable, "no PIN for the token of \(uri.pathOnly): \(error.reason)")
        }
        let keyURI = uri.pathOnly.description
        OpenSSLErrorQueue.clear()
        var status: Int32 = 0
        // libp11 lists the module's slots while it loads the key: not while SaMDKit's PKCS #11 layer does.
        let loaded = PKCS11Module.withSlotListing {
            pin.withUnsafeBytes { bytes in
                CSaMDShims_pkcs11_engine_load_private_key(
                    modulePath, keyURI, bytes.bindMemory(to: UInt8.self).baseAddress, bytes.count, &status)
            }
        }
        if let loaded { return PrivateKey(takingOwnership: loaded) }
        let entries = OpenSSLErrorQueue.drain()
        let details = entries.isEmpty ? "" : " [OpenSSL: " + entries.map(\.summary).joined(separator: "; ") + "]"
        switch status {
        case Int32(CSAMD_PKCS11_ENGINE_MISSING.rawValue), Int32(CSAMD_PKCS11_ENGINE_INIT_FAILED.rawValue),
            Int32(CSAMD_PKCS11_ENGINE_CONTROL_FAILED.rawValue):
            throw TLSError(
                .pkcs11EngineUnavailable,
                "OpenSSL's pkcs11 engine cannot be loaded: install libengine-pkcs11-openssl (Debian, Ubuntu)\(details)")
        case Int32(CSAMD_PKCS11_ENGINE_OTHER_MODULE_BOUND.rawValue):
            let bound = CSaMDShims_pkcs11_engine_bound_module_path().map { String(cString: $0) } ?? "?"
            throw TLSError(
                .invalidConfiguration,
                "this process already uses the PKCS #11 module \(PKCS11URI.printable(bound)) for token keys; one module per process (asked for \(PKCS11URI.printable(modulePath)))"
            )
        case Int32(CSAMD_PKCS11_ENGINE_INVALID_ARGUMENT.rawValue):
            throw TLSError(.invalidConfiguration, "the token key URI \(uri) or its PIN cannot be passed to the engine")
        default:
            throw self.classify(entries, uri: uri, modulePath: modulePath, details: details)
        }
    }

    /// The error for a failed `ENGINE_load_private_key`, from libp11's entries in the error queue: its "PKCS#11
    /// module" library carries the `CK_RV` as the reason code.
    private static func classify(
        _ entries: [OpenSSLErrorQueue.Entry], uri: PKCS11URI, modulePath: String, details: String
    )
        -> TLSError
    {
        let named = "the token of \(uri.pathOnly)"
        for entry in entries where entry.library == "PKCS#11 module" {
            switch UInt(entry.reasonCode) {
            case 0xA0: return TLSError(.pkcs11PINIncorrect, "\(named) refused the PIN (CKR_PIN_INCORRECT)")
            case 0xA4: return TLSError(.pkcs11PINLocked, "\(named): the user PIN is locked (CKR_PIN_LOCKED)")
            case 0xE0: return TLSError(.pkcs11TokenAbsent, "\(named) is not present (CKR_TOKEN_NOT_PRESENT)")
            case 0x32: return TLSError(.pkcs11TokenAbsent, "\(named) was removed (CKR_DEVICE_REMOVED)")
            default: continue
            }
        }
        if entries.contains(where: { $0.reason == "Unable to load PKCS#11 module" }) {
            return TLSError(
                .pkcs11ModuleUnavailable,
                "\(PKCS11URI.printable(modulePath)) cannot be loaded as a PKCS #11 module (no C_GetFunctionList, or C_Initialize failed)\(details)"
            )
        }
        if let token = uri.token,
            PKCS11Module.withSlotListing({ CSaMDShims_pkcs11_engine_token_present(modulePath, token) }) == 0
        {
            return TLSError(
                .pkcs11TokenAbsent,
                "no token labelled \(PKCS11URI.printable(token)) is present in \(PKCS11URI.printable(modulePath)) (tokens added after the module's first use in this process are not seen)"
            )
        }
        if entries.contains(where: { $0.reason == "object not found" }) {
            return TLSError(.pkcs11KeyNotFound, "no private key matches \(uri.pathOnly) in the token\(details)")
        }
        return TLSError(.invalidIdentity, "the private key \(uri.pathOnly) cannot be loaded from the token\(details)")
    }
}
