import ArgumentParser

/// `samd-gateway`: the records gateway — HTTPS with client certificates in front of an encrypted record
/// store — and its key rotation. A thin layer over SaMDRecordService and SaMDStore.
@main
struct SamdGateway: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "samd-gateway",
        abstract: "Serve patient records over mutual TLS, and rotate the key under them.",
        discussion: """
            serve (the default) listens for HTTPS with client certificates required: PUT /records/SUBJECT/ID \
            stores, GET /records/SUBJECT/ID reads (reader role), DELETE /subjects/SUBJECT crypto-shreds \
            (shredder role), GET /healthz. rotate makes a new KEK version and rewraps every subject key, \
            resuming after a crash; it may run beside a serving gateway. See Examples/RecordGateway/SaMDRecordGateway.docc/Gateway.md.
            The key store's passphrase comes from SAMD_PASSPHRASE or --passphrase-file, never from the \
            command line.
            """
                + "\nExit codes of serve (sysexits): " + GatewayExitCodes.text(GatewayExitCodes.serve)
                + "\nExit codes of rotate: " + GatewayExitCodes.text(GatewayExitCodes.rotate),
        subcommands: [Serve.self, Rotate.self],
        defaultSubcommand: Serve.self
    )
}
