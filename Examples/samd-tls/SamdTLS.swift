import ArgumentParser

/// `samd-tls`: a TLS 1.3 / mutual-TLS echo server and client over SaMDTLS, for trying a PKI, a gateway's
/// configuration, or interoperability with other TLS stacks. Each subcommand is a thin layer over the library:
/// it parses options, builds a `TLSConfiguration`, and moves bytes.
@main
struct SamdTLS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "samd-tls",
        abstract: "TLS 1.3 and mutual TLS on the command line: an echo server and a client.",
        discussion: """
            serve listens and echoes what each authenticated client sends; connect sends standard input to a \
            server and prints what comes back. Both are TLS 1.3 only unless serve is given --tls12.
            HOST:PORT is 127.0.0.1:8443, [::1]:8443 or localhost:8443.
            --allow-peer values: spki:sha256:<64 hex> is a key pin, a value containing ':' is a SAN URI \
            (urn:uuid:…, spiffe://…), anything else a SAN DNS name. Any one match allows the peer.
            Exit codes (sysexits): 0 ok; 64 usage; 66 an input file cannot be read; 69 the peer cannot be \
            reached (or serve cannot listen); 76 a TLS or protocol failure; 77 a certificate was refused by \
            either side; 78 invalid configuration or identity; 70 internal error.
            """,
        subcommands: [Serve.self, Connect.self]
    )
}
