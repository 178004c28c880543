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
            resuming after a crash; it may run beside a serving gateway. See Docs/Gateway.md.
            The key store's passphrase comes from SAMD_PASSPHRASE or --passphrase-file, never from the \
            command line.
            Exit codes (sysexits): 0 ok (serve: stopped by SIGINT or SIGTERM); 64 usage; 65 some subject keys \
            could not be rewrapped; 66 an input file cannot be read; 69 cannot listen; 74 storage failed; \
            75 another rotation job is running; 78 invalid configuration or identity, or the key store cannot \
            be opened; 70 internal error.
            """,
        subcommands: [Serve.self, Rotate.self],
        defaultSubcommand: Serve.self
    )
}
