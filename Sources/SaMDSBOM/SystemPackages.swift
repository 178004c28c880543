import Foundation

/// The Debian package that installed a file, as dpkg records it.
public struct DebianPackage: Sendable, Hashable, Codable {
    /// Binary package name, e.g. "libssl3".
    public var name: String
    /// Architecture, e.g. "amd64".
    public var architecture: String?
    /// Installed version, e.g. "3.0.19-1~deb12u2".
    public var version: String
    /// Source package name, e.g. "openssl" (the name Debian security advisories use).
    public var source: String
}

/// The operating system, from os-release(5).
struct OperatingSystem: Sendable, Hashable {
    var id: String
    var versionID: String?
    /// "debian-12": the key of the support table's distribution entries.
    var key: String { self.versionID.map { "\(self.id)-\($0)" } ?? self.id }

    static func current(root: String = "/") -> OperatingSystem? {
        guard
            let text = BoundedFile.readText(root + "etc/os-release", limit: 64 << 10)
                ?? BoundedFile.readText(root + "usr/lib/os-release", limit: 64 << 10)
        else {
            return nil
        }
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            var value = line[line.index(after: equals)...]
            value = value.trimmingPrefix("\"")
            if value.hasSuffix("\"") { value = value.dropLast() }
            fields[String(line[..<equals])] = String(value)
        }
        guard let id = fields["ID"] else { return nil }
        return OperatingSystem(id: id, versionID: fields["VERSION_ID"])
    }
}

/// Reads dpkg's database directly (no subprocess): `info/*.list` to find the package owning a path,
/// `status` for its version and source. Every read is bounded; a system without dpkg yields nil.
struct DpkgDatabase: Sendable {
    var directory: String = "/var/lib/dpkg"
    static let listLimit = 16 << 20
    static let statusLimit = 64 << 20
    static let maximumLists = 20_000

    /// The owners of `paths` (canonical paths), keyed by path. On merged-/usr systems dpkg may have
    /// recorded `/lib/…` for a file that resolves to `/usr/lib/…`, so both spellings are tried.
    func owners(of paths: [String]) -> [String: DebianPackage] {
        let infoDirectory = self.directory + "/info"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: infoDirectory) else { return [:] }
        var wanted: [String: String] = [:] // spelling → canonical path
        for path in paths {
            wanted[path] = path
            if path.hasPrefix("/usr/") { wanted[String(path.dropFirst(4))] = path }
        }
        var owner: [String: String] = [:] // canonical path → "package[:arch]"
        for name in names.filter({ $0.hasSuffix(".list") }).sorted().prefix(Self.maximumLists) {
            guard owner.count < paths.count else { break }
            guard let text = BoundedFile.readText(infoDirectory + "/" + name, limit: Self.listLimit) else { continue }
            for line in text.split(separator: "\n") {
                if let path = wanted[String(line)], owner[path] == nil {
                    owner[path] = String(name.dropLast(5))
                }
            }
        }
        guard !owner.isEmpty, let status = BoundedFile.readText(self.directory + "/status", limit: Self.statusLimit)
        else { return [:] }
        let installed = Self.parseStatus(status)
        var result: [String: DebianPackage] = [:]
        for (path, qualified) in owner {
            let parts = qualified.split(separator: ":", maxSplits: 1).map(String.init)
            let architecture = parts.count == 2 ? parts[1] : nil
            if let package = installed.first(where: {
                $0.name == parts[0]
                    && (architecture == nil || $0.architecture == architecture || $0.architecture == "all")
            }) {
                result[path] = package
            }
        }
        return result
    }

    /// The installed packages in a dpkg status file.
    static func parseStatus(_ text: String) -> [DebianPackage] {
        var packages: [DebianPackage] = []
        for stanza in text.components(separatedBy: "\n\n") {
            var fields: [String: String] = [:]
            for line in stanza.split(separator: "\n") where !line.hasPrefix(" ") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            guard let name = fields["Package"], let version = fields["Version"],
                fields["Status"]?.hasSuffix(" installed") ?? false
            else { continue }
            // "Source: openssl" or "Source: openssl (3.0.19-1~deb12u2)".
            let source = fields["Source"].map { String($0.split(separator: " ").first ?? Substring(name)) } ?? name
            packages.append(
                DebianPackage(name: name, architecture: fields["Architecture"], version: version, source: source))
        }
        return packages
    }
}

/// Bounded reads of local files.
enum BoundedFile {
    /// Up to `limit` bytes of the file at `path`, or nil when it cannot be opened or is larger.
    static func read(_ path: String, limit: Int) -> Data? {
        guard let data = self.prefix(path, count: limit + 1), data.count <= limit else { return nil }
        return data
    }

    /// The first `count` bytes of the file at `path` (all of it when shorter), or nil when it cannot be opened
    /// or read. Reads up to the end, so it also serves files whose size the kernel reports as 0 (procfs).
    static func prefix(_ path: String, count: Int) -> Data? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        do {
            return try handle.read(upToCount: count) ?? Data()
        } catch {
            return nil
        }
    }

    static func readText(_ path: String, limit: Int) -> String? {
        self.read(path, limit: limit).map { String(decoding: $0, as: UTF8.self) }
    }
}
