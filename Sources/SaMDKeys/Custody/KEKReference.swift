/// What a key store persists of one KEK version's material, for its ``KEKCustody`` to find it again: the
/// material wrapped under the custody's key, or the object in a token that holds it. Never the material
/// itself.
public struct KEKReference: Sendable, Hashable {
    enum Storage: Sendable, Hashable {
        case wrappedMaterial([UInt8])
        case tokenObject(label: String, id: [UInt8])
    }

    let storage: Storage

    /// The material wrapped under the custody's own key (``PassphraseCustody``: AES-KWP, RFC 5649, 40 bytes
    /// for a 32-byte KEK); kept in `keystore.json` as the key's `wrapped` (base64).
    public static func wrappedMaterial(_ bytes: [UInt8]) -> KEKReference {
        KEKReference(storage: .wrappedMaterial(bytes))
    }

    /// A secret-key object in a PKCS#11 token, found by `CKA_LABEL` (`NAME:VERSION`, e.g. `records:2`) and
    /// `CKA_ID` (PKCS#11 v3.0 §4.4). Recorded by format version 2 only
    /// (`keys[].object`: the label, and the id in lower-case hex).
    public static func tokenObject(label: String, id: [UInt8]) -> KEKReference {
        KEKReference(storage: .tokenObject(label: label, id: id))
    }

    /// The wrapped material, for a reference made by ``wrappedMaterial(_:)``; otherwise `nil`.
    public var wrappedMaterial: [UInt8]? {
        guard case .wrappedMaterial(let bytes) = self.storage else { return nil }
        return bytes
    }

    /// The token object's label and `CKA_ID`, for a reference made by ``tokenObject(label:id:)``; otherwise
    /// `nil`.
    public var tokenObject: (label: String, id: [UInt8])? {
        guard case .tokenObject(let label, let id) = self.storage else { return nil }
        return (label, id)
    }
}
