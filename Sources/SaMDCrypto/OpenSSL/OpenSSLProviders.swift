import CSaMDOpenSSL
import CSaMDShims
import SaMDOpenSSLSupport

/// OpenSSL provider state: FIPS availability and activation.
enum OpenSSLProviders {
    /// Whether a FIPS provider can be loaded: tried in a scratch library context that has read
    /// the system configuration (where `fipsmodule.cnf` is included), then thrown away, so the
    /// process's own default context is not touched.
    static var fipsProviderAvailable: Bool {
        guard let scratch = OSSL_LIB_CTX_new() else {
            OpenSSLErrorQueue.clear()
            return false
        }
        defer { OSSL_LIB_CTX_free(scratch) }
        if let configuration = CONF_get1_default_config_file() {
            _ = OSSL_LIB_CTX_load_config(scratch, configuration)
            CSaMDShims_OPENSSL_free(configuration)
        }
        let provider = OSSL_PROVIDER_try_load(scratch, "fips", 1)
        defer { OpenSSLErrorQueue.clear() }
        guard let provider else { return false }
        let usable = OSSL_PROVIDER_self_test(provider) == 1
        OSSL_PROVIDER_unload(provider)
        return usable
    }

    /// Whether the process's default library context runs on the FIPS provider: the provider is
    /// loaded and the default property query demands `fips=yes`.
    static var fipsProviderActive: Bool {
        OSSL_PROVIDER_available(nil, "fips") == 1 && EVP_default_properties_is_fips_enabled(nil) == 1
    }

    /// Loads the FIPS and base providers into the default library context and sets `fips=yes`.
    static func activateFIPS() throws {
        guard let fips = OSSL_PROVIDER_load(nil, "fips") else {
            let directory = OpenSSLRuntime.modulesDirectory ?? "the OpenSSL modules directory"
            throw CryptoError.openSSL(
                .fipsProviderUnavailable,
                "the nist profile needs an OpenSSL FIPS provider, and none could be loaded from \(directory) "
                    + "(\(OpenSSLRuntime.versionString)); this platform offers no FIPS-validated cryptography"
            )
        }
        guard OSSL_PROVIDER_self_test(fips) == 1 else {
            OSSL_PROVIDER_unload(fips)
            throw CryptoError.openSSL(.fipsProviderUnavailable, "the OpenSSL FIPS provider failed its self-test")
        }
        guard OSSL_PROVIDER_load(nil, "base") != nil else {
            OSSL_PROVIDER_unload(fips)
            throw CryptoError.openSSL(.fipsProviderUnavailable, "the OpenSSL base provider could not be loaded")
        }
        guard EVP_default_properties_enable_fips(nil, 1) == 1 else {
            throw CryptoError.openSSL(.fipsProviderUnavailable, "EVP_default_properties_enable_fips failed")
        }
        // Ciphers and KDFs are fetched anew for each context, but OpenSSL creates the DRBGs once and
        // keeps them. If the primary DRBG existed before this call, it and its per-thread children
        // still come from the default provider: refuse, and undo, rather than claim nist.
        let randomProvider = self.primaryRandomGeneratorProvider()
        guard randomProvider == "fips" else {
            _ = EVP_default_properties_enable_fips(nil, 0)
            OpenSSLErrorQueue.clear()
            throw CryptoError(
                .fipsProviderUnavailable,
                "random numbers were already drawn from the \(randomProvider ?? "unknown") provider's DRBG before the nist "
                    + "profile was requested; activate it at process start, before any other cryptography"
            )
        }
    }

    /// The name of the provider of the library context's primary DRBG ("default", "fips"), creating the
    /// DRBG under the current default properties if it does not exist yet; nil if it cannot be told.
    static func primaryRandomGeneratorProvider() -> String? {
        guard
            let primary = RAND_get0_primary(nil),
            let generator = EVP_RAND_CTX_get0_rand(primary),
            let provider = EVP_RAND_get0_provider(generator),
            let name = OSSL_PROVIDER_get0_name(provider)
        else {
            OpenSSLErrorQueue.clear()
            return nil
        }
        return String(cString: name)
    }
}
