public import SaMDCrypto
import SystemPackage

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A record store's recipient public key, as devices get it: the X25519 key that envelopes are sealed to in
/// recipient mode (``SealingKey/recipient(_:_:)``), so that a device can seal records it can never read back,
/// and the exact key version (`recipient:N`) the store finds the private half under.
///
/// The file (`samd-vault keys recipient --out FILE` writes it) is one line of JSON with exactly three fields, in
/// this order, without spaces, and a final newline — read back only byte for byte as written (a duplicated or
/// reordered field, another spelling of the same values, is refused):
/// ```
/// {"format":"samd-recipient-v1","keyIdentifier":"recipient:1","publicKey":"<base64 of 32 bytes>"}
/// ```
/// The key identifier's name is always `recipient`; a public key of small order (whose shared secrets are all
/// zeros) is refused.
/// It holds no secret: it is written mode 0644, and a device may keep it anywhere it keeps configuration.
public struct RecipientPublicKey: Sendable, Hashable {
    /// The `format` field's value.
    public static let format = "samd-recipient-v1"
    /// The largest recipient file read, in bytes (4 KiB): checked before the file is read.
    public static let maximumFileByteCount = 4096
    /// The name of every recipient key version: `recipient` (`recipient:1`, `recipient:2`…).
    public static let keyName = "recipient"

    /// The key version the envelope's header names (its text form, `name:version`, in the file).
    public let keyIdentifier: KeyIdentifier
    /// The X25519 public key (32 bytes).
    public let publicKey: X25519.PublicKey

    /// - Parameters:
    ///   - keyIdentifier: the version of the store's recipient key.
    ///   - publicKey: its public half.
    public init(keyIdentifier: KeyIdentifier, publicKey: X25519.PublicKey) {
        self.keyIdentifier = keyIdentifier
        self.publicKey = publicKey
    }

    /// What a device seals to: `Envelope.seal(_:context:to:suite:)`, ``EnvelopeSealer`` or the streaming seal
    /// take it as their key.
    public var sealingKey: SealingKey {
        .recipient(self.keyIdentifier, self.publicKey)
    }

    /// Reads a recipient file.
    /// - Parameter path: the file; a link is followed, but what it names must be a regular file.
    /// - Throws: `EnvelopeError` — ``EnvelopeError/Code/io`` when it cannot be opened or read, or is not a
    ///   regular file; ``EnvelopeError/Code/limitExceeded`` when it is over ``maximumFileByteCount`` bytes
    ///   (checked before it is read); ``EnvelopeError/Code/malformed`` when it is not the JSON object above
    ///   exactly (a field missing, unknown or of another type, another format, a key identifier or public key
    ///   that is not one). No error repeats the file's bytes.
    public static func read(from path: String) throws -> RecipientPublicKey {
        let descriptor: FileDescriptor
        do {
            descriptor = try FileDescriptor.open(FilePath(path), .readOnly, options: [.nonBlocking])
        } catch {
            throw EnvelopeError(.io, "cannot open the recipient file \(path.debugDescription): \(error)")
        }
        let bytes: [UInt8] = try descriptor.closeAfter {
            var info = stat()
            guard fstat(descriptor.rawValue, &info) == 0 else {
                throw EnvelopeError(.io, "cannot stat the recipient file \(path.debugDescription): errno \(errno)")
            }
            guard info.st_mode & S_IFMT == S_IFREG else {
                throw EnvelopeError(.io, "the recipient file \(path.debugDescription) is not a regular file")
            }
            guard info.st_size <= Self.maximumFileByteCount else {
                throw EnvelopeError(
                    .limitExceeded,
                    "the recipient file \(path.debugDescription) is over \(Self.maximumFileByteCount) bytes")
            }
            // One byte more than the limit: a file that grew since fstat is caught too.
            var buffer = [UInt8](repeating: 0, count: Self.maximumFileByteCount + 1)
            var count = 0
            do {
                while count < buffer.count {
                    let read = try buffer.withUnsafeMutableBytes {
                        try descriptor.read(
                            into: UnsafeMutableRawBufferPointer(rebasing: $0[count...]), retryOnInterrupt: true)
                    }
                    if read == 0 { break }
                    count += read
                }
            } catch {
                throw EnvelopeError(.io, "cannot read the recipient file \(path.debugDescription): \(error)")
            }
            guard count <= Self.maximumFileByteCount else {
                throw EnvelopeError(
                    .limitExceeded,
                    "the recipient file \(path.debugDescription) is over \(Self.maximumFileByteCount) bytes")
            }
            return Array(buffer[..<count])
        }
        return try Self.parse(bytes)
    }

    /// Parses a recipient file's bytes.
    /// - Parameter bytes: the file's content, at most ``maximumFileByteCount`` bytes.
    /// - Throws: ``EnvelopeError/Code/malformed`` as ``read(from:)``; ``EnvelopeError/Code/limitExceeded`` for
    ///   more than ``maximumFileByteCount`` bytes.
    public static func parse(_ bytes: [UInt8]) throws -> RecipientPublicKey {
        guard bytes.count <= Self.maximumFileByteCount else {
            throw EnvelopeError(.limitExceeded, "a recipient file is at most \(Self.maximumFileByteCount) bytes")
        }
        let malformed = EnvelopeError(
            .malformed,
            "not a recipient file: a JSON object of exactly format \"\(Self.format)\", keyIdentifier and publicKey (base64 of 32 bytes)"
        )
        guard let fields = try? JSONDecoder().decode([String: String].self, from: Data(bytes)),
            Set(fields.keys) == ["format", "keyIdentifier", "publicKey"], fields["format"] == Self.format,
            let identifierText = fields["keyIdentifier"], let keyText = fields["publicKey"],
            keyText.utf8.count == 44, let raw = Data(base64Encoded: keyText), raw.count == X25519.keyByteCount
        else { throw malformed }
        let identifier: KeyIdentifier
        let publicKey: X25519.PublicKey
        do {
            identifier = try KeyIdentifier(parsing: identifierText)
            publicKey = try X25519.PublicKey(rawRepresentation: Array(raw))
        } catch {
            throw malformed
        }
        guard identifier.name == Self.keyName else {
            throw EnvelopeError(
                .malformed,
                "not a recipient file: its key identifier must be \(Self.keyName):N, not a key of another name")
        }
        let key = RecipientPublicKey(keyIdentifier: identifier, publicKey: publicKey)
        // Exactly the bytes `encoded` gives (samd-vault writes them), a final newline optional: no duplicate or
        // reordered field, no other spelling of the same values.
        guard bytes == key.encoded || bytes == key.encoded.dropLast() else {
            throw EnvelopeError(
                .malformed, "not a recipient file: not byte for byte as samd-vault keys recipient writes it")
        }
        // A point of small order would make every envelope's shared secret all zeros: libsodium refuses it when
        // sealing; refused here first, by name.
        do {
            _ = try X25519.PrivateKey().sharedSecret(with: publicKey)
        } catch let error as CryptoError where error.code == .invalidPublicKey {
            throw EnvelopeError(.malformed, "not a recipient file: its public key is a point of small order")
        } catch {
            // Another profile's refusal of X25519 is the sealer's to report.
        }
        return key
    }

    /// The file's bytes: the JSON object above, keys sorted, and a final newline.
    public var encoded: [UInt8] {
        let key = Data(self.publicKey.rawRepresentation).base64EncodedString()
        return Array(
            "{\"format\":\"\(Self.format)\",\"keyIdentifier\":\"\(self.keyIdentifier)\",\"publicKey\":\"\(key)\"}\n"
                .utf8)
    }

    /// Writes the recipient file at `path` atomically (a temporary file in the same directory, fsync'd, renamed
    /// over `path`, the directory fsync'd), mode 0644: it holds no secret.
    /// - Parameter path: where the file goes; its directory must exist.
    /// - Throws: ``EnvelopeError/Code/io``.
    public func write(to path: String) throws {
        try AtomicFile.write(
            [(self.encoded, path)],
            permissions: [.ownerRead, .ownerWrite, .groupRead, .otherRead])
    }
}
