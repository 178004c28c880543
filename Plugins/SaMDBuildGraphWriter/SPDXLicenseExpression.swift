/// The SPDX licence expression grammar (SPDX 2.3 Annex D): `expr = term *( ("AND" / "OR") term )`,
/// `term = simple [ "WITH" exception ] / "(" expr ")"`, `simple = id [ "+" ] / LicenseRef / DocumentRef:LicenseRef`,
/// with every licence identifier on the SPDX License List (`spdxLicenseIdentifiers`) and every exception among its
/// exceptions (`spdxExceptionIdentifiers`), in exact case.
enum SPDXLicenseExpression {
    static func validate(_ text: String) throws {
        var tokens: [String] = []
        var word = ""
        for character in text {
            if character == "(" || character == ")" || character == " " {
                if !word.isEmpty { tokens.append(word) }
                word = ""
                if character != " " { tokens.append(String(character)) }
            } else {
                word.append(character)
            }
        }
        if !word.isEmpty { tokens.append(word) }
        var parser = Parser(tokens: tokens)
        try parser.expression(depth: 0)
        guard parser.position == tokens.count else {
            throw WriterFailure(
                "\"\(escaped(text))\" is not an SPDX licence expression (unexpected "
                    + "\"\(escaped(tokens[parser.position]))\")")
        }
    }

    private struct Parser {
        let tokens: [String]
        var position = 0

        mutating func expression(depth: Int) throws {
            guard depth < 32 else { throw WriterFailure("an SPDX licence expression nested more than 32 deep") }
            try self.term(depth: depth)
            while let next = self.peek, next == "AND" || next == "OR" {
                self.position += 1
                try self.term(depth: depth)
            }
        }

        mutating func term(depth: Int) throws {
            guard let token = self.next() else { throw WriterFailure("an SPDX licence expression ends too early") }
            if token == "(" {
                try self.expression(depth: depth + 1)
                guard self.next() == ")" else { throw WriterFailure("an SPDX licence expression misses a \")\"") }
                return
            }
            try Self.licence(token)
            if self.peek == "WITH" {
                self.position += 1
                guard let exception = self.next(), spdxExceptionIdentifiers.contains(exception) else {
                    throw WriterFailure("WITH must be followed by an exception of the SPDX License List")
                }
            }
        }

        static func licence(_ token: String) throws {
            let reference = token.split(separator: ":", maxSplits: 1)
            if reference.count == 2, reference[0].hasPrefix("DocumentRef-"), Self.isReference(reference[1]) { return }
            if Self.isReference(Substring(token)) { return }
            let identifier = token.hasSuffix("+") ? String(token.dropLast()) : token
            guard spdxLicenseIdentifiers.contains(identifier) else {
                let known = spdxLicenseIdentifiers.first { $0.lowercased() == identifier.lowercased() }
                throw WriterFailure(
                    "\"\(escaped(token))\" is not on the SPDX License List \(spdxLicenseListVersion)"
                        + (known.map { " (did you mean \($0)?)" } ?? "")
                        + "; a licence of your own is LicenseRef-NAME (letters, digits, \".\" and \"-\")")
            }
        }

        /// `LicenseRef-` followed by letters, digits, "." and "-" (SPDX 2.3 §10.1).
        static func isReference(_ token: Substring) -> Bool {
            guard token.hasPrefix("LicenseRef-"), token.count > "LicenseRef-".count else { return false }
            return token.dropFirst("LicenseRef-".count).allSatisfy {
                $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-")
            }
        }

        var peek: String? { self.position < self.tokens.count ? self.tokens[self.position] : nil }

        mutating func next() -> String? {
            defer { self.position += 1 }
            return self.peek
        }
    }
}
