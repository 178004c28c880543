/// The forms of the CVSS vector strings an OSV `severity[]` entry may give, checked against their type before a
/// vector is handed on as a rating.
/// - SeeAlso: CVSS v2 Complete Guide §2.4 (vector, Table 13); CVSS v3.1 Specification §6 (vector string,
///   Table 15; v3.0 the same metrics); CVSS v4.0 Specification §7 (vector string, Table 23)
enum CVSSVector {
    /// One version's metrics: the allowed values of each, and the metrics a vector must have (the base metrics).
    struct Grammar {
        var prefix: String
        var values: [String: Set<String>]
        var required: [String]
    }

    /// CVSS 2.0: no prefix; base AV AC Au C I A, temporal E RL RC, environmental CDP TD CR IR AR.
    static let v2 = Grammar(
        prefix: "",
        values: [
            "AV": ["L", "A", "N"], "AC": ["H", "M", "L"], "Au": ["M", "S", "N"], "C": ["N", "P", "C"],
            "I": ["N", "P", "C"], "A": ["N", "P", "C"], "E": ["U", "POC", "F", "H", "ND"],
            "RL": ["OF", "TF", "W", "U", "ND"], "RC": ["UC", "UR", "C", "ND"],
            "CDP": ["N", "L", "LM", "MH", "H", "ND"], "TD": ["N", "L", "M", "H", "ND"], "CR": ["L", "M", "H", "ND"],
            "IR": ["L", "M", "H", "ND"], "AR": ["L", "M", "H", "ND"],
        ],
        required: ["AV", "AC", "Au", "C", "I", "A"])

    /// CVSS 3.0 and 3.1 (`CVSS:3.x/`): base AV AC PR UI S C I A, temporal E RL RC, environmental CR IR AR and the
    /// modified base metrics.
    static func v3(_ minor: String) -> Grammar {
        let impact: Set<String> = ["H", "L", "N"]
        let requirement: Set<String> = ["X", "H", "M", "L"]
        return Grammar(
            prefix: "CVSS:3.\(minor)/",
            values: [
                "AV": ["N", "A", "L", "P"], "AC": ["L", "H"], "PR": ["N", "L", "H"], "UI": ["N", "R"],
                "S": ["U", "C"], "C": impact, "I": impact, "A": impact, "E": ["X", "H", "F", "P", "U"],
                "RL": ["X", "U", "W", "T", "O"], "RC": ["X", "C", "R", "U"], "CR": requirement, "IR": requirement,
                "AR": requirement, "MAV": ["X", "N", "A", "L", "P"], "MAC": ["X", "L", "H"],
                "MPR": ["X", "N", "L", "H"], "MUI": ["X", "N", "R"], "MS": ["X", "U", "C"], "MC": impact.union(["X"]),
                "MI": impact.union(["X"]), "MA": impact.union(["X"]),
            ],
            required: ["AV", "AC", "PR", "UI", "S", "C", "I", "A"])
    }

    /// CVSS 4.0 (`CVSS:4.0/`): base AV AC AT PR UI VC VI VA SC SI SA, threat E, environmental, supplemental.
    static let v4: Grammar = {
        let impact: Set<String> = ["H", "L", "N"]
        let modified = impact.union(["X"])
        let requirement: Set<String> = ["X", "H", "M", "L"]
        return Grammar(
            prefix: "CVSS:4.0/",
            values: [
                "AV": ["N", "A", "L", "P"], "AC": ["L", "H"], "AT": ["N", "P"], "PR": ["N", "L", "H"],
                "UI": ["N", "P", "A"], "VC": impact, "VI": impact, "VA": impact, "SC": impact, "SI": impact,
                "SA": impact, "E": ["X", "A", "P", "U"], "CR": requirement, "IR": requirement, "AR": requirement,
                "MAV": ["X", "N", "A", "L", "P"], "MAC": ["X", "L", "H"], "MAT": ["X", "N", "P"],
                "MPR": ["X", "N", "L", "H"], "MUI": ["X", "N", "P", "A"], "MVC": modified, "MVI": modified,
                "MVA": modified, "MSC": modified, "MSI": modified.union(["S"]), "MSA": modified.union(["S"]),
                "S": ["X", "N", "P"], "AU": ["X", "N", "Y"], "R": ["X", "A", "U", "I"], "V": ["X", "D", "C"],
                "RE": ["X", "L", "M", "H"], "U": ["X", "Clear", "Green", "Amber", "Red"],
            ],
            required: ["AV", "AC", "AT", "PR", "UI", "VC", "VI", "VA", "SC", "SI", "SA"])
    }()

    /// Whether `vector` is `grammar.prefix` followed by `/`-separated `metric:value` pairs: each metric known,
    /// given once, with one of its values, and every required metric present. The specifications list the
    /// metrics in a fixed order; other orders are taken, as v3.1 §6 allows.
    static func isValid(_ vector: String, _ grammar: Grammar) -> Bool {
        guard vector.hasPrefix(grammar.prefix) else { return false }
        var seen: Set<String> = []
        for pair in vector.dropFirst(grammar.prefix.count).split(separator: "/", omittingEmptySubsequences: false) {
            let parts = pair.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, let allowed = grammar.values[String(parts[0])],
                allowed.contains(String(parts[1])), seen.insert(String(parts[0])).inserted
            else { return false }
        }
        return grammar.required.allSatisfy(seen.contains)
    }
}
