/// The Swift toolchain this binary was built with, as far as the compiler itself tells at compile time.
///
/// No Swift runtime library carries its release number (libswiftCore.so and the static archives hold no
/// "6.3.1" string; `_SwiftStdlibVersion.current` says only "6.3.0"), so the version comes from the compiler
/// compiling this file: `#if compiler(>=…)` brackets each release between itself and the next patch level,
/// which is exact for every version the chain names. A compiler newer than the chain yields nil (never a
/// wrong number): the build record of the build-tool plugin (`swift --version`) then names it.
enum SwiftToolchain {
    /// "6.3.1": the version of the compiler that compiled SaMDSBOM, or nil when it is newer than this list.
    static let compilerVersion: String? = {
        #if compiler(>=6.3.4)
            return nil
        #elseif compiler(>=6.3.3)
            return "6.3.3"
        #elseif compiler(>=6.3.2)
            return "6.3.2"
        #elseif compiler(>=6.3.1)
            return "6.3.1"
        #elseif compiler(>=6.3)
            return "6.3"
        #elseif compiler(>=6.2.4)
            return "6.2.4"
        #elseif compiler(>=6.2.3)
            return "6.2.3"
        #elseif compiler(>=6.2.2)
            return "6.2.2"
        #elseif compiler(>=6.2.1)
            return "6.2.1"
        #elseif compiler(>=6.2)
            return "6.2"
        #elseif compiler(>=6.1.3)
            return "6.1.3"
        #elseif compiler(>=6.1.2)
            return "6.1.2"
        #elseif compiler(>=6.1.1)
            return "6.1.1"
        #else
            return "6.1"
        #endif
    }()

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
