/// Why an SBOM could not be made or checked. Equality is on ``code`` only.
public struct SBOMError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The stable kind of failure.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Value: String, Sendable, Hashable {
            case malformedInput, inputMissing, ioFailure, runtimeUnavailable, resourceMissing, limitExceeded
            case nothingToState
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// An advisories or VEX file (or the bundled support or transition table) is not what its format requires.
        public static let malformedInput = Code(.malformedInput)
        /// A named input file does not exist, cannot be opened, or is not a regular file (a FIFO, device,
        /// directory or socket, which would block or never end).
        public static let inputMissing = Code(.inputMissing)
        /// A file could not be read or written.
        public static let ioFailure = Code(.ioFailure)
        /// The cryptographic runtime failed SaMDCrypto's library gate.
        public static let runtimeUnavailable = Code(.runtimeUnavailable)
        /// A resource of SaMDSBOM (support or transition table) is missing from the bundle.
        public static let resourceMissing = Code(.resourceMissing)
        /// An input is larger than its bound (bytes or entries), so it is refused whole rather than read in part:
        /// an SBOM made from part of `/proc/self/maps` would silently leave libraries out.
        public static let limitExceeded = Code(.limitExceeded)
        /// A CSAF VEX document was asked for, but no advisory names a running component: CSAF 2.0 §6.1.27.11
        /// requires at least one vulnerability.
        public static let nothingToState = Code(.nothingToState)

        public var description: String { self.value.rawValue }
    }

    public let code: Code
    /// What failed, for people; never holds file contents.
    public let reason: String

    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { "\(self.code): \(self.reason)" }

    public static func == (lhs: SBOMError, rhs: SBOMError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.code) }
}
