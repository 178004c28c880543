import Foundation

/// What the files a store wrote hold: pieces of every record's plaintext and every subject and record id — none
/// may be there — and, so that a scan that looks at the wrong bytes cannot pass, a control: something the store
/// keeps in clear, which must be found.
struct DemoScan {
    /// The first record whose plaintext or ids were found, if any.
    let leakedRecordID: String?
    /// Whether the control was found.
    let controlFound: Bool
    /// Bytes read.
    let byteCount: Int
    /// Files read.
    let fileCount: Int

    var passed: Bool { self.leakedRecordID == nil && self.controlFound }

    /// What the check shows when it fails (`nil` when it passed).
    var failure: String? {
        if let leakedRecordID { return "found data of \(leakedRecordID)" }
        return self.controlFound ? nil : "the scan did not find the record type stored in clear"
    }

    /// Reads each file of `paths` and searches it (each file on its own) for every record's subject, record id
    /// and plaintext probes (``plaintextProbes(_:)``), and for `control`.
    static func scan(_ paths: [String], for records: [Demo.RecordFile], control: [UInt8]) throws -> DemoScan {
        let needles = records.map { record in
            (
                record.recordID,
                [Array(record.subject.utf8), Array(record.recordID.utf8)] + Self.plaintextProbes(record.bytes)
            )
        }
        var leaked: Set<String> = []
        var controlFound = false
        var byteCount = 0
        for path in paths {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            byteCount += bytes.count
            controlFound = controlFound || bytes.containsSequence(control)
            for (recordID, pieces) in needles where !leaked.contains(recordID) {
                if pieces.contains(where: bytes.containsSequence) { leaked.insert(recordID) }
            }
        }
        return DemoScan(
            leakedRecordID: records.first { leaked.contains($0.recordID) }?.recordID, controlFound: controlFound,
            byteCount: byteCount, fileCount: paths.count)
    }

    /// Pieces of a record to look for in the database files: 32 bytes from its start, middle and end (the whole
    /// record when it is shorter than 32 bytes; nothing under 12 bytes, which could occur by chance).
    /// A window with fewer than 8 distinct byte values (a run of zeros, padding) is left out: such bytes occur
    /// in any database file.
    static func plaintextProbes(_ bytes: [UInt8]) -> [[UInt8]] {
        guard bytes.count >= 12 else { return [] }
        let windows =
            bytes.count > 32
            ? [0, (bytes.count - 32) / 2, bytes.count - 32].map { Array(bytes[$0..<$0 + 32]) } : [bytes]
        return windows.filter { Set($0).count >= min(8, $0.count / 2) }
    }
}

extension Data {
    /// Whether `needle` occurs anywhere in these bytes (Foundation's search, compiled optimised).
    func containsSequence(_ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= self.count else { return false }
        return self.range(of: Data(needle)) != nil
    }
}
