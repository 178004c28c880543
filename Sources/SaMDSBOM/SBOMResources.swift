public import Foundation

/// The dated data files shipped with SaMDSBOM.
public enum SBOMResources {
    /// `advisories.json`: curated OSV advisories for OpenSSL 3.0 and libsodium 1.0.18 (see its `as_of`).
    public static var advisories: URL? { Bundle.module.url(forResource: "advisories", withExtension: "json") }
    /// `vex.json`: SaMDKit's own OpenVEX statements.
    public static var vex: URL? { Bundle.module.url(forResource: "vex", withExtension: "json") }
    /// `support.json`: the support table (level and end of support per component, with `as_of` and sources).
    public static var supportTable: URL? { Bundle.module.url(forResource: "support", withExtension: "json") }
    /// `transitions.json`: NIST transition dates per algorithm family and security strength (with `as_of` and
    /// sources: SP 800-131A Rev. 2, the Rev. 3 draft, IR 8547 ipd Tables 2 and 4), applied to the CBOM by rule.
    public static var transitionTable: URL? { Bundle.module.url(forResource: "transitions", withExtension: "json") }
}
