import Foundation

/// What the build command reads besides the plugin's record, as inputs of the command, so that it runs again
/// when one changes. SwiftPM runs this plugin only when it plans the build again (after a manifest or source
/// change), not when samd-sbom.json is edited or a commit is made; the command reads those itself, and these
/// inputs make it run whenever they may have changed:
/// - the package directory (its modification time changes when samd-sbom.json is created, removed or replaced
///   by rename) and samd-sbom.json when it exists (an edit in place);
/// - git's `HEAD`, the directory that holds the ref it names (git replaces a ref by rename, which changes the
///   directory), and `packed-refs`, in the work tree's git directory and in the common directory of a linked
///   work tree.
enum FreshnessInputs {
    static func files(of package: URL) -> [URL] {
        var files = [package]
        let configuration = package.appendingPathComponent("samd-sbom.json")
        if FileManager.default.fileExists(atPath: configuration.path) { files.append(configuration) }
        guard let git = self.gitDirectory(of: package) else { return files }
        var directories = [git]
        if let common = self.text(git.appendingPathComponent("commondir")), !common.isEmpty {
            directories.append(URL(fileURLWithPath: common, relativeTo: git).standardizedFileURL)
        }
        files.append(git)
        files.append(git.appendingPathComponent("HEAD"))
        let head = self.text(git.appendingPathComponent("HEAD")) ?? ""
        for directory in directories {
            files.append(directory)
            if head.hasPrefix("ref: refs/"), !head.contains("..") {
                files.append(directory.appendingPathComponent(String(head.dropFirst(5))).deletingLastPathComponent())
            }
        }
        return files.filter { FileManager.default.fileExists(atPath: $0.path) }
    }

    /// `package/.git` when it is a directory, else the directory its `gitdir:` line names.
    static func gitDirectory(of package: URL) -> URL? {
        let git = package.appendingPathComponent(".git")
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: git.path, isDirectory: &isDirectory) else { return nil }
        if isDirectory.boolValue { return git }
        guard let line = self.text(git), line.hasPrefix("gitdir: ") else { return nil }
        return URL(fileURLWithPath: String(line.dropFirst(8)), relativeTo: package).standardizedFileURL
    }

    static func text(_ url: URL) -> String? {
        PackageFacts.read(url, limit: 4096).map {
            String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }
}
