/// The TLS parameters SaMDTLS configures on OpenSSL for each profile, in OpenSSL's names and in
/// preference order. One definition, read by SaMDTLS (`SSL_CTX_set_ciphersuites`, `…_set_cipher_list`,
/// `…_set1_groups_list`, `…_set1_sigalgs_list`) and by SaMDSBOM (the CBOM), so the two cannot drift. It lives
/// below both, in OpenSSL's own names, so that SaMDSBOM reads it without linking SaMDTLS and SwiftNIO.
/// - SeeAlso: RFC 8446 §B.4 (TLS 1.3 cipher suites), NIST SP 800-52r2 §3.3.1.
package struct TLSParameters: Sendable, Hashable {
    /// TLS 1.3 cipher suites (IANA names, which OpenSSL uses for TLS 1.3).
    package var tls13Suites: [String]
    /// TLS 1.2 ECDHE + AEAD suites (OpenSSL names), used only when TLS 1.2 is allowed.
    package var tls12Suites: [String]
    /// Key-exchange groups (OpenSSL names).
    package var groups: [String]
    /// Signature algorithms (OpenSSL names).
    package var signatureAlgorithms: [String]

    /// `default`: AES-256-GCM, ChaCha20-Poly1305, AES-128-GCM; X25519, P-256, P-384.
    package static let `default` = TLSParameters(
        tls13Suites: ["TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256"],
        tls12Suites: [
            "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305",
            "ECDHE-RSA-CHACHA20-POLY1305", "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
        ],
        groups: ["X25519", "P-256", "P-384"],
        signatureAlgorithms: [
            "ECDSA+SHA256", "ECDSA+SHA384", "ECDSA+SHA512", "ed25519", "ed448", "rsa_pss_pss_sha256",
            "rsa_pss_pss_sha384",
            "rsa_pss_pss_sha512", "rsa_pss_rsae_sha256", "rsa_pss_rsae_sha384", "rsa_pss_rsae_sha512",
            "RSA+SHA256", "RSA+SHA384", "RSA+SHA512",
        ]
    )

    /// `nist` (SP 800-52r2): AES-GCM suites only; P-256 and P-384 only.
    package static let nist = TLSParameters(
        tls13Suites: ["TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256"],
        tls12Suites: [
            "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-AES128-GCM-SHA256",
            "ECDHE-RSA-AES128-GCM-SHA256",
        ],
        groups: ["P-256", "P-384"],
        signatureAlgorithms: [
            "ECDSA+SHA256", "ECDSA+SHA384", "rsa_pss_rsae_sha256", "rsa_pss_rsae_sha384", "rsa_pss_pss_sha256",
            "rsa_pss_pss_sha384", "RSA+SHA256", "RSA+SHA384",
        ]
    )
}
