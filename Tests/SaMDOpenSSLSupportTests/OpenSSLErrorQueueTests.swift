// The one drain of OpenSSL's error queue, fed by real OpenSSL failures (no entry is raised by hand).
// The queue is per thread: each test is synchronous, so it stays on one thread from its first call to its last.

import CSaMDOpenSSL
import SaMDOpenSSLSupport
import Testing

@Suite("OpenSSL error queue")
struct OpenSSLErrorQueueTests {
    /// Asks OpenSSL to read a certificate out of text that holds no PEM block; returns whether it read one.
    static func readCertificate(fromPEM text: String) throws -> Bool {
        let bio = try #require(MemoryBIO(bytes: Array(text.utf8)))
        guard let certificate = PEM_read_bio_X509(bio.pointer, nil, nil, nil) else { return false }
        X509_free(certificate)
        return true
    }

    @Test("garbage PEM: the first entry is PEM's no-start-line, and the queue is empty afterwards")
    func garbagePEM() throws {
        OpenSSLErrorQueue.clear()
        #expect(try !Self.readCertificate(fromPEM: "this is not a certificate\n"))
        #expect(ERR_peek_error() != 0)

        let entries = OpenSSLErrorQueue.drain()

        let first = try #require(entries.first)
        #expect(first.libraryCode == ERR_LIB_PEM)
        #expect(first.reasonCode == PEM_R_NO_START_LINE)
        #expect(first.library == "PEM routines")
        #expect(first.reason == "no start line")
        #expect(first.summary == "PEM routines: no start line")
        #expect(first.errorString.hasPrefix("error:"))
        #expect(first.errorString.hasSuffix(":PEM routines::no start line"))
        #expect(ERR_peek_error() == 0)
        #expect(OpenSSLErrorQueue.drain().isEmpty)
    }

    @Test("a broken PEM block reports a reason other than no-start-line first")
    func brokenPEMBlock() throws {
        OpenSSLErrorQueue.clear()
        let text = "-----BEGIN CERTIFICATE-----\n!!!! not base64 !!!!\n-----END CERTIFICATE-----\n"
        #expect(try !Self.readCertificate(fromPEM: text))

        let entries = OpenSSLErrorQueue.drain()

        let first = try #require(entries.first)
        #expect(first.libraryCode == ERR_LIB_PEM)
        #expect(first.reasonCode != PEM_R_NO_START_LINE)
        #expect(first.reason != nil)
        #expect(ERR_peek_error() == 0)
    }

    @Test("DER that is not a certificate: ASN.1 entries, summarised for a message")
    func garbageDER() throws {
        OpenSSLErrorQueue.clear()
        let der: [UInt8] = [0x30, 0x03, 0x02, 0x01, 0x05]
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_X509(nil, &cursor, buffer.count)
        }
        #expect(parsed == nil)

        let summary = OpenSSLErrorQueue.drainSummary()

        #expect(summary.hasPrefix("[OpenSSL: asn1 encoding routines: "))
        #expect(summary.hasSuffix("]"))
        #expect(ERR_peek_error() == 0)
        #expect(OpenSSLErrorQueue.drainSummary() == "")
    }

    @Test("more failures than OpenSSL's queue holds: every entry it kept is drained, the queue is left empty")
    func fullQueue() throws {
        OpenSSLErrorQueue.clear()
        // OpenSSL keeps the newest ERR_NUM_ERRORS - 1 entries of a thread; older ones are overwritten.
        for _ in 0..<(Int(ERR_NUM_ERRORS) + 4) {
            #expect(try !Self.readCertificate(fromPEM: "no PEM here\n"))
        }

        let entries = OpenSSLErrorQueue.drain()

        #expect(entries.count == Int(ERR_NUM_ERRORS) - 1)
        #expect(entries.count <= OpenSSLErrorQueue.maximumEntries)
        #expect(entries.allSatisfy { $0.reasonCode == PEM_R_NO_START_LINE })
        #expect(ERR_peek_error() == 0)
    }

    @Test("clear empties the queue after a real failure")
    func clear() throws {
        #expect(try !Self.readCertificate(fromPEM: ""))
        #expect(ERR_peek_error() != 0)

        OpenSSLErrorQueue.clear()

        #expect(ERR_peek_error() == 0)
        #expect(OpenSSLErrorQueue.drain().isEmpty)
    }
}
