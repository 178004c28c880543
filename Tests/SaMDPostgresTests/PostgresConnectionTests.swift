import Foundation
import NIOCore
import PostgresNIO
import SaMDLocalPostgres
import SaMDPostgres
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Connections to a real PostgreSQL 15 over SaMDTLS: SSLRequest, TLS 1.3 with verify-full, SCRAM.
@Suite("PostgreSQL connections over SaMDTLS")
struct PostgresConnectionTests {
    @Test("a connection is TLS 1.3 verified as verify-full, authenticated with the password file")
    func connectsOverTLS() async throws {
        let (server, _, location) = try PostgresTestServer.database()
        let pool = try PostgresTestServer.pool(location, server: server)
        let (ssl, version) = try await pool.withConnection { connection in
            let rows = try await connection.query(
                "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()", logger: .init(label: "test"))
            var result: (Bool, String) = (false, "")
            for try await (ssl, version) in rows.decode((Bool, String).self) { result = (ssl, version) }
            return result
        }
        #expect(ssl)
        #expect(version == "TLSv1.3")
        await pool.close()
    }

    @Test(
        "a server whose certificate another CA issued is refused (tlsRefused, told by the pool), never used in the clear"
    )
    func unknownCARefused() async throws {
        let (server, url, _) = try PostgresTestServer.database()
        let other = try PKIDirectory()
        let location = try PostgresLocation(
            url.replacingOccurrences(of: server.certificateAuthorityPath, with: other.root))
        // A long lease timeout: the refusal comes back after `unavailableAfter`, with its cause, not at the timeout.
        let pool = try PostgresTestServer.pool(
            location, server: server, configuration: .init(leaseTimeout: .seconds(30)))
        let error = await #expect(throws: PostgresStoreError.self) {
            try await pool.withConnection { _ in 1 }
        }
        #expect(error?.code == .tlsRefused, "\(error.map { "\($0)" } ?? "no error")")
        await pool.close()
    }

    @Test("a refused certificate is tlsRefused at every attempt, however fast the handshake fails")
    func refusedCertificateEveryTime() async throws {
        let (server, url, _) = try PostgresTestServer.database()
        let other = try PKIDirectory()
        let location = try PostgresLocation(
            url.replacingOccurrences(of: server.certificateAuthorityPath, with: other.root))
        let connector = try PostgresConnector(location: location, credentials: PostgresCredentials(password: "x"))
        // The TLS handler removes itself when its handshake fails: its outcome must be taken as it is added (it
        // was looked up afterwards, and a fast failure came back as `unavailable: notFound`).
        for attempt in 0..<20 {
            let error = await #expect(throws: PostgresStoreError.self) { _ = try await connector.connect(id: attempt) }
            #expect(error?.code == .tlsRefused, "attempt \(attempt): \(error.map { "\($0)" } ?? "none")")
        }
    }

    @Test("a wrong password is authenticationFailed")
    func wrongPassword() async throws {
        let (_, _, location) = try PostgresTestServer.database()
        let connector = try PostgresConnector(
            location: location, credentials: PostgresCredentials(password: "not-the-password"))
        let error = await #expect(throws: PostgresStoreError.self) {
            _ = try await connector.connect(id: 1)
        }
        #expect(error?.code == .authenticationFailed)
    }

    @Test("a server that answers N to the SSLRequest, or sends bytes after S (CVE-2021-23222), is refused")
    func sslRequestAnswers() async throws {
        let pki = try PKIDirectory()
        for answer in [[UInt8(ascii: "N")], [UInt8(ascii: "S"), 0x52, 0, 0, 0, 8]] {
            let (fd, port) = try LoopbackPort.listening()
            defer { close(fd) }
            let peer = Thread {
                let client = accept(fd, nil, nil)
                guard client >= 0 else { return }
                var request = [UInt8](repeating: 0, count: 8)
                _ = recv(client, &request, 8, Int32(MSG_WAITALL))
                _ = answer.withUnsafeBytes { send(client, $0.baseAddress, $0.count, 0) }
                usleep(500_000)
                close(client)
            }
            peer.start()
            let location = try PostgresLocation(
                "postgresql://samd@127.0.0.1:\(port)/samd?sslrootcert=\(pki.root)&connect_timeout=5")
            let connector = try PostgresConnector(location: location, credentials: PostgresCredentials(password: "x"))
            let error = await #expect(throws: PostgresStoreError.self) {
                _ = try await connector.connect(id: 1)
            }
            #expect(error?.code == .tlsRefused)
        }
    }

    @Test("URLs with a password, another sslmode, no CA or unknown parameters are refused without echoing the password")
    func locationsRefused() throws {
        for url in [
            "postgresql://samd:hunter2secret@127.0.0.1/samd?sslrootcert=/ca.pem",
            "postgresql://samd@127.0.0.1/samd?sslrootcert=/ca.pem&password=hunter2secret",
            "postgresql://samd@127.0.0.1/samd?sslmode=require&sslrootcert=/ca.pem",
            "postgresql://samd@127.0.0.1/samd",
            "postgresql://samd@127.0.0.1/samd?sslrootcert=/ca.pem&options=-c%20x",
            "postgresql://127.0.0.1/samd?sslrootcert=/ca.pem",
            "postgresql://samd@/samd?host=/var/run/postgresql&sslrootcert=/ca.pem",
            // Found by the trial: a colon in the role, a fragment, a mistyped scheme (never taken for a directory).
            "postgresql://samd%3Ahunter2secret@127.0.0.1/samd?sslrootcert=/ca.pem",
            "postgresql://samd@127.0.0.1/samd?sslrootcert=/ca.pem#password=hunter2secret",
            "POSTGRESQL://samd:hunter2secret@127.0.0.1/samd?sslrootcert=/ca.pem",
            "postgresql:/samd:hunter2secret@127.0.0.1/samd",
        ] {
            #expect(PostgresLocation.isURL(url))
            let error = #expect(throws: PostgresStoreError.self) { try PostgresLocation(url) }
            #expect(error?.code == .invalidLocation)
            #expect(error?.reason.contains("hunter2secret") == false)
        }
        let ipv6 = try PostgresLocation("postgresql://samd@[::1]:5433/records?sslrootcert=/etc/ca.pem")
        #expect(ipv6.host == "::1")
        #expect(ipv6.description == "postgresql://samd@[::1]:5433/records")
        #expect(!PostgresLocation.isURL("/var/lib/samd/records"))
        let location = try PostgresLocation("postgres://samd@db.example:6543/records?sslrootcert=/etc/ca.pem")
        #expect(location.port == 6543)
        #expect(location.database == "records")
        #expect(location.description == "postgresql://samd@db.example:6543/records")
    }

    @Test("the password file: first matching line, escapes, refused when others can read it")
    func passwordFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pgpass-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/pgpass"
        try "# comment\nother:*:*:*:wrong\n127.0.0.1:5432:samd:samd:pa\\:ss:word\n*:*:*:*:fallback\n".write(
            toFile: file, atomically: false, encoding: .utf8)
        chmod(file, 0o600)
        let location = try PostgresLocation("postgresql://samd@127.0.0.1/samd?sslrootcert=/ca.pem")
        let credentials = try PostgresCredentials.resolve(for: location, environment: ["PGPASSFILE": file])
        #expect(credentials.source == file)
        let other = try PostgresLocation("postgresql://samd@127.0.0.1:1/samd?sslrootcert=/ca.pem")
        #expect(try PostgresCredentials.resolve(for: other, environment: ["PGPASSFILE": file]).source == file)
        chmod(file, 0o640)
        let error = #expect(throws: PostgresStoreError.self) {
            try PostgresCredentials.resolve(for: location, environment: ["PGPASSFILE": file])
        }
        #expect(error?.code == .invalidLocation)
        // A FIFO is refused at once, not waited on (it blocked in open()).
        let fifo = directory + "/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let refused = #expect(throws: PostgresStoreError.self) {
            try PostgresCredentials.resolve(for: location, environment: ["PGPASSFILE": fifo])
        }
        #expect(refused?.reason.contains("not a regular file") == true)
        #expect(try PostgresCredentials.resolve(for: location, environment: ["PGPASSWORD": "x"]).source == "PGPASSWORD")
    }
}
