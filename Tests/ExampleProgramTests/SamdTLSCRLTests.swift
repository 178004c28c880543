// `samd-tls serve --crl`: several CRL files, and several CRLs in one file, decide as SaMDTLS decides
// (SaMDTLSTests' CRLTests): by the highest CRL number, in either order.

import Foundation
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

/// The same choice as `samd-tls serve` makes it: several `--crl` files, and several CRLs in one file.
@Suite("CRL choice: samd-tls serve")
struct SamdTLSCRLTests {
    /// The same thisUpdate for every CRL: OpenSSL's own tie-break (the first listed) would decide.
    static let thisUpdate = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 120).rounded(.down))

    @Test func severalCRLFilesDecideByTheHighestCRLNumberInEitherOrder() async throws {
        let pki = try PKIDirectory()
        let thisUpdate = Self.thisUpdate
        let older = try pki.pki.intermediate.makeCRL(revokingSerials: [], thisUpdate: thisUpdate, crlNumber: 100)
        let newer = try pki.pki.intermediate.makeCRL(
            revokingSerials: [pki.pki.revokedDevice.serial], thisUpdate: thisUpdate, crlNumber: 200)
        let olderFile = try pki.write("older.crl", older)
        let newerFile = try pki.write("newer.crl", newer + pki.pki.rootCRLPEM)
        let bothFile = try pki.write("both.crl", older + newer + pki.pki.rootCRLPEM)
        for files in [[olderFile, newerFile], [newerFile, olderFile], [bothFile]] {
            let server = try await SamdTLSCLITests.gateway(pki, files.flatMap { ["--crl", $0] })
            defer { server.stop() }
            let revoked = try await samdTLS(
                SamdTLSCLITests.clientArguments(pki, server.endpoint, as: "revokedDevice"), stdin: Data("x\n".utf8))
            #expect(revoked.status == 77, "\(files): \(revoked)")
            #expect(await server.waitForLog("error=certificateRevoked"), "\(files): \(server.log)")
            let good = try await samdTLS(
                SamdTLSCLITests.clientArguments(pki, server.endpoint, as: "device"), stdin: Data("ok\n".utf8))
            #expect(good.status == 0, "\(files): \(good)")
        }
    }
}
