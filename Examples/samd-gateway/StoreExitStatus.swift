import SaMDExampleSupport
import SaMDRecordService
import SaMDStore

// The store's errors, for the programs that open a store (`samd-gateway`): beside them, so that the record
// service — which the device agent links — does not link the store.
extension RecordServiceExitStatus {
    /// The exit code for a record store error while opening a store or rotating its keys: 75 conflict
    /// (another job holds the store) or the key store busy past its lock timeout, 74 storage, 69 a database
    /// that cannot be reached, 78 keys unavailable; anything else (an argument the store refused, which the program's own checks should have
    /// caught) is 70.
    static func code(forStore error: RecordStoreError) -> Int32 {
        switch error.code {
        case .conflict: ExitStatus.temporaryFailure
        case .storage: ExitStatus.ioError
        case .unavailable: ExitStatus.unavailable
        case .keyUnavailable where error.isRetryable: ExitStatus.temporaryFailure
        case .keyUnavailable: ExitStatus.configuration
        default: ExitStatus.software
        }
    }
}
