// A record is served with the type its device chose; the headers keep a browser from rendering it as the
// gateway's own content.

import Foundation
import SaMDRecordGateway
import SaMDRecordService
import Testing

@Suite("Record response headers")
struct RecordResponseHeaderTests {
    /// The header fields of the first response in `answer`, names in lower case.
    static func headers(_ answer: String) -> [String: String] {
        let head = answer.components(separatedBy: "\r\n\r\n").first ?? ""
        var fields: [String: String] = [:]
        for line in head.components(separatedBy: "\r\n").dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return fields
    }

    @Test func aDeviceChosenHTMLRecordIsServedAsASandboxedDownload() async throws {
        let gateway = try await Harness.InProcessGateway.start()
        let device = try gateway.client("device")
        let html = Array("<html><script>alert(document.cookie)</script></html>".utf8)
        let stored = try await device.put(subject: "patient-1", recordID: "page", recordType: "text/html", body: html)
        #expect(stored.status == 201)

        let read = try await RawClient.exchange(
            port: gateway.port,
            as: "reader",
            ["GET /records/patient-1/page HTTP/1.1\r\nhost: gateway.test\r\nconnection: close\r\n\r\n"]
        )
        #expect(read.statuses == [200], "\(read)")
        let fields = Self.headers(read.text)
        #expect(fields["content-type"] == "text/html", "\(fields)")
        #expect(fields["x-content-type-options"] == "nosniff", "\(fields)")
        #expect(fields["content-disposition"] == "attachment", "\(fields)")
        #expect(fields["content-security-policy"] == "sandbox", "\(fields)")
        #expect(fields["cache-control"] == "no-store", "\(fields)")
        #expect(read.text.hasSuffix(String(decoding: html, as: UTF8.self)))

        // Every other answer carries no-store and nosniff too (the JSON bodies are the gateway's own).
        let refused = try await RawClient.exchange(
            port: gateway.port,
            ["GET /records/patient-1/page HTTP/1.1\r\nhost: gateway.test\r\nconnection: close\r\n\r\n"]
        )
        #expect(refused.statuses == [403], "\(refused)")
        let refusedFields = Self.headers(refused.text)
        #expect(refusedFields["cache-control"] == "no-store", "\(refusedFields)")
        #expect(refusedFields["x-content-type-options"] == "nosniff", "\(refusedFields)")
        #expect(refusedFields["content-type"] == "application/json", "\(refusedFields)")
        await device.close()
        await gateway.stop()
    }
}
