import Foundation

/// The commit a git work tree has checked out, read from its files (no git process): `.git/HEAD`, the ref it
/// names (loose, else in `packed-refs`). `.git` may be a directory or, in a linked work tree or a submodule, a
/// file `gitdir: PATH`; a linked work tree keeps its refs in the common directory its `commondir` file names.
enum GitCheckout {
    /// The 40-hex-digit commit checked out at `directory`; nil when it is not a git work tree or the ref cannot
    /// be found (an unborn branch, a repository format this does not read).
    static func commit(in directory: URL) -> String? {
        guard let gitDirectory = self.gitDirectory(of: directory),
            let head = BoundedRead.text(gitDirectory.appendingPathComponent("HEAD"), limit: 4096)?
                .trimmingCharacters(in: .whitespacesAndNewlines)
        else { return nil }
        guard head.hasPrefix("ref: ") else { return self.isCommit(head) ? head : nil }
        let reference = String(head.dropFirst(5))
        guard reference.hasPrefix("refs/"), !reference.split(separator: "/").contains("..") else { return nil }
        var directories = [gitDirectory]
        if let common = BoundedRead.text(gitDirectory.appendingPathComponent("commondir"), limit: 4096)?
            .trimmingCharacters(in: .whitespacesAndNewlines), !common.isEmpty
        {
            directories.append(URL(fileURLWithPath: common, relativeTo: gitDirectory).standardizedFileURL)
        }
        for directory in directories {
            if let loose = BoundedRead.text(directory.appendingPathComponent(reference), limit: 4096)?
                .trimmingCharacters(in: .whitespacesAndNewlines), self.isCommit(loose)
            {
                return loose
            }
        }
        for directory in directories {
            let packed = BoundedRead.text(directory.appendingPathComponent("packed-refs"), limit: 64 << 20) ?? ""
            for line in packed.split(separator: "\n") {
                let fields = line.split(separator: " ")
                if fields.count == 2, fields[1] == reference, self.isCommit(String(fields[0])) {
                    return String(fields[0])
                }
            }
        }
        return nil
    }

    /// `directory/.git` when it is a directory, else the directory its `gitdir:` line names.
    static func gitDirectory(of directory: URL) -> URL? {
        let git = directory.appendingPathComponent(".git")
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: git.path, isDirectory: &isDirectory) else { return nil }
        if isDirectory.boolValue { return git }
        guard let line = BoundedRead.text(git, limit: 4096)?.trimmingCharacters(in: .whitespacesAndNewlines),
            line.hasPrefix("gitdir: ")
        else { return nil }
        return URL(fileURLWithPath: String(line.dropFirst(8)), relativeTo: directory).standardizedFileURL
    }

    /// Whether `text` is a full git commit id (40 hexadecimal digits).
    static func isCommit(_ text: String) -> Bool {
        text.count == 40 && text.allSatisfy(\.isHexDigit)
    }
}
