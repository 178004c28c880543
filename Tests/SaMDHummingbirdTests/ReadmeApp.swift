// The ten-line Hummingbird app of the README, compiled here so that it cannot go stale: ReadmeAppTests checks
// that the README shows exactly the lines between the markers, and runs it against curl.

import Hummingbird
import SaMDHummingbird
import SaMDTLS

enum ReadmeApp {
    static func serve(certificate: String, key: String, deviceCA: String, port: Int) async throws {
        // README: begin
        let tls = try TLSContext(
            configuration: .gatewayServer(
                identity: .files(certificateChain: certificate, privateKey: key), clientTrustRoots: .file(deviceCA)))
        let router = Router(context: BasicTLSRequestContext.self)
        router.get("hello") { _, context in "hello, \(context.tlsPeer?.displayName ?? "stranger")\n" }
        let app = Application(
            router: router, server: try .samdTLS(context: tls),
            configuration: .init(address: .hostname("127.0.0.1", port: port)))
        try await app.runService()
        // README: end
    }
}
