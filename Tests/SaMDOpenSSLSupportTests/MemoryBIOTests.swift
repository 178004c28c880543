// The memory BIO the PEM readers and writers use.

import CSaMDOpenSSL
import SaMDOpenSSLSupport
import Testing

@Suite("Memory BIO")
struct MemoryBIOTests {
    @Test("holds a copy of its bytes, and reads past them as end of file (not retry)")
    func endOfFile() throws {
        let bytes = Array("-----BEGIN X-----\n".utf8)
        let bio = try #require(MemoryBIO(bytes: bytes))
        #expect(bio.contents() == bytes)
        #expect(bio.string() == "-----BEGIN X-----\n")

        var buffer = [UInt8](repeating: 0, count: 64)
        #expect(BIO_read(bio.pointer, &buffer, Int32(buffer.count)) == Int32(bytes.count))
        #expect(BIO_read(bio.pointer, &buffer, Int32(buffer.count)) == 0)
        #expect(BIO_test_flags(bio.pointer, BIO_FLAGS_SHOULD_RETRY) == 0)
        #expect(bio.contents().isEmpty)
    }

    @Test("an empty BIO collects what a writer puts in it")
    func writer() throws {
        let bio = try #require(MemoryBIO())
        #expect(bio.contents().isEmpty)
        let text = Array("written".utf8)
        #expect(text.withUnsafeBytes { BIO_write(bio.pointer, $0.baseAddress, Int32($0.count)) } == 7)
        #expect(bio.string() == "written")
    }
}
