import Foundation
import SaMDCrypto
import Testing

/// A Wycheproof vector file (C2SP/wycheproof, testvectors_v1), decoded lazily per schema.
struct WycheproofFile<Group: Decodable>: Decodable {
    let algorithm: String
    let numberOfTests: Int
    let testGroups: [Group]

    static func load(_ name: String) throws -> Self {
        let url = try #require(
            Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "wycheproof"),
            "missing test resource wycheproof/\(name).json"
        )
        return try JSONDecoder().decode(Self.self, from: Data(contentsOf: url))
    }
}

enum WycheproofResult: String, Decodable {
    case valid, invalid, acceptable
}

/// Counts what happened to the vectors of one file, and prints it, so the run shows how
/// many vectors each file contributed and how each was judged.
struct WycheproofTally: CustomStringConvertible {
    let file: String
    var validPassed = 0
    var invalidRefused = 0
    var acceptableAccepted = 0
    var acceptableRefused = 0
    /// Valid vectors outside what SaMDCrypto supports (key, nonce or tag sizes), refused explicitly.
    var refusedByPolicy = 0

    var total: Int {
        self.validPassed + self.invalidRefused + self.acceptableAccepted + self.acceptableRefused + self.refusedByPolicy
    }

    var description: String {
        "Wycheproof \(self.file).json: \(self.total) vectors ran — \(self.validPassed) valid passed, "
            + "\(self.invalidRefused) invalid refused, \(self.acceptableAccepted) acceptable accepted, "
            + "\(self.acceptableRefused) acceptable refused, \(self.refusedByPolicy) refused by policy"
    }
}

/// The error code a throwing expression threw, or nil if it returned.
func thrownCode<T>(_ body: () throws -> T) -> CryptoErrorCodeBox? {
    do {
        _ = try body()
        return nil
    } catch let error as CryptoError {
        return CryptoErrorCodeBox(code: error.code)
    } catch {
        return CryptoErrorCodeBox(code: nil)
    }
}

struct CryptoErrorCodeBox: Equatable {
    /// nil when something other than a CryptoError was thrown.
    let code: CryptoError.Code?
}
