import Foundation
import SaMDTestSupport
import Testing

@testable import SaMDEnvelope

/// The standard library's NFC (``CanonicalNormalization``, what a device links) against Foundation's
/// (`precomposedStringWithCanonicalMapping`, ICU, what the store used before): the same bytes except in the
/// two classes KeyStoreFormat.md documents ("Unicode normalisation").
@Suite("Canonical normalisation (NFC) without Foundation")
struct CanonicalNormalizationTests {
    static func foundationNFC(_ value: String) -> [UInt8] {
        Array(value.precomposedStringWithCanonicalMapping.utf8)
    }

    static func string(_ scalars: [UInt32]) -> String {
        var value = ""
        for scalar in scalars { value.unicodeScalars.append(Unicode.Scalar(scalar)!) }
        return value
    }

    /// A difference is documented when the input holds a character assigned in Unicode 16.0 or later (that
    /// Foundation's tables do not compose or reorder), a character outside the Basic Multilingual Plane (that
    /// Foundation composed as if it were the BMP character of its low 16 bits), or one of Foundation's two Hangul
    /// slips: a precomposed LV syllable followed by a trailing jamo (U+11A8…U+11C2), which it leaves apart, and a
    /// leading jamo (U+1100…U+1112) followed by U+1176, which it composes into a syllable.
    static func isDocumentedDifference(_ value: String) -> Bool {
        let scalars = value.unicodeScalars.map(\.value)
        let hangul = zip(scalars, scalars.dropFirst()).contains { first, second in
            (Self.isLVSyllable(first) && (0x11A8...0x11C2).contains(second))
                || ((0x1100...0x1112).contains(first) && second == 0x1176)
        }
        return hangul
            || value.unicodeScalars.contains { scalar in
                scalar.value > 0xFFFF || (scalar.properties.age.map { $0.major >= 16 } ?? true)
            }
    }

    /// A precomposed Hangul syllable of a leading and a vowel jamo only (no trailing jamo).
    static func isLVSyllable(_ value: UInt32) -> Bool {
        (0xAC00...0xD7A3).contains(value) && (value - 0xAC00) % 28 == 0
    }

    @Test func conformanceCasesInTheStyleOfNormalizationTest() {
        // (source, NFC) — the kinds of lines Unicode's NormalizationTest.txt holds: composition, canonical
        // ordering of marks, Hangul syllables, singletons, composition exclusions, blocked compositions.
        let cases: [(String, String)] = [
            ("e\u{301}", "\u{E9}"),
            ("\u{E9}", "\u{E9}"),
            ("a\u{323}\u{302}", "\u{1EAD}"),
            ("a\u{302}\u{323}", "\u{1EAD}"),
            ("\u{1E0A}\u{323}", "\u{1E0C}\u{307}"),
            ("\u{1100}\u{1161}\u{11A8}", "\u{AC01}"),
            ("\u{AC00}\u{11A8}", "\u{AC01}"),
            ("\u{212B}", "\u{C5}"),
            ("\u{2126}", "\u{3A9}"),
            ("\u{958}", "\u{915}\u{93C}"), // a composition exclusion stays decomposed
            ("\u{FB2C}", "\u{5E9}\u{5BC}\u{5C1}"), // U+FB49 is a composition exclusion too
            ("a\u{301}\u{301}", "\u{E1}\u{301}"),
            ("\u{3B1}\u{313}\u{301}", "\u{1F04}"),
            ("\u{FF76}\u{FF9E}", "\u{FF76}\u{FF9E}"), // compatibility only: NFC keeps it
            ("\u{304B}\u{3099}", "\u{304C}"),
            ("\u{1D15E}", "\u{1D157}\u{1D165}"), // excluded from composition
            ("Ǆ", "Ǆ"),
        ]
        for (source, expected) in cases {
            #expect(CanonicalNormalization.nfc(source).unicodeScalars.elementsEqual(expected.unicodeScalars))
            #expect(CanonicalNormalization.nfcUTF8(source) == Array(expected.utf8))
            // Foundation agrees except for its documented Hangul slip (an LV syllable and a trailing jamo).
            let foundationAgrees = Self.foundationNFC(source) == Array(expected.utf8)
            #expect(foundationAgrees == (source.unicodeScalars.map(\.value) != [0xAC00, 0x11A8]))
        }
    }

    @Test func sharedRecordsIdsAndTheirTextNormaliseAsFoundationDoes() throws {
        var strings: Set<String> = []
        for (name, bytes) in try Fixtures.records() {
            strings.insert(name)
            strings.insert(String(name.split(separator: "/").last!))
            // Every string of the JSON records (names in several scripts, ids, narratives).
            guard name.hasSuffix(".json") || name.hasSuffix(".ndjson") else { continue }
            for line in (name.hasSuffix(".ndjson") ? bytes.split(separator: 0x0A).map(Array.init) : [bytes]) {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line)) else { continue }
                Self.collectStrings(object, into: &strings)
            }
        }
        #expect(strings.count > 1_000)
        #expect(strings.contains { $0.unicodeScalars.contains { $0.value > 0x7F } }, "no non-ASCII text found")
        for value in strings {
            #expect(CanonicalNormalization.nfcUTF8(value) == Self.foundationNFC(value))
        }
    }

    static func collectStrings(_ object: Any, into strings: inout Set<String>) {
        switch object {
        case let text as String: strings.insert(text)
        case let array as [Any]: for element in array { collectStrings(element, into: &strings) }
        case let dictionary as [String: Any]:
            for (key, value) in dictionary {
                strings.insert(key)
                collectStrings(value, into: &strings)
            }
        default: break
        }
    }

    @Test func unicodeTestStrings() {
        let strings = [
            "José", "Jose\u{301}", "Zoë", "Ångström", "A\u{30A}ngstro\u{308}m", "Nguyễn Văn Ánh",
            "Nguye\u{302}\u{303}n", "Müller-Lüdenscheidt", "Ærøskøbing", "Łódź", "İstanbul", "straße",
            "王秀英", "김민준", "\u{1100}\u{1161}\u{11AB}", "なかむら", "ガ", "カ\u{3099}", "مريم", "דָּוִד", "Δημήτρης",
            "ΐ", "\u{3B9}\u{308}\u{301}", "देवनागरी", "क़", "ক্ষ", "ଡ଼", "தமிழ்", "ไทย", "ཀྵ", "😀👩🏽‍⚕️",
            "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "MRN-000123", "urn:oid:1.2.36.146.595.217.0.1", "a\u{0}b", "\u{FEFF}x", "x\u{200D}y",
        ]
        for value in strings {
            #expect(CanonicalNormalization.nfcUTF8(value) == Self.foundationNFC(value), "\(value.debugDescription)")
            #expect(CanonicalNormalization.nfc(value) == value) // canonically equivalent, as Swift compares
        }
    }

    /// Every scalar alone, and each base character with each mark it may compose or reorder with: the same as
    /// Foundation's, or a documented difference.
    @Test func everyScalarAndBaseMarkPairAgreeWithFoundationOrIsDocumented() {
        var differences: [String] = []
        var compared = 0
        var marks: Set<UInt32> = Set(0x1161...0x11C2)
        var bases: Set<UInt32> = Set(0x1100...0x1112).union(0xAC00...0xAC1B)
        for value in UInt32(0)...0x10FFFF {
            guard let scalar = Unicode.Scalar(value) else { continue }
            let single = String(Character(scalar))
            compared += 1
            if CanonicalNormalization.nfcUTF8(single) != Self.foundationNFC(single) {
                differences.append(single)
            }
            if scalar.properties.canonicalCombiningClass.rawValue != 0 { marks.insert(value) }
            let decomposition = single.decomposedStringWithCanonicalMapping.unicodeScalars.map(\.value)
            if decomposition.count >= 2 {
                bases.insert(decomposition[0])
                marks.formUnion(decomposition.dropFirst())
            }
        }
        // A BMP base's twin in the Supplementary Multilingual Plane (the same low 16 bits): what Foundation confused.
        bases.formUnion(bases.filter { $0 <= 0xFFFF }.map { $0 | 0x10000 }.filter { Unicode.Scalar($0) != nil })
        #expect(compared == 1_112_064)
        for base in bases {
            for mark in marks {
                let pair = Self.string([base, mark])
                compared += 1
                if CanonicalNormalization.nfcUTF8(pair) != Self.foundationNFC(pair) { differences.append(pair) }
            }
        }
        #expect(compared > 1_500_000)
        // Measured with Swift 6.3.1 on Linux (KeyStoreFormat.md): 357 with a Unicode 16 character, 540 with a
        // supplementary base, 27 an LV syllable and a trailing jamo, 19 a leading jamo and U+1176. Another
        // toolchain that changes them fails here, so that the change is read, not silent.
        #expect(differences.count == 943, "\(differences.count) differences")
        let undocumented = differences.filter { !Self.isDocumentedDifference($0) }
        #expect(
            undocumented.isEmpty,
            "NFC differs from Foundation's outside the documented classes: \(undocumented.prefix(20).map { $0.unicodeScalars.map { String($0.value, radix: 16) } })"
        )
    }

    /// Hangul as people type it agrees: every leading, vowel and trailing jamo sequence (decomposed, as macOS
    /// file names give it) and every precomposed syllable; every LV syllable followed by a trailing jamo differs,
    /// as documented.
    @Test func hangulJamoSequencesAgreeAndLVPlusTrailingJamoIsTheDocumentedSlip() {
        var agreeing = 0
        for lead in UInt32(0x1100)...0x1112 {
            for vowel in UInt32(0x1161)...0x1175 {
                for trail in [nil] + Array(UInt32(0x11A8)...0x11C2) {
                    let value = Self.string([lead, vowel] + (trail.map { [$0] } ?? []))
                    if CanonicalNormalization.nfcUTF8(value) == Self.foundationNFC(value) { agreeing += 1 }
                }
            }
        }
        #expect(agreeing == 19 * 21 * 28)
        var differing = 0
        for syllable in stride(from: UInt32(0xAC00), through: 0xD7A3, by: 28) {
            for trail in UInt32(0x11A8)...0x11C2 {
                let value = Self.string([syllable, trail])
                #expect(Self.isDocumentedDifference(value))
                if CanonicalNormalization.nfcUTF8(value) != Self.foundationNFC(value) { differing += 1 }
                #expect(CanonicalNormalization.nfc(value).unicodeScalars.map(\.value) == [syllable + trail - 0x11A7])
            }
        }
        #expect(differing == 399 * 27)
        #expect(CanonicalNormalization.nfcUTF8("김민준") == Self.foundationNFC("김민준"))
    }

    /// The documented differences, pinned: the standard library composes Unicode 16 characters and keeps a
    /// supplementary character that Foundation turned into another one.
    @Test func documentedDifferences() {
        // Kawi U+11F00 and a combining acute: nothing composes; Foundation gave U+1F04 (GREEK SMALL LETTER ALPHA
        // WITH PSILI AND OXIA), a different character of the same low 16 bits composed.
        #expect(
            CanonicalNormalization.nfc(Self.string([0x11F00, 0x301])).unicodeScalars.map(\.value) == [0x11F00, 0x301])
        // Kirat Rai (Unicode 16.0) U+16D69 U+16D67 compose to U+16D6A.
        #expect(CanonicalNormalization.nfc(Self.string([0x16D69, 0x16D67])).unicodeScalars.map(\.value) == [0x16D6A])
        // Tulu-Tigalari (Unicode 16.0) U+11384 U+113BB compose to U+11385.
        #expect(CanonicalNormalization.nfc(Self.string([0x11384, 0x113BB])).unicodeScalars.map(\.value) == [0x11385])
        // Hangul, UAX #15 §3.12: an LV syllable and a trailing jamo compose (Foundation left U+AC00 U+11A8 apart);
        // a leading jamo and U+1176 (an old vowel outside the composing range U+1161…U+1175) do not (Foundation
        // made U+AE4C, another syllable, of U+1100 U+1176).
        #expect(CanonicalNormalization.nfc(Self.string([0xAC00, 0x11A8])).unicodeScalars.map(\.value) == [0xAC01])
        #expect(Self.foundationNFC(Self.string([0xAC00, 0x11A8])) == Array(Self.string([0xAC00, 0x11A8]).utf8))
        #expect(
            CanonicalNormalization.nfc(Self.string([0x1100, 0x1176])).unicodeScalars.map(\.value) == [0x1100, 0x1176])
        #expect(Self.foundationNFC(Self.string([0x1100, 0x1176])) == Array("\u{AE4C}".utf8))
        #expect(Self.isDocumentedDifference(Self.string([0x11F00, 0x301])))
        #expect(Self.isDocumentedDifference(Self.string([0xAC00, 0x11A8])))
        #expect(!Self.isDocumentedDifference(Self.string([0xAC01, 0x11A8])))
        #expect(!Self.isDocumentedDifference("Jose\u{301}"))
    }
}

@Suite("Record address")
struct RecordAddressTests {
    @Test func identifierRule() {
        for valid in ["a", "MRN-1", "José", "Jose\u{301}", "...", "a.b", String(repeating: "x", count: 512), "王"] {
            #expect(RecordAddress.isValidIdentifier(valid), "\(valid.prefix(20))")
        }
        // 600 bytes decomposed, 400 composed: the rule counts after NFC.
        #expect(RecordAddress.isValidIdentifier(String(repeating: "e\u{301}", count: 200)))
        for invalid in ["", ".", "..", "a\nb", "a\u{7F}", "a\u{85}", "\u{0}", String(repeating: "x", count: 513)] {
            #expect(!RecordAddress.isValidIdentifier(invalid), "\(invalid.debugDescription.prefix(20))")
        }
    }

    @Test func recordTypeRule() {
        for valid in ["a/b", "application/fhir+json", "x-application/hl7-v2+er7", "application/dicom"] {
            #expect(RecordAddress.isValidRecordType(valid))
        }
        for invalid in [
            "", "a", "a/", "/b", "a/b/c", "text/plain; charset=utf-8", "-a/b", "a/b c", "é/b",
            "a/" + String(repeating: "b", count: 126),
        ] {
            #expect(!RecordAddress.isValidRecordType(invalid), "\(invalid.prefix(20))")
        }
    }

    @Test func encryptionContextIsTheStoresContext() throws {
        let address = try RecordAddress(subject: "Jose\u{301}", recordID: "obs-1", recordType: "application/fhir+json")
        let context = try address.encryptionContext()
        let expected = try EncryptionContext([
            ("subject", "José"), ("record", "obs-1"), ("type", "application/fhir+json"),
        ])
        #expect(context.canonicalBytes == expected.canonicalBytes)
        #expect(RecordAddress.maximumByteCount == 980)
    }

    @Test func refusedAddressesNameThePartNotTheValue() throws {
        let cases: [(String, String, String, String)] = [
            ("..", "r", "a/b", "subject id"),
            ("s", "a\nb", "a/b", "record id"),
            ("s", "r", "text/plain; q=1", "record type"),
            (String(repeating: "s", count: 500), String(repeating: "r", count: 480), "a/b", "together"),
        ]
        for (subject, record, type, part) in cases {
            let error = #expect(throws: EnvelopeError.self) {
                try RecordAddress(subject: subject, recordID: record, recordType: type)
            }
            #expect(error?.code == .invalidContext)
            #expect(error?.reason.contains(part) == true)
            #expect(error?.reason.contains(String(repeating: "s", count: 20)) == false)
        }
        // The longest address that fits makes a context.
        let longest = try RecordAddress(
            subject: String(repeating: "s", count: 500), recordID: String(repeating: "r", count: 477), recordType: "a/b"
        )
        _ = try longest.encryptionContext()
    }
}
