public import ArgumentParser
public import SaMDCrypto
import SaMDEnvelope

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The program's name, as messages start with it (`samd-tls: …`).
let programName =
    CommandLine.arguments.first.map { String($0.split(separator: "/").last ?? Substring($0)) } ?? "samdkit"

/// Writes one line to standard error, prefixed with the program's name. The message is one line: control
/// characters in it (a file name, an id, a peer's name, an error's text) are escaped
/// (``escapingControlCharacters(_:)``).
public func printError(_ message: String) {
    writeFully(2, "\(programName): \(escapingControlCharacters(message))\n")
}

/// Writes one line to standard output at once (unbuffered), so a script reading it sees it now. Control
/// characters in `line` are escaped (``escapingControlCharacters(_:)``): one call is one line.
public func printLine(_ line: String) {
    writeFully(1, escapingControlCharacters(line) + "\n")
}

/// Writes all of `text` (UTF-8) to `fd` with write(2), again after a short write or EINTR; an error (a closed
/// pipe) drops the rest, as a message that cannot be shown has nowhere else to go.
private func writeFully(_ fd: Int32, _ text: String) {
    var text = text
    text.withUTF8 { bytes in
        var offset = 0
        while offset < bytes.count {
            let written = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { return }
            offset += written
        }
    }
}

/// `text` with every character that could forge or hide output escaped, so that untrusted text (file names,
/// ids, certificate names, error reasons) stays on its one line and reads as what it is: control
/// characters (Unicode `Cc`: C0, DEL, C1) as `\n`, `\r`, `\t` or `\u{XX}`; the line and paragraph
/// separators U+2028 and U+2029 and the bidirectional formatting characters (U+061C, U+200E, U+200F,
/// U+202A to U+202E, U+2066 to U+2069) as `\u{XXXX}`. Everything else, backslashes included, is kept.
/// - SeeAlso: CWE-117 (log injection), CVE-2021-42574 (bidirectional overrides)
public func escapingControlCharacters(_ text: some StringProtocol) -> String {
    guard text.unicodeScalars.contains(where: needsEscaping) else { return String(text) }
    var escaped = ""
    escaped.reserveCapacity(text.utf8.count + 8)
    for scalar in text.unicodeScalars {
        guard needsEscaping(scalar) else {
            escaped.unicodeScalars.append(scalar)
            continue
        }
        switch scalar {
        case "\n": escaped += "\\n"
        case "\r": escaped += "\\r"
        case "\t": escaped += "\\t"
        default: escaped += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
        }
    }
    return escaped
}

private func needsEscaping(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.value {
    case 0x00...0x1F, 0x7F...0x9F, 0x061C, 0x200E, 0x200F, 0x2028...0x202E, 0x2066...0x2069: true
    default: false
    }
}

/// Checks that each path can be opened for reading — and is a regular file when `regularFilesOnly`, else
/// anything but a directory; exit 66 (EX_NOINPUT) otherwise, with the reason on standard error.
public func requireReadable(_ paths: [String?], regularFilesOnly: Bool = false) throws {
    for case let path? in paths {
        var info = stat()
        if stat(path, &info) != 0 || access(path, R_OK) != 0 {
            printError("\(path): \(String(cString: strerror(errno)))")
            throw ExitCode(ExitStatus.noInput)
        }
        if regularFilesOnly, info.st_mode & S_IFMT != S_IFREG {
            printError("\(path) is not a regular file")
            throw ExitCode(ExitStatus.noInput)
        }
        if info.st_mode & S_IFMT == S_IFDIR {
            printError("\(path) is a directory")
            throw ExitCode(ExitStatus.noInput)
        }
    }
}

/// `--key-passphrase-file`: the passphrase of an encrypted TLS private key.
public struct KeyPassphraseOption: ParsableArguments {
    @Option(
        name: .customLong("key-passphrase-file"),
        help: ArgumentHelp(
            "A file holding the passphrase of an encrypted private key (one line; a regular file others cannot read).",
            valueName: "file"
        )
    )
    public var file: String?

    public init() {}

    /// The passphrase (one trailing newline dropped), or `nil` without a file. Exit 66 when the file cannot be used.
    public func read() throws -> SecureBytes? {
        guard let file else { return nil }
        do {
            return try Passphrase.fromFile(file)
        } catch let error as EnvelopeError {
            printError("--key-passphrase-file: \(error.reason)")
            throw ExitCode(ExitStatus.noInput)
        }
    }
}

/// Runs a command's body so that every exit is one its `--help` lists: an error that is not already an exit
/// (`ExitCode`, ArgumentParser's `CleanExit`) is printed and ends the program with 70 (EX_SOFTWARE), not
/// ArgumentParser's 1.
public func withListedExitCodes<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch {
        throw listedExit(error)
    }
}

/// ``withListedExitCodes(_:)`` for synchronous bodies.
public func withListedExitCodes<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch {
        throw listedExit(error)
    }
}

private func listedExit(_ error: any Error) -> any Error {
    if error is ExitCode || error is CleanExit { return error }
    printError("internal error: \(error)")
    return ExitCode(ExitStatus.software)
}
