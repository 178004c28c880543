import Foundation
import Testing

import SaMDEnvelope
@testable import SaMDKeys

#if canImport(Glibc)
    import Glibc
#endif

/// `subjectKeyNames()` crashed now and then (3 runs in 60 on 800 files): a directory entry's name was read by
/// copying the whole 256-byte `d_name` array, though `readdir` returns entries only `d_reclen` bytes long — an
/// entry at the end of its buffer, at the end of a mapped page, was read past.
@Suite("Directory entries are read within their length")
struct DirectoryEntryTests {
    /// A short entry placed at the very end of a readable page, the next page unreadable: reading its name
    /// must stop at the NUL (the old copy faulted here, every time).
    @Test func aShortEntryAtTheEndOfAMappedPageIsReadWithoutTouchingTheNextPage() throws {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let mapping = try #require(mmap(nil, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
        #expect(mapping != MAP_FAILED)
        defer { munmap(mapping, 2 * page) }
        #expect(mprotect(mapping + page, page, PROT_NONE) == 0)

        let name = Array("s-0123456789abcdef0123456789abcdef.json".utf8) + [0]
        let offset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        // The entry as readdir lays it out: its header, then its name, 8-byte aligned, ending at the page's end.
        let length = (offset + name.count + 7) & ~7
        let entry = mapping + page - length
        entry.initializeMemory(as: UInt8.self, repeating: 0, count: length)
        (entry + offset).copyMemory(from: name, byteCount: name.count)
        #expect(
            length < MemoryLayout<dirent>.size,
            "the entry must be shorter than the structure for the test to mean anything")

        #expect(
            StoreFile.name(of: entry.assumingMemoryBound(to: dirent.self)) == "s-0123456789abcdef0123456789abcdef.json")
    }

    /// And through `readdir` itself: every name of a directory of many files is listed, exactly.
    @Test func everyNameOfADirectoryIsListed() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "samd-dirent-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let names = (0..<500).map { "s-\(String(repeating: "ab", count: $0 % 40))-\($0).json" }
        for name in names {
            #expect(FileManager.default.createFile(atPath: directory + "/" + name, contents: nil))
        }
        #expect(try StoreFile.list(directory) == names.sorted())
    }
}
