import Foundation
import SaMDExampleSupport
import SaMDRecordGateway
import SaMDRecordService

extension Demo {
    /// A record to upload: a file of the records directory, its id (its path below the directory), the subject
    /// (patient) it is spread to, and its type (from its name).
    struct RecordFile: Sendable {
        let recordID: String
        let subject: String
        let recordType: String
        let bytes: [UInt8]
    }

    func loadRecords() throws -> [RecordFile] {
        let root = self.options.recordsDirectory.standardizedFileURL
        guard
            let enumerator = FileManager.default.enumerator(
                at: root, includingPropertiesForKeys: [.isRegularFileKey, .fileSizeKey], options: [.skipsHiddenFiles])
        else {
            throw DemoSetupError(description: "cannot read \(root.path)", exitCode: ExitStatus.noInput)
        }
        var paths: [(String, URL)] = []
        for case let found as URL in enumerator {
            // A link is followed to what it names; only regular files are records.
            let url = found.resolvingSymlinksInPath()
            let values = try url.resourceValues(forKeys: [.isRegularFileKey, .fileSizeKey])
            guard values.isRegularFile == true else { continue }
            guard (values.fileSize ?? 0) <= RecordGatewayConfiguration.defaultMaximumBodyByteCount else {
                throw DemoSetupError(
                    description:
                        "\(url.path) is larger than a record may be (\(RecordGatewayConfiguration.defaultMaximumBodyByteCount) bytes)",
                    exitCode: ExitStatus.dataError)
            }
            paths.append((String(found.standardizedFileURL.path.dropFirst(root.path.count + 1)), url))
        }
        guard !paths.isEmpty else {
            throw DemoSetupError(description: "no records in \(root.path)", exitCode: ExitStatus.noInput)
        }
        guard paths.count <= Self.maximumRecordCount else {
            throw DemoSetupError(
                description: "more than \(Self.maximumRecordCount) files in \(root.path)",
                exitCode: ExitStatus.dataError)
        }
        return try paths.sorted { $0.0 < $1.0 }.enumerated().map { index, entry in
            RecordFile(
                recordID: entry.0,
                subject: "demo-patient-\(index % self.options.subjectCount + 1)",
                recordType: RecordTypes.recordType(forFileName: entry.1.lastPathComponent),
                bytes: Array(try Data(contentsOf: entry.1))
            )
        }
    }
}
