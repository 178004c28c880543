/// The shape of every SaMDKit error: a stable ``code`` to compare and switch on, and a ``reason`` in words,
/// for people reading logs, that never holds key bytes, plaintext or patient data.
///
/// Two errors are equal, and hash alike, when their codes are: the reason and where the error was raised do
/// not count. The default ``description`` is `TypeName.code: reason`.
public protocol CodedError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The error's stable identity: a value type whose `description` is the code's name.
    associatedtype Code: Sendable, Hashable, CustomStringConvertible
    /// The stable identity of the error. Switch or compare on this.
    var code: Code { get }
    /// What went wrong, in words, without secrets; may change between releases.
    var reason: String { get }
}

extension CodedError {
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.code == rhs.code
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.code)
    }

    public var description: String {
        "\(Self.self).\(self.code): \(self.reason)"
    }
}
