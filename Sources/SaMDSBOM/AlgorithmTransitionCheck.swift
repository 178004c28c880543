import Foundation
import SaMDCrypto

extension VulnerabilityCheck {
    /// Whether `text` is a real ISO 8601 full date, `YYYY-MM-DD` — the shape of every `day` this check takes. The
    /// parse must print back to the same text, so no field is rolled over (2028-13-45 and 2027-02-29 are refused).
    public static func isDay(_ text: String) -> Bool {
        guard text.utf8.count == 10,
            text.range(of: #"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"#, options: .regularExpression) != nil
        else { return false }
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.formatOptions = [.withFullDate]
        guard let date = formatter.date(from: text) else { return false }
        return formatter.string(from: date) == text
    }

    /// One finding per enabled algorithm asset past a NIST transition date on `day` (`YYYY-MM-DD`, UTC):
    /// ``SBOMFinding/Kind/algorithmDisallowed`` after its disallowance date, else
    /// ``SBOMFinding/Kind/algorithmDeprecated`` after its deprecation date.
    ///
    /// Enabled means in the CBOM of the active profile (`CryptographicAsset.assets(for:)` lists only those). An
    /// asset marked `samd:optIn` counts too, with its setting named: the product can turn it on. Assets the
    /// table has not classified (protocols) and assets with no transition scheduled give no finding.
    static func transitionFindings(for inventory: SBOMInventory, on day: String) -> [SBOMFinding] {
        inventory.cryptographicAssets.compactMap { asset in
            guard let transition = asset.transition, transition.rule != nil else { return nil }
            let kind: SBOMFinding.Kind
            switch transition.status(on: day) {
            case .acceptable: return nil
            case .deprecated: kind = .algorithmDeprecated
            case .disallowed: kind = .algorithmDisallowed
            }
            let optIn =
                asset.properties["samd:optIn"] == "true"
                ? ", opt-in (\(asset.properties["samd:optIn:setting"] ?? "a setting"))" : ""
            return SBOMFinding(
                kind: kind, component: asset.reference, componentVersion: asset.name, advisory: nil, aliases: [],
                fixedIn: nil,
                detail: "\(Self.strength(of: asset)); \(transition.dates) — \(transition.source ?? "?"); "
                    + "enabled in the \(inventory.runtime.profile.rawValue) profile\(optIn); checked on \(day)"
            )
        }
    }

    /// "RSA-2048 peer keys accepted (112-bit security)", "secp256r1 (128-bit security)", "128-bit security".
    private static func strength(of asset: CryptographicAsset) -> String {
        let level = asset.classicalSecurityLevel.map { "\($0)-bit security" } ?? "security level not stated"
        if let bits = asset.properties["samd:tls:minimumPeerKeyBits"] {
            return "RSA-\(bits) peer keys accepted (\(level))"
        }
        if let curve = asset.curve { return "\(curve) (\(level))" }
        return level
    }
}
