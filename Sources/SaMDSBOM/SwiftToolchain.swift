/// The Swift toolchain a binary was built with.
///
/// No Swift runtime library carries its release number (libswiftCore.so and the static archives hold no
/// "6.3.1" string; `_SwiftStdlibVersion.current` says only "6.3.0"), so it comes from the build:
/// SaMDBuildGraphPlugin records `swiftc --version`'s first line (``SBOMInventory/swiftToolchain``).
enum SwiftToolchain {
    /// The version in `swift --version`'s first line ("Swift version 6.3.1 (swift-6.3.1-RELEASE)" → "6.3.1"),
    /// or the text itself when it is a bare version ("6.3.1"); nil for anything else.
    static func version(fromVersionLine line: String) -> String? {
        let words = line.split(separator: " ")
        let candidate =
            words.firstIndex(of: "version").flatMap { words.index(after: $0) < words.endIndex ? words[$0 + 1] : nil }
            ?? (words.count == 1 ? words[0] : nil)
        guard let candidate, candidate.first?.isNumber ?? false,
            candidate.allSatisfy({ $0.isNumber || $0 == "." || $0 == "-" || $0.isLetter })
        else { return nil }
        return String(candidate)
    }
}
