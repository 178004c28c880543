// The reference below every TLS stack on this machine: OpenSSL's own handshake, called directly, both ends
// in one thread over an in-memory BIO pair (no sockets, no event loop, no Swift identity checks). It shows
// what the system OpenSSL itself costs per TLS 1.3 mTLS handshake, with the same certificates.

import CReference

public final class RawOpenSSLHandshake {
    private let server: OpaquePointer
    private let client: OpaquePointer
    /// SSL_OP_NO_TICKET (a function-like macro, not imported): bit 14.
    private static let noTicket: UInt64 = 1 << 14

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// PEM inputs: leaf-first chains, private keys, and the root both sides trust.
    public init(serverChain: String, serverKey: String, clientChain: String, clientKey: String, root: String) throws {
        self.server = try Self.context(method: TLS_server_method(), chain: serverChain, key: serverKey, root: root)
        self.client = try Self.context(method: TLS_client_method(), chain: clientChain, key: clientKey, root: root)
        // The server requires a client certificate; both sides verify the peer's chain (and EKU purpose).
        SSL_CTX_set_verify(self.server, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
        SSL_CTX_set_verify(self.client, SSL_VERIFY_PEER, nil)
        // Sessions as SaMDKit sets them for a full handshake: the server caches one session per handshake
        // (stateful ticket), the client asks for none.
        let idContext = Array("samdkit-bench".utf8)
        _ = SSL_CTX_set_session_id_context(self.server, idContext, UInt32(idContext.count))
        _ = SSL_CTX_ctrl(self.server, SSL_CTRL_SET_SESS_CACHE_MODE, Int(SSL_SESS_CACHE_SERVER), nil)
        _ = SSL_CTX_set_num_tickets(self.server, 1)
        _ = SSL_CTX_set_options(self.server, Self.noTicket)
        _ = SSL_CTX_set_options(self.client, Self.noTicket)
        _ = SSL_CTX_ctrl(self.client, SSL_CTRL_SET_SESS_CACHE_MODE, Int(SSL_SESS_CACHE_OFF), nil)
    }

    deinit {
        SSL_CTX_free(self.server)
        SSL_CTX_free(self.client)
    }

    /// One full handshake; throws unless both ends completed it with the peer verified.
    public func handshake() throws {
        guard let client = SSL_new(self.client), let server = SSL_new(self.server) else {
            throw Failure(description: "SSL_new")
        }
        defer {
            SSL_free(client)
            SSL_free(server)
        }
        var clientBIO: OpaquePointer?
        var serverBIO: OpaquePointer?
        guard BIO_new_bio_pair(&clientBIO, 0, &serverBIO, 0) == 1 else {
            throw Failure(description: "BIO_new_bio_pair")
        }
        SSL_set_bio(client, clientBIO, clientBIO)
        SSL_set_bio(server, serverBIO, serverBIO)
        // SNI and the name the server's certificate must carry.
        _ = SSL_ctrl(
            client, SSL_CTRL_SET_TLSEXT_HOSTNAME, Int(TLSEXT_NAMETYPE_host_name),
            UnsafeMutableRawPointer(mutating: "localhost"))
        guard SSL_set1_host(client, "localhost") == 1 else { throw Failure(description: "SSL_set1_host") }
        SSL_set_connect_state(client)
        SSL_set_accept_state(server)
        var clientDone = false
        var serverDone = false
        for _ in 0..<32 where !(clientDone && serverDone) {
            if !clientDone { clientDone = try Self.step(client) }
            if !serverDone { serverDone = try Self.step(server) }
        }
        guard clientDone, serverDone, SSL_get_verify_result(client) == X509_V_OK,
            SSL_get_verify_result(server) == X509_V_OK
        else {
            throw Failure(description: "the raw OpenSSL handshake did not complete with both peers verified")
        }
    }

    private static func step(_ ssl: OpaquePointer) throws -> Bool {
        let result = SSL_do_handshake(ssl)
        if result == 1 { return true }
        let error = SSL_get_error(ssl, result)
        guard error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE else {
            throw Failure(description: "SSL_do_handshake: SSL_get_error \(error), \(ERR_get_error())")
        }
        return false
    }

    private static func context(method: OpaquePointer?, chain: String, key: String, root: String) throws
        -> OpaquePointer
    {
        guard let context = SSL_CTX_new(method) else { throw Failure(description: "SSL_CTX_new") }
        _ = SSL_CTX_ctrl(context, SSL_CTRL_SET_MIN_PROTO_VERSION, Int(TLS1_3_VERSION), nil)
        let certificates = try self.certificates(chain)
        guard let leaf = certificates.first, SSL_CTX_use_certificate(context, leaf) == 1 else {
            throw Failure(description: "certificate")
        }
        for intermediate in certificates.dropFirst() {
            // SSL_CTX_add1_chain_cert: takes its own reference.
            guard SSL_CTX_ctrl(context, SSL_CTRL_CHAIN_CERT, 1, UnsafeMutableRawPointer(intermediate)) == 1 else {
                throw Failure(description: "chain")
            }
        }
        certificates.forEach { X509_free($0) }
        let keyBIO = try self.memory(key)
        defer { BIO_free(keyBIO) }
        guard let privateKey = PEM_read_bio_PrivateKey(keyBIO, nil, nil, nil),
            SSL_CTX_use_PrivateKey(context, privateKey) == 1
        else {
            throw Failure(description: "private key")
        }
        EVP_PKEY_free(privateKey)
        let store = SSL_CTX_get_cert_store(context)
        for certificate in try self.certificates(root) {
            X509_STORE_add_cert(store, certificate)
            X509_free(certificate)
        }
        return context
    }

    private static func certificates(_ pem: String) throws -> [OpaquePointer] {
        let bio = try self.memory(pem)
        defer { BIO_free(bio) }
        var certificates: [OpaquePointer] = []
        while let certificate = PEM_read_bio_X509(bio, nil, nil, nil) {
            certificates.append(certificate)
        }
        ERR_clear_error()
        return certificates
    }

    private static func memory(_ text: String) throws -> OpaquePointer {
        let bytes = Array(text.utf8)
        guard let bio = BIO_new(BIO_s_mem()), BIO_write(bio, bytes, Int32(bytes.count)) == bytes.count else {
            throw Failure(description: "BIO_new")
        }
        return bio
    }
}
