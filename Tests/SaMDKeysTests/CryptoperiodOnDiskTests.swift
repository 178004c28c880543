import Foundation
import SaMDCrypto
import SaMDEnvelope
import SaMDKeysTestSupport
import SaMDTestSupport
import Testing

@testable import SaMDKeys

/// A cryptoperiod is a `Duration` in the API and a number of seconds in `keystore.json`, as it always was:
/// stores written before keep opening, with the same cryptoperiod.
@Suite("A cryptoperiod is kept in keystore.json as seconds")
struct CryptoperiodOnDiskTests {
    @Test(arguments: KeyStoreCustody.allCases)
    func aNewStoreKeepsTheCryptoperiodAsANumberOfSeconds(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        defer { fixture.remove() }
        _ = try fixture.create(cryptoperiod: .seconds(10 * 24 * 3600))
        let state = try Self.stateText(fixture)
        #expect(state.contains("\"cryptoperiod\" : 864000,"))
        let document = try JSONSerialization.jsonObject(with: Data(state.utf8)) as? [String: Any]
        let keys = document?["keys"] as? [[String: Any]]
        let metadata = keys?.first?["metadata"] as? [String: Any]
        #expect((metadata?["cryptoperiod"] as? NSNumber)?.doubleValue == 864_000)
        #expect(try fixture.open().list().first?.cryptoperiod == .seconds(864_000))
    }

    @Test(arguments: KeyStoreCustody.allCases)
    func aStoreWrittenWithFractionalSecondsOpensWithThatCryptoperiod(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        defer { fixture.remove() }
        _ = try fixture.create(cryptoperiod: .seconds(10 * 24 * 3600))
        // What an earlier version wrote for a cryptoperiod of 1.5 s (a TimeInterval then).
        try Self.rewriteState(fixture) {
            $0.replacingOccurrences(of: "\"cryptoperiod\" : 864000", with: "\"cryptoperiod\" : 1.5")
        }
        let store = try fixture.open()
        #expect(try store.list().first?.cryptoperiod == .milliseconds(1500))
        fixture.clock.advance(1)
        #expect(try store.sealingKEKIdentifier(named: "records").version == 1)
        _ = try fixture.recordKey(store)
        fixture.clock.advance(1)
        #expect(envelopeCode { try fixture.recordKey(store) } == .keyNotUsable)
    }

    @Test(arguments: KeyStoreCustody.allCases)
    func aCryptoperiodNoDurationHoldsIsRefusedAsAModifiedStore(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody)
        defer { fixture.remove() }
        _ = try fixture.create()
        try Self.rewriteState(fixture) {
            $0.replacingOccurrences(of: "\"cryptoperiod\" : 31536000", with: "\"cryptoperiod\" : 1e300")
        }
        #expect(envelopeCode { try fixture.open() } == .keyStore)
    }

    /// The authenticated state inside the fixture's `keystore.json`, as text.
    static func stateText(_ fixture: StoreFixture) throws -> String {
        let document = try Self.document(fixture)
        return String(decoding: document.stateBytes, as: UTF8.self)
    }

    /// The fixture's `keystore.json`, parsed.
    static func document(_ fixture: StoreFixture) throws -> StoreDocument {
        let path = fixture.directory + "/keystore.json"
        return try StoreDocument.parse(try StoreFile.read(path, limit: StoreFormat.storeFileLimit), location: path)
    }

    /// Rewrites the state's text and authenticates it again through the fixture's custody (under its passphrase,
    /// or in its token), as a store written so would be.
    static func rewriteState(_ fixture: StoreFixture, _ change: (String) -> String) throws {
        let path = fixture.directory + "/keystore.json"
        let document = try Self.document(fixture)
        let state = Array(change(try Self.stateText(fixture)).utf8)
        #expect(state != Array(try Self.stateText(fixture).utf8))
        let custody = try fixture.custodian.reopenCustody(document.custody)
        let mac = try custody.authenticationCode(
            for: StoreFormat.macInputV2(custody: document.custody, state: state, format: StoreFormat.format))
        let rewritten = StoreFormat.EnvelopeV2(
            format: StoreFormat.format, custody: try StoreFormat.custody(document.custody),
            state: Data(state).base64EncodedString(), mac: Data(mac).base64EncodedString())
        try StoreFile.writeAtomically(Array(try StoreFormat.encoder.encode(rewritten)), to: path)
    }
}
