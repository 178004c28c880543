import Foundation
import SaMDCrypto

/// One line of `/proc/<pid>/maps`, proc(5): `start-end perms offset dev inode [path]`.
struct MemoryMapping: Sendable, Hashable {
    /// Start and end address of the mapping (end exclusive).
    var start: UInt64
    var end: UInt64
    /// "r-xp": read, write, execute, private or shared.
    var permissions: String
    /// Offset into the file, bytes.
    var offset: UInt64
    /// The file's inode; 0 for anonymous mappings.
    var inode: UInt64
    /// The path as the kernel printed it, with " (deleted)" removed and `\012` turned back into a newline;
    /// nil for anonymous mappings. Pseudo-paths such as `[heap]` and `[vdso]` are kept as printed.
    var path: String?
    /// The kernel marked the file " (deleted)": it was removed or replaced after it was mapped, so the file now at
    /// `path` (if any) is not the one mapped.
    var deleted: Bool

    var isExecutable: Bool { self.permissions.dropFirst(2).first == "x" }
    /// Backed by a file (an absolute path and an inode), not anonymous memory or a pseudo-path.
    var isFileBacked: Bool { self.inode != 0 && (self.path?.hasPrefix("/") ?? false) }
    /// `/proc/self/map_files/START-END`: the mapped file itself, even when deleted (readable with CAP_SYS_ADMIN).
    var mapFilesPath: String {
        "/proc/self/map_files/" + String(self.start, radix: 16) + "-" + String(self.end, radix: 16)
    }
}

/// A shared object the process has mapped: one entry per distinct file.
struct LoadedObject: Sendable, Hashable {
    /// Canonical path (symbolic links resolved).
    var path: String
    /// The kernel marked it deleted (see ``MemoryMapping/deleted``).
    var deleted: Bool
    /// Where its bytes can be read: `path`, or for a deleted file its `map_files` entry.
    var readablePath: String
}

/// `/proc/self/maps`, read whole and bounded, and the shared objects it shows.
/// - SeeAlso: proc(5), "/proc/pid/maps".
enum ProcessMemoryMap {
    /// The most bytes read from a maps file (8 MiB: a kernel line is at most about 4.2 KiB with its path, and
    /// the usual process has a few hundred).
    static let maximumBytes = 8 << 20
    /// The most mappings accepted: the kernel's default `vm.max_map_count` (65 530), rounded up.
    static let maximumEntries = 65_536

    /// The mappings of the running process; nil when `/proc/self/maps` cannot be read (no procfs).
    /// - Throws: ``SBOMError/Code/limitExceeded`` when the file is larger than ``maximumBytes`` or has more
    ///   than ``maximumEntries`` lines; ``SBOMError/Code/malformedInput`` for a line that is not proc(5)'s.
    static func current(path: String = "/proc/self/maps") throws -> [MemoryMapping]? {
        guard let data = BoundedFile.prefix(path, count: Self.maximumBytes + 1) else { return nil }
        return try self.parse(data)
    }

    /// The mappings in the text of a maps file.
    /// - Throws: ``SBOMError/Code/limitExceeded`` beyond ``maximumBytes`` or ``maximumEntries`` (refused whole:
    ///   a partial list would leave libraries out unsaid); ``SBOMError/Code/malformedInput`` naming the first
    ///   line (by number, not content) that does not have proc(5)'s fields.
    static func parse(_ data: Data) throws -> [MemoryMapping] {
        guard data.count <= Self.maximumBytes else {
            throw SBOMError(.limitExceeded, "the memory map is larger than \(Self.maximumBytes) bytes")
        }
        var mappings: [MemoryMapping] = []
        var number = 0
        for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            number += 1
            guard number <= Self.maximumEntries else {
                throw SBOMError(.limitExceeded, "the memory map has more than \(Self.maximumEntries) mappings")
            }
            guard let mapping = self.mapping(String(decoding: line, as: UTF8.self)) else {
                throw SBOMError(.malformedInput, "line \(number) of the memory map does not have proc(5)'s fields")
            }
            mappings.append(mapping)
        }
        return mappings
    }

    /// One line: five fields separated by single spaces, then padding, then the path, which may hold spaces.
    private static func mapping(_ line: String) -> MemoryMapping? {
        var rest = Substring(line)
        func field() -> Substring? {
            let end = rest.firstIndex(of: " ") ?? rest.endIndex
            let value = rest[..<end]
            rest = rest[end...].dropFirst()
            return value.isEmpty ? nil : value
        }
        guard let range = field(), let permissions = field(), let offset = field(), let device = field(),
            let inodeText = field()
        else { return nil }
        let bounds = range.split(separator: "-", omittingEmptySubsequences: false)
        guard bounds.count == 2, let start = UInt64(bounds[0], radix: 16), let end = UInt64(bounds[1], radix: 16),
            start <= end, self.isPermissions(permissions),
            let offsetValue = UInt64(offset, radix: 16),
            device.split(separator: ":").count == 2, device.allSatisfy({ $0 == ":" || $0.isHexDigit }),
            let inode = UInt64(inodeText)
        else { return nil }
        var path = rest.drop { $0 == " " }
        var deleted = false
        if path.hasSuffix(" (deleted)") {
            deleted = true
            path = path.dropLast(" (deleted)".count)
        }
        return MemoryMapping(
            start: start, end: end, permissions: String(permissions), offset: offsetValue, inode: inode,
            path: path.isEmpty ? nil : path.replacingOccurrences(of: "\\012", with: "\n"), deleted: deleted)
    }

    /// The distinct shared objects among `mappings`: file-backed mappings that are executable (code of an ELF
    /// object) or whose file name is a shared object's (`….so`, `….so.N…`), except `executable` (the program
    /// itself, the SBOM's subject). Paths are canonical; order is that of first appearance.
    static func sharedObjects(in mappings: [MemoryMapping], executable: String?) -> [LoadedObject] {
        let program = executable.map { canonicalPath($0) }
        var seen: Set<String> = []
        var objects: [LoadedObject] = []
        for mapping in mappings where mapping.isFileBacked {
            guard let mapped = mapping.path, mapping.isExecutable || self.isSharedObjectName(mapped) else { continue }
            let path = mapping.deleted ? mapped : canonicalPath(mapped)
            guard path != program, seen.insert(path).inserted else { continue }
            objects.append(
                LoadedObject(
                    path: path, deleted: mapping.deleted, readablePath: mapping.deleted ? mapping.mapFilesPath : path))
        }
        return objects
    }

    /// "r-xp": four letters, each its own or "-", the last "p" (private) or "s" (shared).
    private static func isPermissions(_ text: Substring) -> Bool {
        let letters = Array(text)
        return letters.count == 4 && "r-".contains(letters[0]) && "w-".contains(letters[1])
            && "x-".contains(letters[2]) && "ps".contains(letters[3])
    }

    /// "libc.so.6", "libfoo.so", "libfoo.so.1.2.3" — not "libfoo.sorted" or "foo.so.bak".
    static func isSharedObjectName(_ path: String) -> Bool {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        return name.ranges(of: ".so").contains { range in
            let tail = name[range.upperBound...]
            return tail.isEmpty || (tail.first == "." && tail.dropFirst().allSatisfy { $0.isNumber || $0 == "." })
        }
    }
}
