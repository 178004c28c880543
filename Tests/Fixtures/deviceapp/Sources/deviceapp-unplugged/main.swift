// Prints this program's SBOM: `deviceapp cyclonedx|spdx`. Yams is linked and used, as a product's code would.
import Foundation
import SaMDSBOM
import Yams

let format: SBOMFormat = CommandLine.arguments.dropFirst().first == "spdx" ? .spdx : .cycloneDX
let settings = try Yams.load(yaml: "device: infusion-pump\n") as? [String: String]
precondition(settings?["device"] == "infusion-pump")
let document = try SBOMInventory.current().document(format)
FileHandle.standardOutput.write(document)
