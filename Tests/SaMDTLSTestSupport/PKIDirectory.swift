// The test PKI on disk, for the tests that hand certificate and key files to programs (samd-tls, openssl,
// curl, sslyze) or to a TLSContext built from files.

public import Foundation

/// A test PKI written to a fresh temporary directory, removed when the value is released.
public final class PKIDirectory: Sendable {
    public let files: TestPKIFiles
    public let pki: TestPKI
    public var directory: URL { self.files.directory }

    public init() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("samd-tls-tests-\(UUID().uuidString)", isDirectory: true)
        self.pki = try TestPKI()
        self.files = try self.pki.write(to: directory)
    }

    deinit {
        try? FileManager.default.removeItem(at: self.files.directory)
    }

    /// The path of the certificate chain (PEM, leaf first) of the PKI's certificate `name`.
    public func cert(_ name: String) -> String { self.files.certificate(name) }
    /// The path of the private key (PEM) of the PKI's certificate `name`.
    public func key(_ name: String) -> String { self.files.key(name) }
    /// The path of the root CA certificate (PEM).
    public var root: String { self.files.rootCA }

    /// Writes `text` into the PKI directory and returns its path.
    public func write(_ name: String, _ text: String) throws -> String {
        let path = self.directory.appendingPathComponent(name).path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Writes `certificate` (chain and key) into the directory as `<name>.pem` / `<name>.key`; returns both
    /// paths.
    public func write(_ certificate: TestCertificate, as name: String) throws -> (cert: String, key: String) {
        (try self.write("\(name).pem", certificate.chainPEM), try self.write("\(name).key", certificate.privateKeyPEM))
    }

    /// A server leaf (`gateway.test`) and a device leaf (`urn:samd:device:0009`) from the intermediate CA whose
    /// critical keyUsage allows keyAgreement only, not digitalSignature: neither may authenticate a TLS 1.3
    /// handshake (RFC 5280 §4.2.1.3, RFC 8446 §4.4.2.2).
    public func keyAgreementLeaves() throws -> (server: TestCertificate, device: TestCertificate) {
        let ca = self.pki.intermediate
        return (
            try ca.issueLeaf(
                commonName: "gateway.test", sans: TestPKI.serverSANs, ekus: [.serverAuth],
                keyUsage: .critical([.keyAgreement])),
            try ca.issueLeaf(
                commonName: "device-0009", sans: [.uri("urn:samd:device:0009")], ekus: [.clientAuth],
                keyUsage: .critical([.keyAgreement]))
        )
    }
}
