import ArgumentParser
public import Logging
public import SaMDTLS

/// Builds the program's TLS context from `configuration` (reading and validating its files); a refused
/// configuration is reported on standard error as "CODE: REASON" and ends the program with its exit code
/// (``ExitStatus/code(forSetup:)``: 66 for a file that cannot be read, 78 for an invalid configuration or
/// identity, 70 otherwise).
/// - Throws: `ExitCode` for a `TLSError`; any other error as `TLSContext.init` throws it.
public func makeContext(_ configuration: TLSConfiguration, logger: Logger) throws -> TLSContext {
    do {
        return try TLSContext(configuration: configuration, logger: logger)
    } catch let error as TLSError {
        printError("\(error.code): \(error.reason)")
        throw ExitCode(ExitStatus.code(forSetup: error))
    }
}
