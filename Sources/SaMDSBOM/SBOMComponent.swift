import Foundation

/// One component of the SBOM: SaMDKit, a Swift package it was built with, a library the process
/// loaded, or a file of one.
public struct SBOMComponent: Sendable, Hashable {
    /// CycloneDX component types used here.
    public enum Kind: String, Sendable, Hashable {
        case library, file, application
    }
    /// How SaMDKit uses the component (CycloneDX `scope`).
    public enum Scope: String, Sendable, Hashable {
        /// Linked by a SaMDKit library product, or loaded by the running process.
        case required
        /// Linked only by SaMDKit's example executables (the command-line tools).
        case optional
        /// Used only by SaMDKit's tests; not in any product.
        case excluded
    }
    /// A key under which OSV advisories name the component.
    public struct AdvisoryKey: Sendable, Hashable {
        /// OSV ecosystem: "SwiftURL", "OSS-Fuzz" (upstream C projects), "Debian:12".
        public var ecosystem: String
        public var name: String
        public var version: String
    }

    /// Stable reference within one document (CycloneDX `bom-ref`; the SPDX id is derived from it).
    public var reference: String
    public var kind: Kind
    public var name: String
    public var version: String?
    public var supplier: String
    public var author: String?
    public var summary: String?
    public var scope: Scope
    /// Package URL (purl) of what runs; for a Debian-installed library, the Debian package's.
    public var purl: String?
    /// Further purls the component answers to (e.g. the upstream `pkg:generic/openssl@3.0.19`),
    /// used to match VEX statements.
    public var alternatePurls: [String]
    /// CPE 2.3 name, where NVD uses one.
    public var cpe: String?
    /// SPDX licence expression, when known.
    public var license: String?
    /// Lower-case hexadecimal SHA-256 of the file, for loaded shared objects.
    public var sha256: String?
    /// Lower-case hexadecimal SHA-512 of the file, for loaded shared objects (BSI TR-03183-2 asks for SHA-512).
    public var sha512: String?
    /// Canonical path of the loaded file.
    public var path: String?
    /// Source repository.
    public var vcsURL: String?
    /// The commit built (Swift packages, vendored code).
    public var revision: String?
    public var debianPackage: DebianPackage?
    public var support: SupportStatus?
    /// References of the components this one depends on.
    public var dependsOn: [String]
    /// Components contained in this one (files of a library, vendored code).
    public var subcomponents: [SBOMComponent]
    public var advisoryKeys: [AdvisoryKey]
    /// Further facts, as CycloneDX properties / SPDX annotations (names prefixed "samd:").
    public var properties: [String: String]

    public init(
        reference: String, kind: Kind, name: String, version: String?, supplier: String, scope: Scope = .required
    ) {
        self.reference = reference
        self.kind = kind
        self.name = name
        self.version = version
        self.supplier = supplier
        self.scope = scope
        self.alternatePurls = []
        self.dependsOn = []
        self.subcomponents = []
        self.advisoryKeys = []
        self.properties = [:]
    }

    /// This component and all its subcomponents, depth first.
    public var flattened: [SBOMComponent] {
        [self] + self.subcomponents.flatMap(\.flattened)
    }
}

/// Package URL helpers (purl-spec: the version is percent-encoded; `+` must be).
enum PackageURL {
    static func encode(_ text: String) -> String {
        var allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_~")
        allowed.remove("/")
        return text.map { allowed.contains($0) ? String($0) : $0.utf8.map { String(format: "%%%02X", $0) }.joined() }
            .joined()
    }

    /// `pkg:type/namespace/name` without version, qualifiers or subpath, lower-cased; and the version.
    static func split(_ purl: String) -> (base: String, version: String?) {
        var text = Substring(purl)
        if let hash = text.firstIndex(of: "#") { text = text[..<hash] }
        if let question = text.firstIndex(of: "?") { text = text[..<question] }
        guard let at = text.lastIndex(of: "@") else { return (text.lowercased(), nil) }
        let version = String(text[text.index(after: at)...]).removingPercentEncoding
        return (text[..<at].lowercased(), version)
    }

    /// The qualifiers (`?arch=amd64&distro=debian-12`): keys lower-cased, values percent-decoded; a key
    /// without a value is left out, as the purl specification says.
    static func qualifiers(_ purl: String) -> [String: String] {
        var text = Substring(purl)
        if let hash = text.firstIndex(of: "#") { text = text[..<hash] }
        guard let question = text.firstIndex(of: "?") else { return [:] }
        var qualifiers: [String: String] = [:]
        for pair in text[text.index(after: question)...].split(separator: "&") {
            guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else { continue }
            let value = String(pair[pair.index(after: equals)...])
            guard !value.isEmpty else { continue }
            qualifiers[pair[..<equals].lowercased()] = value.removingPercentEncoding ?? value
        }
        return qualifiers
    }

    /// The subpath after `#`, without leading or trailing `/`; nil when there is none.
    static func subpath(_ purl: String) -> String? {
        guard let hash = purl.firstIndex(of: "#") else { return nil }
        let subpath = purl[purl.index(after: hash)...].split(separator: "/").joined(separator: "/")
        return subpath.isEmpty ? nil : subpath
    }
}
