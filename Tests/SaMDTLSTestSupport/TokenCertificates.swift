// Certificates for key pairs generated in a SoftHSM2 token: for a pair pkcs11-tool made, the public key read with
// pkcs11-tool and the certificate issued with `openssl x509 -new -force_pubkey` by a test CA (an independent issuer);
// for a pair SaMDKit made, SaMDDevPKI's `issueLeaf(forPublicKey:…)` on the SPKI the token returned.

public import Foundation
public import SaMDDevPKI
public import SaMDTestSupport

extension SoftHSMToken {
    /// The public key of the token's key pair `label`, PEM SubjectPublicKeyInfo (read with
    /// `pkcs11-tool --read-object --type pubkey`).
    public func publicKeyPEM(label: String, in directory: URL) async throws -> String {
        let der = directory.appendingPathComponent("\(label)-\(UUID().uuidString.prefix(8)).pub.der").path
        let read = try await self.pkcs11Tool(["--read-object", "--type", "pubkey", "--label", label, "-o", der])
        guard read.status == 0 else { throw SetupFailure("pkcs11-tool --read-object failed: \(read)") }
        let pem = der + ".pem"
        let openssl = try ProgramLocations.requiredTool("openssl")
        let convert = try await ChildProcess.run(
            openssl, ["pkey", "-pubin", "-inform", "DER", "-in", der, "-out", pem], timeout: .seconds(30))
        guard convert.status == 0 else { throw SetupFailure("openssl pkey failed: \(convert)") }
        return pem
    }

    /// Issues a leaf certificate for the token's key pair `label` from `authority` and writes its chain (leaf, then
    /// `authority`'s certificate) to `directory`; returns the chain's path. `subjectAltNames` is OpenSSL's syntax
    /// (`DNS:localhost,IP:127.0.0.1`, `URI:urn:…`); the EKU is serverAuth, clientAuth or both.
    public func issueCertificate(
        forKey label: String,
        by authority: DevelopmentCertificateAuthority,
        commonName: String,
        subjectAltNames: String,
        serverAuth: Bool = true,
        clientAuth: Bool = false,
        in directory: URL
    ) async throws -> String {
        let publicKey = try await self.publicKeyPEM(label: label, in: directory)
        let stem = directory.appendingPathComponent("\(label)-\(UUID().uuidString.prefix(8))").path
        let caCertificate = stem + ".ca.pem"
        let caKey = stem + ".ca.key"
        try Data(authority.certificate.certificatePEM.utf8).write(to: URL(fileURLWithPath: caCertificate))
        try Data(authority.certificate.privateKeyPEM.utf8).write(to: URL(fileURLWithPath: caKey))
        defer { try? FileManager.default.removeItem(atPath: caKey) }
        let usages = [serverAuth ? "serverAuth" : nil, clientAuth ? "clientAuth" : nil].compactMap { $0 }
        let extensions = """
            [leaf]
            basicConstraints = critical, CA:FALSE
            keyUsage = critical, digitalSignature
            extendedKeyUsage = \(usages.joined(separator: ", "))
            subjectAltName = \(subjectAltNames)
            subjectKeyIdentifier = hash
            authorityKeyIdentifier = keyid

            """
        try Data(extensions.utf8).write(to: URL(fileURLWithPath: stem + ".ext"))
        let leaf = stem + ".leaf.pem"
        let openssl = try ProgramLocations.requiredTool("openssl")
        let issue = try await ChildProcess.run(
            openssl,
            [
                "x509", "-new", "-subj", "/CN=\(commonName)/O=\(DevelopmentPKI.organization)", "-force_pubkey",
                publicKey, "-CA", caCertificate, "-CAkey", caKey, "-days", "2", "-sha256", "-extfile", stem + ".ext",
                "-extensions", "leaf", "-out", leaf,
            ],
            timeout: .seconds(30))
        guard issue.status == 0 else { throw SetupFailure("openssl x509 -new failed: \(issue)") }
        let chain = stem + ".chain.pem"
        let leafPEM = try String(contentsOfFile: leaf, encoding: .utf8)
        try Data((leafPEM + authority.certificate.certificatePEM).utf8).write(to: URL(fileURLWithPath: chain))
        return chain
    }

    /// Issues a serverAuth leaf for `subjectPublicKeyInfo` (DER, a key held in a token) from `authority` with
    /// SaMDDevPKI and writes its chain (leaf, then `authority`'s chain) to `directory`; returns the chain's path.
    public static func issueCertificate(
        forPublicKey subjectPublicKeyInfo: [UInt8], by authority: DevelopmentCertificateAuthority,
        commonName: String, sans: [DevelopmentSAN], in directory: URL
    ) throws -> String {
        let leaf = try authority.issueLeaf(
            forPublicKey: subjectPublicKeyInfo, commonName: commonName, sans: sans, ekus: [.serverAuth])
        let chain = directory.appendingPathComponent("\(commonName)-\(UUID().uuidString.prefix(8)).chain.pem").path
        try Data(leaf.chainPEM.utf8).write(to: URL(fileURLWithPath: chain))
        return chain
    }
}
