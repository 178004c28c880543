import Foundation
import Testing

@testable import SaMDSBOM

/// SPDX ids are derived from component references by replacing every character SPDX does not allow with `-`, so two
/// references can spell one id; each must still be unique in the document (SPDX 2.3 §7.2).
@Suite("SPDX identifiers")
struct SPDXIdentifierTests {
    @Test func referencesThatSpellTheSameIdGetDistinctIds() {
        let references = ["so:/opt/a/b-c.so", "so:/opt/a/b/c.so", "so:/opt/a/b:c.so", "openssl", "so:/opt/a/b-c.so"]
        let ids = SPDXWriter.identifiers(for: references)
        #expect(ids["so:/opt/a/b-c.so"] == "SPDXRef-so--opt-a-b-c.so")
        #expect(ids["so:/opt/a/b/c.so"] == "SPDXRef-so--opt-a-b-c.so-2")
        #expect(ids["so:/opt/a/b:c.so"] == "SPDXRef-so--opt-a-b-c.so-3")
        #expect(ids["openssl"] == "SPDXRef-openssl")
        #expect(Set(ids.values).count == ids.count)
    }

    @Test func theLiveDocumentHasNoIdTwice() throws {
        let document = try SBOMInventory.current().document(.spdx)
        let object = try #require(try JSONSerialization.jsonObject(with: document) as? [String: Any])
        let ids = ((object["packages"] as? [[String: Any]]) ?? []).compactMap { $0["SPDXID"] as? String }
        #expect(!ids.isEmpty && Set(ids).count == ids.count)
    }
}
