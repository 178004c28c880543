import Foundation
import SaMDCrypto
import Testing

@Suite("Lower-case hexadecimal")
struct HexadecimalTests {
    @Test func everyByteIsTwoLowerCaseDigitsAsPrintfWritesThem() {
        let all = (0...255).map { UInt8($0) }
        #expect(all.lowercaseHexadecimal == all.map { String(format: "%02x", $0) }.joined())
        #expect([UInt8]().lowercaseHexadecimal == "")
        #expect([0x0a, 0xff][...].lowercaseHexadecimal == "0aff")
    }
}
