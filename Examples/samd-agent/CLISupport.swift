public import ArgumentParser
import Foundation
import Logging
import SaMDCrypto
import SaMDEnvelope
import SaMDExampleSupport
import SaMDKeys
public import SaMDRecordService
import SaMDTLS

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

typealias ExitStatus = RecordServiceExitStatus

extension RecordServiceEndpoint: ExpressibleByArgument {
    public init?(argument: String) {
        self.init(parsing: argument)
    }
}

/// A failure in words, with its code when it is a TLS error: `certificateRequired (from the peer, alert 116): …`.
func describe(_ error: any Error) -> String {
    guard let error = error as? TLSError else { return "\(error)" }
    var text = "\(error.code)"
    text += error.origin == .peer ? " (from the peer" : " (local"
    if let alert = error.alert { text += ", alert \(alert)" }
    return text + "): \(error.reason)"
}
