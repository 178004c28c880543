import Foundation
import SaMDCrypto
import Testing

@Suite("PKCS #11 PIN sources")
struct PKCS11PINTests {
    private let pin = "4711-token-pin"

    private func code(_ body: () throws -> SecureBytes) -> PKCS11PINError.Code? {
        do {
            _ = try body()
            return nil
        } catch let error as PKCS11PINError {
            #expect(!"\(error)".contains(self.pin), "the PIN appears in \(error)")
            return error.code
        } catch {
            Issue.record("not a PKCS11PINError: \(error)")
            return nil
        }
    }

    private func withDirectory(_ body: (URL) throws -> Void) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("samd-pin-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try body(directory)
    }

    private func write(_ text: String, to url: URL, mode: Int = 0o600) throws {
        try Data(text.utf8).write(to: url)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: url.path)
    }

    @Test("a 0600 or 0400 file: one trailing LF or CRLF dropped, nothing else")
    func file() throws {
        try self.withDirectory { directory in
            let url = directory.appendingPathComponent("pin")
            for (text, expected) in [
                (self.pin, self.pin), (self.pin + "\n", self.pin), (self.pin + "\r\n", self.pin),
                (self.pin + "\n\n", self.pin + "\n"), (" " + self.pin, " " + self.pin),
            ] {
                try self.write(text, to: url)
                #expect(try PKCS11PIN.fromFile(url.path) == SecureBytes(copying: Array(expected.utf8)))
            }
            try self.write(self.pin, to: url, mode: 0o400)
            #expect(try PKCS11PIN.fromFile(url.path) == SecureBytes(copying: Array(self.pin.utf8)))
            #expect(try PKCS11PIN.fromPINSource("file:\(url.path)") == SecureBytes(copying: Array(self.pin.utf8)))
            #expect(try PKCS11PIN.fromPINSource("file://\(url.path)") == SecureBytes(copying: Array(self.pin.utf8)))
            #expect(try PKCS11PIN.resolve(file: url.path) == SecureBytes(copying: Array(self.pin.utf8)))
        }
    }

    @Test("unsafe files are refused: open to others, a link, a directory, a FIFO")
    func unsafeFiles() throws {
        try self.withDirectory { directory in
            let url = directory.appendingPathComponent("pin")
            for mode in [0o644, 0o640, 0o604, 0o660] {
                try self.write(self.pin, to: url, mode: mode)
                #expect(self.code { try PKCS11PIN.fromFile(url.path) } == .unsafeFile, "mode \(mode)")
            }
            try self.write(self.pin, to: url)
            let link = directory.appendingPathComponent("link")
            try FileManager.default.createSymbolicLink(at: link, withDestinationURL: url)
            #expect(self.code { try PKCS11PIN.fromFile(link.path) } == .unsafeFile)
            let subdirectory = directory.appendingPathComponent("dir")
            try FileManager.default.createDirectory(
                at: subdirectory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
            #expect(self.code { try PKCS11PIN.fromFile(subdirectory.path) } == .unsafeFile)
            let fifo = directory.appendingPathComponent("fifo")
            #expect(mkfifo(fifo.path, 0o600) == 0)
            #expect(self.code { try PKCS11PIN.fromFile(fifo.path) } == .unsafeFile)
            #expect(
                self.code { try PKCS11PIN.fromFile(directory.appendingPathComponent("absent").path) } == .unreadable)
        }
    }

    @Test("empty, oversized and NUL-holding PINs are invalid")
    func invalid() throws {
        try self.withDirectory { directory in
            let url = directory.appendingPathComponent("pin")
            for text in [
                "", "\n", "\r\n", "12\u{0}34", String(repeating: "1", count: PKCS11PIN.maximumLengthBytes + 1),
            ] {
                try self.write(text, to: url)
                #expect(self.code { try PKCS11PIN.fromFile(url.path) } == .invalid, "\(text.utf8.count) bytes")
            }
            try self.write(String(repeating: "1", count: 1 << 16), to: url)
            #expect(self.code { try PKCS11PIN.fromFile(url.path) } == .invalid)
            try self.write(String(repeating: "1", count: PKCS11PIN.maximumLengthBytes) + "\r\n", to: url)
            #expect(try PKCS11PIN.fromFile(url.path).count == PKCS11PIN.maximumLengthBytes)
        }
    }

    @Test("the environment: set, unset, empty")
    func environment() throws {
        let variable = "SAMD_PKCS11_PIN_TEST_\(UUID().uuidString.prefix(8))"
        defer { unsetenv(variable) }
        #expect(self.code { try PKCS11PIN.fromEnvironment(variable) } == .missing)
        setenv(variable, "", 1)
        #expect(self.code { try PKCS11PIN.fromEnvironment(variable) } == .missing)
        setenv(variable, self.pin, 1)
        #expect(try PKCS11PIN.fromEnvironment(variable) == SecureBytes(copying: Array(self.pin.utf8)))
        #expect(PKCS11PIN.environmentVariable == "SAMD_PKCS11_PIN")
    }

    @Test("pin-source: only local files")
    func pinSource() {
        for source in [
            "|/usr/bin/getpin", "https://example.com/pin", "file:relative/pin", "file://host/etc/pin", "/etc/pin",
        ] {
            #expect(self.code { try PKCS11PIN.fromPINSource(source) } == .unsupportedSource, "\(source)")
        }
    }
}
