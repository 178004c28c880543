/// Unicode Normalization Form C (canonical decomposition, then canonical composition), as the encryption
/// context, the record address and the key store's blind indexes apply it to ids: one patient id typed
/// composed or decomposed is one id.
///
/// Computed by the Swift standard library's own normalizer (its Unicode data, 17.0 in Swift 6.3), not by
/// Foundation (`precomposedStringWithCanonicalMapping`, ICU): a device links no ICU. Both give the same bytes
/// for every string except those holding a character assigned in Unicode 16.0 or later that composes or
/// reorders, a character outside the Basic Multilingual Plane followed by a combining mark it could compose
/// with (Foundation on Linux composed U+11F00 U+0301 into U+1F04, another character), or one of two Hangul
/// sequences Foundation composed wrongly (an LV syllable and a trailing jamo, U+AC00 U+11A8, is U+AC01; a leading
/// jamo and U+1176 stay apart). The comparison and what it means for stored data: the key store's format
/// (`KeyStoreFormat.md`, "Unicode normalisation").
/// - SeeAlso: Unicode Standard Annex #15 (Unicode Normalization Forms)
public enum CanonicalNormalization {
    /// `value` in NFC.
    public static func nfc(_ value: String) -> String {
        // ASCII is its own NFC: no copy.
        if value.utf8.allSatisfy({ $0 < 0x80 }) { return value }
        return String(decoding: value._nfcCodeUnits, as: UTF8.self)
    }

    /// The UTF-8 bytes of `value` in NFC.
    public static func nfcUTF8(_ value: String) -> [UInt8] {
        if value.utf8.allSatisfy({ $0 < 0x80 }) { return Array(value.utf8) }
        return value._nfcCodeUnits
    }
}
