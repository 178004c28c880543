import ArgumentParser
import Foundation
import SaMDEnvelope
import SaMDExampleStorage
import SaMDExampleSupport
import SaMDKeys
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

struct Seal: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Seal a record (IN, or - for stdin) into an envelope (OUT, or - for stdout).")
    @OptionGroup var store: KeyStoreOptions
    @OptionGroup var context: ContextOptions
    @Option(
        help:
            "Payload suite: cobblestone-256 (AES-256-GCM, default) or xchacha20-poly1305 (devices without AES instructions)."
    )
    var suite: SuiteOption = .cobblestone256
    @Argument(help: "Input record, or -.") var input: String
    @Argument(help: "Output envelope, or -.") var output: String

    enum SuiteOption: String, ExpressibleByArgument, CaseIterable {
        case cobblestone256 = "cobblestone-256"
        case xchacha20Poly1305 = "xchacha20-poly1305"
    }

    func run() throws {
        try runReporting {
            let context = try self.context.context()
            let opened = try self.store.open()
            defer { opened.closeNow() }
            let store = opened.store
            // A token never exports a KEK, so nothing can be sealed directly under one: exit 64 (the command line
            // lacks what this store needs), before any input is read or output created.
            if opened.isTokenCustody, self.context.subject == nil {
                throw Failure(
                    status: ExitStatus.usage,
                    message:
                        "this key store's KEKs are in a PKCS #11 token, which never exports them: seal with --subject ID (the record is sealed under that subject's key, wrapped in the token)"
                )
            }
            // Input and output first: a missing input or an impossible output creates no subject key.
            try withInputAndPendingOutput(self.input, self.output) { input, pending in
                let key =
                    try self.context.subject.map { try store.subjectSealingKey(subject: $0) }
                    ?? store.sealingKey(named: FileKeyStore.defaultKeyName)
                try Envelope.seal(
                    from: input, to: pending.descriptor, context: context, key: key,
                    suite: self.suite == .cobblestone256 ? .cobblestone256 : .xChaCha20Poly1305)
                // Persist only if the key is still the one that seals (no rotation or shredding meanwhile). A file
                // is renamed under the store lock; standard output is checked, then copied without holding the
                // lock, so a slow reader cannot block rotation.
                if pending.isStandardOutput {
                    try store.whileSealingKeyIsCurrent(key.identifier) {}
                    try pending.commit()
                } else {
                    try store.whileSealingKeyIsCurrent(key.identifier) { try pending.commit() }
                }
            }
        }
    }
}

struct Open: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Open an envelope (IN, or -) into the record (OUT, or -). Nothing is written unless the whole record authenticated."
    )
    @OptionGroup var store: KeyStoreOptions
    @OptionGroup var context: ContextOptions
    @Argument(help: "Input envelope, or -.") var input: String
    @Argument(help: "Output record, or -.") var output: String

    func run() throws {
        try runReporting {
            let context = try self.context.context()
            let opened = try self.store.open()
            defer { opened.closeNow() }
            let store = opened.store
            try withInputAndPendingOutput(self.input, self.output) { input, pending in
                try Envelope.open(from: input, to: pending.descriptor, context: context, keys: store)
                try pending.commit()
            }
        }
    }
}

struct Rewrap: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Rewrap envelopes in place to the active KEK version: a new header, the payload bytes unchanged; each file replaced atomically."
    )
    @OptionGroup var store: KeyStoreOptions
    @Argument(help: "Envelope files.") var files: [String]

    func run() throws {
        try runReporting {
            guard !self.files.isEmpty else { throw Failure(status: ExitStatus.usage, message: "no files to rewrap") }
            guard !self.files.contains("-") else {
                throw Failure(status: ExitStatus.usage, message: "rewrap works in place on files; - is not a file")
            }
            let opened = try self.store.open()
            defer { opened.closeNow() }
            let store = opened.store
            // Only envelopes sealed directly under the KEK are rewrapped; a token store has none (it seals with
            // subject keys only, whose KEK `keys rotate` changes), so its KEK is never asked for.
            let target = opened.isTokenCustody ? nil : try store.sealingKey(named: FileKeyStore.defaultKeyName)
            let onTerminal = isatty(STDERR_FILENO) == 1
            var rewrapped = 0
            var skipped = 0
            var firstFailure: Int32?
            var failed = 0
            for (index, file) in self.files.enumerated() {
                if onTerminal {
                    FileHandle.standardError.write(
                        Data(
                            "\rrewrap \(index + 1)/\(self.files.count) \(escapingControlCharacters(file))\u{1B}[K".utf8)
                    )
                }
                // A bad file is named and skipped; the others are still rewrapped.
                do {
                    if try Self.rewrap(file, store: store, to: target) { rewrapped += 1 } else { skipped += 1 }
                } catch let error as EnvelopeError {
                    if onTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
                    printError("\(file): \(error.code): \(error.reason)")
                    firstFailure = firstFailure ?? ExitStatus.code(for: error)
                    failed += 1
                } catch let failure as Failure {
                    if onTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
                    printError("\(failure.message)")
                    firstFailure = firstFailure ?? failure.status
                    failed += 1
                } catch {
                    if onTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
                    printError("\(file): I/O error: \(error)")
                    firstFailure = firstFailure ?? ExitStatus.ioError
                    failed += 1
                }
            }
            if onTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
            print(
                "\(rewrapped) rewrapped to \(target.map { "\($0.identifier)" } ?? "the active KEK"), \(skipped) already current or under a subject key, \(failed) failed"
            )
            if let firstFailure {
                throw Failure(
                    status: firstFailure, message: "\(failed) of \(self.files.count) file(s) could not be rewrapped")
            }
        }
    }

    /// Rewraps one file to `target`; false when there is nothing to do (the file is under a subject key, or
    /// already under `target`).
    /// - Parameter target: the active KEK version, or `nil` for a store whose KEKs are in a token: then a file
    ///   sealed directly under a KEK cannot be from this store and fails with `EnvelopeError.Code.keyNotUsable`.
    static func rewrap(_ path: String, store: FileKeyStore, to target: SealingKey?) throws -> Bool {
        // Rewrap replaces the file by rename: through a symbolic link it would replace the link, and a
        // file with other hard links would keep its old copy under the other names.
        var linkInfo = stat()
        if lstat(path, &linkInfo) == 0 {
            if linkInfo.st_mode & S_IFMT == S_IFLNK {
                throw Failure(
                    status: ExitStatus.dataError, message: "\(path) is a symbolic link; rewrap the file it points to")
            }
            if linkInfo.st_nlink > 1 {
                throw Failure(
                    status: ExitStatus.dataError,
                    message: "\(path) has \(linkInfo.st_nlink) hard links; rewrap would separate them")
            }
        }
        let input = try openInput(path)
        defer { try? input.close() }
        let source = try FileByteSource(input)
        var prefix = [UInt8](repeating: 0, count: min(source.byteCount, EnvelopeHeader.maximumByteCount))
        try prefix.withUnsafeMutableBytes { try source.read(at: 0, into: $0) }
        let header = try EnvelopeHeader.parse(prefix)
        // Subject-keyed records follow their subject key, which `keys rotate` rewraps.
        guard header.key.name == FileKeyStore.defaultKeyName else { return false }
        guard let target else {
            throw EnvelopeError(
                .keyNotUsable,
                "\(path) is sealed directly under \(header.key), but this key store's KEKs are in a PKCS #11 token and seal only subject keys"
            )
        }
        guard header.key != target.identifier else { return false }
        let newHeader = try Envelope.rewrapHeader(header, keys: store, to: target)
        var info = stat()
        guard fstat(input.rawValue, &info) == 0 else {
            throw Failure(status: ExitStatus.ioError, message: "\(path): cannot stat: \(Errno(rawValue: errno))")
        }
        let pending = try PendingOutput(path, mode: info.st_mode & 0o777) // the file keeps its permissions…
        if geteuid() == 0 {
            _ = fchown(pending.descriptor.rawValue, info.st_uid, info.st_gid) // …and, when run as root, its owner
        }
        try newHeader.encoded.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                offset += try pending.descriptor.write(
                    UnsafeRawBufferPointer(rebasing: bytes[offset...]), retryOnInterrupt: true)
            }
        }
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        var position = header.byteCount
        while position < source.byteCount {
            let count = min(buffer.count, source.byteCount - position)
            try buffer.withUnsafeMutableBytes {
                try source.read(at: position, into: UnsafeMutableRawBufferPointer(rebasing: $0[..<count]))
            }
            try buffer.withUnsafeBytes { bytes in
                var offset = 0
                while offset < count {
                    offset += try pending.descriptor.write(
                        UnsafeRawBufferPointer(rebasing: bytes[offset..<count]), retryOnInterrupt: true)
                }
            }
            position += count
        }
        try store.whileSealingKeyIsCurrent(target.identifier) {
            try pending.commit(replacing: (UInt64(info.st_dev), UInt64(info.st_ino)))
        }
        return true
    }
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show an envelope's header facts (no key needed, never a key).")
    @Flag(help: "Print JSON.") var json = false
    @Argument(help: "Envelope file, or -.") var file: String

    func run() throws {
        try runReporting {
            // Read the header, then count the rest: works on pipes as well as files, in constant memory.
            let (prefix, total) = try withInput(self.file) { input in
                var prefix: [UInt8] = []
                var total = 0
                var buffer = [UInt8](repeating: 0, count: 64 << 10)
                while true {
                    let count: Int
                    do {
                        count = try buffer.withUnsafeMutableBytes { try input.read(into: $0, retryOnInterrupt: true) }
                    } catch {
                        throw Failure(status: ExitStatus.ioError, message: "\(self.file): cannot read: \(error)")
                    }
                    if count == 0 { break }
                    if prefix.count < EnvelopeHeader.maximumByteCount {
                        prefix += buffer[..<min(count, EnvelopeHeader.maximumByteCount - prefix.count)]
                    }
                    total += count
                }
                return (prefix, total)
            }
            let info = try Envelope.inspect(prefix, totalByteCount: total)
            if self.json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(info), as: UTF8.self))
            } else {
                print(
                    "format \(info.formatVersion), \(info.suite), key \(info.kekName):\(info.kekVersion) (\(info.wrapMode)), header \(info.headerByteCount) bytes, chunks of \(info.chunkSize) bytes, payload \(info.payloadLength.map(String.init) ?? "?") bytes"
                )
            }
        }
    }
}

struct Shred: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Crypto-shred a subject: destroy its key, so none of its records can be opened again. Prints the receipt."
    )
    @OptionGroup var store: KeyStoreOptions
    @Option(help: "The subject (patient) id.") var subject: String

    func run() throws {
        try runReporting {
            let opened = try self.store.open()
            defer { opened.closeNow() }
            let receipt = try opened.store.shred(subject: self.subject)
            print("shredded \(receipt.key) at \(ISO8601DateFormatter().string(from: receipt.destroyedAt))")
        }
    }
}
