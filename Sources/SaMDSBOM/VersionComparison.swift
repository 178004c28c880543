/// Version ordering for advisory ranges.
enum VersionComparison {
    /// Compares dotted upstream versions ("3.0.19", "1.0.18", "2.101.3"): numeric runs compare as
    /// numbers, other runs as text; a missing part is smaller ("1.0" < "1.0.1"); a pre-release
    /// after "-" sorts before the release (SemVer §11).
    static func compareUpstream(_ lhs: String, _ rhs: String) -> Int {
        func split(_ version: String) -> (core: String, pre: String?) {
            var version = version
            if version.hasPrefix("v") { version.removeFirst() }
            if let build = version.firstIndex(of: "+") { version = String(version[..<build]) }
            guard let dash = version.firstIndex(of: "-") else { return (version, nil) }
            return (String(version[..<dash]), String(version[version.index(after: dash)...]))
        }
        let (l, r) = (split(lhs), split(rhs))
        let core = self.compareParts(
            l.core.split(separator: ".").map(String.init), r.core.split(separator: ".").map(String.init))
        if core != 0 { return core }
        switch (l.pre, r.pre) {
        case (nil, nil): return 0
        case (nil, _): return 1
        case (_, nil): return -1
        case (let a?, let b?):
            return self.compareParts(a.split(separator: ".").map(String.init), b.split(separator: ".").map(String.init))
        }
    }

    private static func compareParts(_ lhs: [String], _ rhs: [String]) -> Int {
        for index in 0..<max(lhs.count, rhs.count) {
            guard index < lhs.count else { return -1 }
            guard index < rhs.count else { return 1 }
            let (a, b) = (lhs[index], rhs[index])
            if let x = Int(a), let y = Int(b) {
                if x != y { return x < y ? -1 : 1 }
            } else if a != b {
                return a < b ? -1 : 1
            }
        }
        return 0
    }

    /// Compares Debian package versions as dpkg does: `[epoch:]upstream[-revision]`, where `~` sorts
    /// before everything (even the end of the string), letters before non-letters, digit runs as numbers.
    /// - SeeAlso: deb-version(7).
    static func compareDebian(_ lhs: String, _ rhs: String) -> Int {
        func parts(_ version: String) -> (epoch: Int, upstream: String, revision: String) {
            var rest = Substring(version)
            var epoch = 0
            if let colon = rest.firstIndex(of: ":"), let value = Int(rest[..<colon]) {
                epoch = value
                rest = rest[rest.index(after: colon)...]
            }
            if let dash = rest.lastIndex(of: "-") {
                return (epoch, String(rest[..<dash]), String(rest[rest.index(after: dash)...]))
            }
            return (epoch, String(rest), "")
        }
        let (l, r) = (parts(lhs), parts(rhs))
        if l.epoch != r.epoch { return l.epoch < r.epoch ? -1 : 1 }
        let upstream = self.compareDebianFragment(l.upstream, r.upstream)
        return upstream != 0 ? upstream : self.compareDebianFragment(l.revision, r.revision)
    }

    private static func order(_ character: Character?) -> Int {
        guard let character else { return 0 }
        if character == "~" { return -1 }
        if character.isLetter { return Int(character.asciiValue ?? 0) }
        return Int(character.asciiValue ?? 0) + 256
    }

    private static func compareDebianFragment(_ lhs: String, _ rhs: String) -> Int {
        var a = Array(lhs)[...]
        var b = Array(rhs)[...]
        while !a.isEmpty || !b.isEmpty {
            // Non-digit prefix.
            while (a.first.map { !$0.isNumber } ?? false) || (b.first.map { !$0.isNumber } ?? false) {
                let x = a.first.flatMap { $0.isNumber ? nil : $0 }
                let y = b.first.flatMap { $0.isNumber ? nil : $0 }
                let (ox, oy) = (self.order(x), self.order(y))
                if ox != oy { return ox < oy ? -1 : 1 }
                if x != nil { a.removeFirst() }
                if y != nil { b.removeFirst() }
            }
            // Digit run.
            var x = 0
            var y = 0
            while let digit = a.first, let value = digit.wholeNumberValue, digit.isASCII {
                x = x &* 10 &+ value
                a.removeFirst()
            }
            while let digit = b.first, let value = digit.wholeNumberValue, digit.isASCII {
                y = y &* 10 &+ value
                b.removeFirst()
            }
            if x != y { return x < y ? -1 : 1 }
        }
        return 0
    }
}
