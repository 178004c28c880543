import CSaMDOpenSSL
import CSaMDShims
import SaMDCrypto
import SaMDOpenSSLSupport

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension PrivateKey {
    /// Parses a PEM private key (PKCS#8, encrypted PKCS#8 or traditional). The passphrase callback is always
    /// installed, so OpenSSL never prompts on a terminal: without a passphrase an encrypted key fails.
    static func parse(pem: [UInt8], passphrase: SecureBytes?) throws -> PrivateKey {
        guard let bio = MemoryBIO(bytes: pem) else { throw TLSError(.io, "cannot make a memory BIO") }
        OpenSSLErrorQueue.clear()
        let key: OpaquePointer? =
            if let passphrase {
                passphrase.withUnsafeBytes { bytes in
                    var holder = PassphraseHolder(bytes: bytes)
                    return withUnsafeMutablePointer(to: &holder) { pointer in
                        PEM_read_bio_PrivateKey(bio.pointer, nil, passphraseCallback, pointer)
                    }
                }
            } else {
                PEM_read_bio_PrivateKey(bio.pointer, nil, noPassphraseCallback, nil)
            }
        guard let key else {
            let details = OpenSSLErrorQueue.drainSummary()
            let hint =
                passphrase == nil
                ? "not a PEM private key, or an encrypted one and no passphrase was given"
                : "not a PEM private key, or the passphrase is wrong"
            throw TLSError(.invalidIdentity, "the private key cannot be read: \(hint) \(details)")
        }
        return PrivateKey(takingOwnership: key)
    }
}

private struct PassphraseHolder {
    let bytes: UnsafeRawBufferPointer
}

private let passphraseCallback:
    @convention(c) (UnsafeMutablePointer<CChar>?, Int32, Int32, UnsafeMutableRawPointer?) -> Int32 = {
        buffer, size, _, user in
        guard let buffer, let user, size > 0 else { return 0 }
        let holder = user.assumingMemoryBound(to: PassphraseHolder.self).pointee
        guard holder.bytes.count <= Int(size) else { return 0 }
        UnsafeMutableRawPointer(buffer).copyMemory(from: holder.bytes.baseAddress!, byteCount: holder.bytes.count)
        return Int32(holder.bytes.count)
    }

private let noPassphraseCallback:
    @convention(c) (UnsafeMutablePointer<CChar>?, Int32, Int32, UnsafeMutableRawPointer?) -> Int32 = { _, _, _, _ in
        0
    }

/// A certificate chain and its private key, read and validated completely: what a reload swaps in.
struct LoadedIdentity {
    let chain: [X509Certificate]
    let key: PrivateKey

    /// - Throws: for a token key, the errors of `TokenKeyLoader.load` and ``TLSError/Code/pkcs11KeyMismatch`` when it
    ///   does not match the leaf; ``TLSError/Code/invalidIdentity`` for an empty chain, a key that does not match the leaf,
    ///   a leaf that is expired or not yet valid, a leaf without the EKU of `role` (serverAuth for servers,
    ///   clientAuth for clients), a leaf whose keyUsage lacks digitalSignature (RFC 8446 §4.4.2.2), or a
    ///   chain whose certificates are not each issued and signed by the next;
    ///   ``TLSError/Code/io`` when a file cannot be read.
    init(_ source: TLSIdentitySource, role: TLSConfiguration.Role, now: Date = Date()) throws {
        let chain = try X509Certificate.parseChain(
            pem: source.certificateChain.read(what: "certificate chain"), what: "certificate chain")
        guard let leaf = chain.first else {
            throw TLSError(.invalidIdentity, "the certificate chain holds no PEM certificate")
        }
        let key: PrivateKey
        if let tokenKey = source.tokenKey {
            key = try TokenKeyLoader.load(tokenKey)
        } else {
            let keyBytes = try source.privateKey.read(what: "private key")
            key = try PrivateKey.parse(pem: keyBytes, passphrase: source.passphrase)
        }

        OpenSSLErrorQueue.clear()
        guard X509_check_private_key(leaf.pointer, key.pointer) == 1 else {
            OpenSSLErrorQueue.clear()
            if let tokenKey = source.tokenKey {
                throw TLSError(
                    .pkcs11KeyMismatch,
                    "the token key \(tokenKey.uri.pathOnly) does not match the public key of the certificate \(leaf.subject)"
                )
            }
            throw TLSError(.invalidIdentity, "the private key does not match the certificate \(leaf.subject)")
        }
        if let notBefore = leaf.notBefore, notBefore > now {
            throw TLSError(.invalidIdentity, "the certificate \(leaf.subject) is not valid before \(notBefore)")
        }
        guard let notAfter = leaf.notAfter, notAfter > now else {
            throw TLSError(
                .invalidIdentity, "the certificate \(leaf.subject) expired at \(leaf.notAfter.map { "\($0)" } ?? "?")")
        }
        let eku: (nid: Int32, name: String) =
            role == .server ? (NID_server_auth, "serverAuth") : (NID_client_auth, "clientAuth")
        if leaf.extendedKeyUsage(includes: eku.nid) == false {
            throw TLSError(
                .invalidIdentity,
                "the certificate \(leaf.subject) has an extended key usage without \(eku.name): peers would refuse it"
            )
        }
        guard leaf.keyUsageAllowsDigitalSignature else {
            throw TLSError(
                .invalidIdentity,
                ChainCheck.keyUsageWithoutDigitalSignature(leaf, "certificate") + ": peers would refuse it")
        }
        for (subject, issuer) in zip(chain, chain.dropFirst()) {
            guard X509_check_issued(issuer.pointer, subject.pointer) == X509_V_OK,
                let issuerKey = X509_get0_pubkey(issuer.pointer),
                X509_verify(subject.pointer, issuerKey) == 1
            else {
                OpenSSLErrorQueue.clear()
                throw TLSError(
                    .invalidIdentity,
                    "the certificate chain is out of order or incomplete: \(subject.subject) is not issued by \(issuer.subject)"
                )
            }
        }
        self.chain = chain
        self.key = key
    }
}
