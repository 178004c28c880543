// The one helper every example program prints untrusted text through, and the log handler built on it.

import Logging
import SaMDExampleSupport
import SaMDTestSupport
import Testing

@Suite("Output escaping")
struct OutputEscapingTests {
    @Test func controlSeparatorAndBidiCharactersAreEscapedAndNothingElse() {
        let cases: [(String, String)] = [
            ("plain name.json", "plain name.json"),
            ("a\nb", "a\\nb"),
            ("a\r\nb", "a\\r\\nb"),
            ("tab\there", "tab\\there"),
            ("\u{0}\u{7}\u{1B}[2J", "\\u{0}\\u{7}\\u{1B}[2J"),
            ("del\u{7F} c1\u{85}\u{9B}", "del\\u{7F} c1\\u{85}\\u{9B}"),
            ("line\u{2028}para\u{2029}", "line\\u{2028}para\\u{2029}"),
            ("evil\u{202E}txt.exe", "evil\\u{202E}txt.exe"),
            ("\u{2066}\u{2069}\u{200E}\u{200F}\u{061C}", "\\u{2066}\\u{2069}\\u{200E}\\u{200F}\\u{61C}"),
            ("Zoë 日本 \\n", "Zoë 日本 \\n"),
        ]
        for (input, expected) in cases {
            #expect(escapingControlCharacters(input) == expected, "\(input.debugDescription)")
            // Idempotent: escaping what is already escaped changes nothing.
            #expect(escapingControlCharacters(escapingControlCharacters(input)) == expected)
        }
    }

    @Test func theLogHandlerEscapesMessagesAndEveryMetadataValue() {
        let recorder = RecordingLogHandler()
        var logger = Logger(label: "test") { _ in EscapingLogHandler(recorder) }
        logger[metadataKey: "own"] = "x\ny"
        logger.notice(
            "peer \("evil\r\nsamd.gateway.record-stored")",
            metadata: [
                "peer": "a\nb", "list": ["c\rd"], "nested": ["k": "e\u{1B}f"], "convertible": .stringConvertible(42),
            ]
        )
        let record = recorder.records.last
        #expect(record?.message == "peer evil\\r\\nsamd.gateway.record-stored")
        #expect(record?.metadata["peer"] == "a\\nb")
        #expect(
            record?.metadata["list"]?.contains("c") == true && record?.metadata["nested"]?.contains("u{1B}f") == true)
        #expect(record?.metadata["convertible"] == "42")
        #expect(recorder.metadata["own"] == "x\\ny")
        #expect(!recorder.allText.unicodeScalars.contains { $0 == "\r" || $0 == "\u{1B}" })
    }
}
