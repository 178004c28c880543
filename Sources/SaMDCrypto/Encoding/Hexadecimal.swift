extension Sequence<UInt8> {
    /// The bytes as lower-case hexadecimal, two digits each (`[0x0a, 0xff]` → `"0aff"`): blind names, digests and
    /// token object ids as SaMDKit's formats write them. One table lookup per digit — not a formatted string per
    /// byte, which cost the records gateway about 5 % of its CPU in a subject's blind name alone.
    package var lowercaseHexadecimal: String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(self.underestimatedCount * 2)
        for byte in self {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
