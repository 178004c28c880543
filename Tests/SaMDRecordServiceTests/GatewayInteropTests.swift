// The gateway against an independent HTTPS client: Python's `requests` (urllib3 over CPython's ssl module, i.e.
// the system OpenSSL through another stack than SaMDTLS), with client certificates, on a real record.

import Foundation
import SaMDRecordGateway
import SaMDRecordService
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

@Suite("Records gateway and Python requests")
struct GatewayInteropTests {
    static let python = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/tools/venv/bin/python")

    /// Stores with a device certificate (201), is refused a read with it (403), reads the record back with a
    /// reader certificate, and cannot connect without a certificate. Fails, never skips, without Scripts/setup's
    /// venv.
    @Test func requestsWithClientCertificatesStoresReadsAndIsRefused() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.python.path),
            "Scripts/setup has not made .build/tools/venv (with requests)")
        let gateway = try await Harness.InProcessGateway.start()
        let work = try Harness.TemporaryDirectory()
        let (name, record) = try Harness.medicalRecords(["MR2_UNCR.dcm"])[0]
        let upload = work.file("upload")
        let download = work.file("download")
        try Data(record).write(to: URL(fileURLWithPath: upload))
        let pki = Harness.pki
        let script = """
            import json, sys, requests
            base, root, upload, download = sys.argv[1:5]
            def tls(name): return {"verify": root, "cert": (sys.argv[5] + "/" + name + ".pem", sys.argv[5] + "/" + name + ".key")}
            url = base + "/records/patient-0042/" + sys.argv[6]
            out = {}
            with open(upload, "rb") as f:
                r = requests.put(url, data=f.read(), headers={"Content-Type": "application/dicom"}, timeout=30, **tls("device"))
            out["put"] = [r.status_code, r.text]
            r = requests.get(url, timeout=30, **tls("device"))
            out["deviceRead"] = [r.status_code, r.json().get("error")]
            r = requests.get(url, timeout=30, **tls("reader"))
            out["readerRead"] = [r.status_code, r.headers.get("content-type"), r.headers.get("cache-control")]
            with open(download, "wb") as f: f.write(r.content)
            try:
                r = requests.get(url, timeout=30, verify=root)
                out["anonymous"] = ["answered", r.status_code]
            except requests.exceptions.RequestException as error:
                out["anonymous"] = ["refused", type(error).__name__]
            print(json.dumps(out))
            """
        let run = try await ChildProcess.run(
            Self.python,
            [
                "-c", script, "https://127.0.0.1:\(gateway.port)", pki.root, upload, download,
                pki.files.directory.path, name,
            ])
        try #require(run.status == 0, "\(run)")
        let answers = try #require(
            try JSONSerialization.jsonObject(with: run.standardOutput) as? [String: [Any]], "\(run)")
        #expect(answers["put"]?.first as? Int == 201, "\(answers)")
        #expect(answers["put"]?.last as? String == #"{"revision":1}"#)
        #expect(answers["deviceRead"]?.first as? Int == 403)
        #expect(answers["deviceRead"]?.last as? String == "forbidden")
        #expect(answers["readerRead"]?.first as? Int == 200)
        #expect(answers["readerRead"]?[1] as? String == "application/dicom")
        #expect(answers["readerRead"]?[2] as? String == "no-store")
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: download))) == record, "not byte-identical")
        #expect(answers["anonymous"]?.first as? String == "refused", "\(answers)")
        #expect(gateway.events.events("samd.gateway.record-stored").first?.metadata["peer"] == TestPKI.deviceURI)
        #expect(!gateway.events.allText.contains("patient-0042"))
        await gateway.stop()
    }
}
