// SaMDBuildGraphPlugin — captures, at build time, what a binary is built from, for SaMDSBOM.
//
// Applied to an executable target (the integrator's product, or one of SaMDKit's programs) it records that
// product: its name and package, and exactly the packages and products the target links, transitively
// (ProductGraph); the build command adds the settings of `samd-sbom.json` at the package root and the commits
// checked out, at every build. Applied by SaMDKit to SaMDSBOM itself it records
// SaMDKit's own package graph (LibraryGraph), which SaMDSBOM reports, saying so, for a binary that did not apply
// the plugin. Each package carries its origin (URL, version, commit), licence (from its LICENSE file) and
// dependencies. The plugin writes the record as JSON into its work directory (only when it changed, so builds
// stay incremental) and declares a build command: SaMDBuildGraphWriter turns the JSON into a Swift source
// compiled into the target. See Docs/SBOM.md.
import Foundation
import PackagePlugin

@main
struct SaMDBuildGraphPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) async throws -> [Command] {
        let kind: String
        let record: GraphRecord
        let toolchain = Toolchain.version(context)
        if let module = target as? SourceModuleTarget, module.kind == .executable {
            kind = "product"
            record = ProductGraph(root: context.package, target: target).record(toolchain: toolchain)
        } else if context.package.displayName == "SaMDKit" && target.name == "SaMDSBOM" {
            kind = "library"
            record = LibraryGraph(root: context.package).record(toolchain: toolchain)
        } else {
            throw PluginFailure(
                "SaMDBuildGraphPlugin describes a product: apply it to the executable target that is built into "
                    + "the product's binary, not to \(target.name)")
        }

        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(record)
        let directory = context.pluginWorkDirectoryURL
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let input = directory.appendingPathComponent("build-graph.json")
        if (try? Data(contentsOf: input)) != data {
            try data.write(to: input, options: .atomic)
        }
        let output = directory.appendingPathComponent("CapturedBuildGraph.swift")
        return [
            .buildCommand(
                displayName: "Capturing the build graph of \(target.name) for its SBOM",
                executable: try context.tool(named: "SaMDBuildGraphWriter").url,
                arguments: [kind, input.path, output.path, context.package.directoryURL.path],
                inputFiles: [input] + FreshnessInputs.files(of: context.package.directoryURL),
                outputFiles: [output]
            )
        ]
    }
}

/// A failure that stops the build, with a message for the person building.
struct PluginFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
