// A PKCS#11 module SaMDKit loads is in the process's SBOM, like every shared object it maps.

import Foundation
import SaMDOpenSSLSupport
import SaMDTestSupport
import Testing

@testable import SaMDSBOM

@Suite("A PKCS#11 module in the SBOM")
struct PKCS11ModuleSBOMTests {
    @Test("the module PKCS11Module loaded is listed with its path (symbolic links resolved) and SHA-256")
    func loadedModuleIsListed() async throws {
        // SOFTHSM2_CONF must point at a configuration before the module's C_Initialize.
        _ = SoftHSMToken.processConfigurationDirectory
        let module = try PKCS11Module.load(path: SoftHSMToken.modulePath)
        let inventory = try SBOMInventory.current()
        let file = try #require(inventory.allComponents.first { $0.path == module.path })
        #expect(file.sha256 == (try await LoadedObjectsTests.digest("sha256sum", module.path)))
        #expect(file.debianPackage?.name == "libsofthsm2")
    }
}
