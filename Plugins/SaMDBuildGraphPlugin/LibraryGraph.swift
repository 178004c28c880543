import Foundation
import PackagePlugin

/// SaMDKit's own package graph, compiled into SaMDSBOM: the fallback description of a binary that did not apply
/// the plugin to its executable target. Every package SaMDKit depends on, classified by how SaMDKit uses it:
/// "required" (reached from a library product's targets), "optional" (only from executable products, the
/// examples), "excluded" (only from tests). A package is reached when a product of it is linked, followed through
/// the targets that product is built from (as ``ProductGraph`` does): Hummingbird's package declares
/// swift-nio-ssl for HummingbirdTLS, which SaMDHummingbird does not link, so swift-nio-ssl stays test-only.
struct LibraryGraph {
    let root: Package

    func record(toolchain: String?) -> GraphRecord {
        let packages = PackageFacts.packages(from: self.root)
        let productPackage = PackageFacts.productOwners(packages)
        let libraryTargets = self.rootTargets(of: LibraryProduct.self)
        let library = self.reachedPackages(from: libraryTargets, productPackage)
        let executable = self.reachedPackages(from: self.rootTargets(of: ExecutableProduct.self), productPackage)

        let pins = PackageFacts.resolvedRevisions(in: self.root.directoryURL)
        let records = packages.values.sorted { $0.id < $1.id }.map { package in
            PackageFacts.record(
                package,
                scope: library.contains(package.id)
                    ? "required" : executable.contains(package.id) ? "optional" : "excluded",
                products: [], modules: [], dependencies: package.dependencies.map(\.package.id), pins: pins)
        }
        return GraphRecord(
            kind: "library",
            subject: .init(
                name: self.root.displayName, version: nil, supplier: nil, author: nil, summary: nil,
                license: PackageFacts.license(in: self.root.directoryURL), packageIdentity: self.root.id,
                packageDisplayName: self.root.displayName,
                revision: nil, target: nil, modules: libraryTargets.map(\.name).sorted()),
            toolchain: toolchain,
            rootDependencies: self.root.dependencies.map(\.package.id).sorted(),
            packages: records
        )
    }

    /// The root package's targets that products of kind `P` are built from, with their target
    /// dependencies inside the root package.
    private func rootTargets<P: Product>(of kind: P.Type) -> [any Target] {
        var seen: Set<String> = []
        var result: [any Target] = []
        func add(_ target: any Target) {
            guard seen.insert(target.id).inserted else { return }
            result.append(target)
            for case .target(let dependency) in target.dependencies { add(dependency) }
        }
        for product in self.root.products where product is P {
            product.targets.forEach(add)
        }
        return result
    }

    /// The packages whose products `targets` link, followed through the targets of those products
    /// (target and product dependencies, transitively).
    private func reachedPackages(
        from targets: [any Target], _ productPackage: [String: String]
    ) -> Set<String> {
        var reached: Set<String> = []
        var visited: Set<String> = []
        func visit(_ target: any Target) {
            guard visited.insert(target.id).inserted else { return }
            for dependency in target.dependencies {
                switch dependency {
                case .target(let dependency):
                    visit(dependency)
                case .product(let product):
                    if let id = productPackage[product.id] { reached.insert(id) }
                    product.targets.forEach(visit)
                @unknown default:
                    continue
                }
            }
        }
        targets.forEach(visit)
        return reached
    }
}
