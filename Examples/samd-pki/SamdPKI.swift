import ArgumentParser

/// `samd-pki`: writes a development PKI for demos and tests — not a production CA — and issues more device
/// and reader certificates from it. A thin layer over SaMDDevPKI's `DevelopmentPKIDirectory`.
@main
struct SamdPKI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "samd-pki",
        abstract: "A development PKI for SaMDKit demos and tests. NOT a production CA.",
        discussion: """
            init writes a root, an intermediate (kept, with its unencrypted key, to issue more), a server \
            certificate, device and reader certificates (SAN URI urn:samd:device:<id>, urn:samd:reader:<id>) and \
            two negative-test certificates into a new directory (mode 0700; keys 0600). issue adds one more \
            device or reader signed by the stored intermediate. Ids are 1-64 characters of A-Z a-z 0-9 . _ -

            Exit codes (sysexits): 0 ok; 64 usage (bad option, id, name or days); 66 the PKI to issue from \
            cannot be read or is not a CA; 73 the output cannot be created (or exists, without --force); \
            70 internal or OpenSSL error.
            """,
        subcommands: [Init.self, Issue.self]
    )
}
