// The OpenSSL plumbing of the test PKI lives in SaMDDevPKI (Sources/SaMDDevPKI/OpenSSL/); only its error
// type keeps its test-time name here.

public import SaMDDevPKI

/// A failure of the test PKI: a ``DevelopmentPKIError`` (compare by `code`).
public typealias TestPKIError = DevelopmentPKIError
