// Session resumption on an SSL_CTX: the server's stateful ticket cache, the client's new-session callback and
// the sessions it keeps.

import CSaMDOpenSSL
import CSaMDShims
import Synchronization

extension SSLContextBox {
    // MARK: - Sessions

    private static let sessionIDContext: [UInt8] = Array("samdkit-tls".utf8)
    /// Server side: the most sessions kept for resumption (OpenSSL evicts the oldest beyond it; expired ones
    /// are flushed as it goes). Each holds the client's parsed certificate chain, a few KiB.
    static let serverSessionCacheSize = 1024

    static func configureSessions(_ context: OpaquePointer, _ configuration: TLSConfiguration) throws {
        switch configuration.role {
        case .server:
            // Stateful TLS 1.3 tickets: the ticket is a reference into this context's bounded session cache,
            // used once (RFC 8446 §C.4) and gone with the context (a reload ends every resumable session).
            // A stateless ticket holds the whole session, the client's certificate chain included, which
            // OpenSSL 3.0 decrypts and parses again on every resumption: about 40 % of a resumed handshake
            // (Docs/Performance.md). The cache is off when resumption is.
            _ = CSaMDShims_SSL_CTX_set_session_cache_mode(
                context,
                Int(configuration.sessionResumption ? SSL_SESS_CACHE_SERVER : SSL_SESS_CACHE_OFF)
            )
            _ = CSaMDShims_SSL_CTX_sess_set_cache_size(context, Self.serverSessionCacheSize)
            _ = SSL_CTX_set_options(context, CSaMDShims_SSL_OP_NO_TICKET())
            _ = SSL_CTX_set_timeout(context, Int(configuration.sessionTicketLifetime.components.seconds))
            // One ticket per handshake: the client keeps the newest, and each resumption brings a fresh one.
            _ = SSL_CTX_set_num_tickets(context, configuration.sessionResumption ? 1 : 0)
            let ok = Self.sessionIDContext.withUnsafeBufferPointer {
                SSL_CTX_set_session_id_context(context, $0.baseAddress, UInt32($0.count))
            }
            guard ok == 1 else { throw TLSError(.invalidConfiguration, "cannot set the session id context") }
        case .client:
            guard configuration.sessionResumption else {
                _ = CSaMDShims_SSL_CTX_set_session_cache_mode(context, Int(SSL_SESS_CACHE_OFF))
                return
            }
            _ = CSaMDShims_SSL_CTX_set_session_cache_mode(
                context,
                Int(SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE)
            )
            SSL_CTX_sess_set_new_cb(context, newSessionCallback)
        }
    }
}

extension SSLContextBox {
    /// Server side: the sessions in the resumption cache, and its bound.
    var serverSessionCache: (count: Int, limit: Int) {
        (CSaMDShims_SSL_CTX_sess_number(self.pointer), CSaMDShims_SSL_CTX_sess_get_cache_size(self.pointer))
    }
}

/// Client side: keeps each new session (TLS 1.3 tickets arrive after the handshake) for the next
/// connection to the same server. Returning 1 takes the reference OpenSSL passed.
private let newSessionCallback: @convention(c) (OpaquePointer?, OpaquePointer?) -> Int32 = { ssl, session in
    guard let ssl, let session, let connection = SSLConnection.from(ssl), let key = connection.sessionKey else {
        return 0
    }
    guard SSL_SESSION_is_resumable(session) == 1 else { return 0 }
    connection.context.sessionCache.store(SSLSession(takingOwnership: session), for: key)
    return 1
}

/// Sessions a client may resume, per server (name and port), newest last; each is used once
/// (RFC 8446 §C.4 advises against reusing a ticket).
final class ClientSessionCache: Sendable {
    /// Tickets kept per server.
    static let ticketsPerServer = 4
    /// Servers remembered.
    static let maximumServers = 256

    private let sessions = Mutex<[String: [SSLSession]]>([:])

    func store(_ session: SSLSession, for key: String) {
        self.sessions.withLock { sessions in
            if sessions[key] == nil, sessions.count >= Self.maximumServers {
                sessions.removeAll()
            }
            var list = sessions[key, default: []]
            list.append(session)
            if list.count > Self.ticketsPerServer { list.removeFirst(list.count - Self.ticketsPerServer) }
            sessions[key] = list
        }
    }

    /// Removes and returns the newest session for `key`.
    func take(for key: String) -> SSLSession? {
        self.sessions.withLock { sessions in
            sessions[key]?.popLast()
        }
    }

    func removeAll() {
        self.sessions.withLock { $0.removeAll() }
    }
}

/// One SSL_SESSION reference, owned.
final class SSLSession: @unchecked Sendable { // immutable once made; OpenSSL reference-counts it thread-safely
    let pointer: OpaquePointer

    init(takingOwnership pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit {
        SSL_SESSION_free(self.pointer)
    }
}
