// What the PKCS#11 layer (SaMDOpenSSLSupport, below this module) needs from SaMDCrypto: PINs and decrypted keys
// in guarded memory, and its errors in SaMDKit's error shape.

public import SaMDOpenSSLSupport

extension SecureBytes: PKCS11SecretBytes {}

extension PKCS11Error: CodedError {}
