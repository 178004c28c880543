import PackagePlugin

/// The graph of one executable target: exactly the products it links, followed through every target they are
/// built from (target dependencies and product dependencies, transitively), and the packages those products
/// come from. Packages that are resolved but not linked (another product's dependencies, test-only and
/// plugin-only packages) are not in it.
struct ProductGraph {
    let root: Package
    let target: any Target

    func record(toolchain: String?) -> GraphRecord {
        var packages = PackageFacts.packages(from: self.root)
        packages[self.root.id] = self.root
        let productOwner = PackageFacts.productOwners(packages)

        // Package → the products of it that are linked, and the targets of it built in; package → the packages
        // whose products it links.
        var linkedProducts: [String: Set<String>] = [:]
        var modules: [String: Set<String>] = [:]
        var edges: [String: Set<String>] = [:]
        var visited: Set<String> = []
        func visit(_ target: any Target, in owner: String) {
            guard visited.insert(target.id).inserted else { return }
            modules[owner, default: []].insert(target.name)
            for dependency in target.dependencies {
                switch dependency {
                case .target(let dependency):
                    visit(dependency, in: owner)
                case .product(let product):
                    guard let package = productOwner[product.id] else { continue }
                    linkedProducts[package, default: []].insert(product.name)
                    if package != owner { edges[owner, default: []].insert(package) }
                    for productTarget in product.targets { visit(productTarget, in: package) }
                @unknown default:
                    continue
                }
            }
        }
        visit(self.target, in: self.root.id)

        let pins = PackageFacts.resolvedRevisions(in: self.root.directoryURL)
        let records = linkedProducts.keys.filter { $0 != self.root.id }.sorted().compactMap { id in
            packages[id].map { package in
                PackageFacts.record(
                    package, scope: "required", products: Array(linkedProducts[id] ?? []),
                    modules: Array(modules[id] ?? []), dependencies: Array(edges[id] ?? []), pins: pins)
            }
        }
        let product = self.root.products.first { product in
            product is ExecutableProduct && product.targets.contains { $0.id == self.target.id }
        }
        // samd-sbom.json and the checked-out commit are read by the build command, at every build.
        return GraphRecord(
            kind: "product",
            subject: .init(
                name: product?.name ?? self.target.name, version: nil, supplier: nil, author: nil, summary: nil,
                license: PackageFacts.license(in: self.root.directoryURL), packageIdentity: self.root.id,
                packageDisplayName: self.root.displayName, revision: nil, target: self.target.name,
                modules: (modules[self.root.id] ?? []).sorted()),
            toolchain: toolchain,
            rootDependencies: (edges[self.root.id] ?? []).sorted(),
            packages: records
        )
    }
}
