import Foundation
import PackagePlugin

/// The Swift toolchain building this package: the first line of `swiftc --version`
/// ("Swift version 6.3.1 (swift-6.3.1-RELEASE)"), run with a 10-second deadline. nil when SwiftPM does not
/// name the compiler to the plugin or it does not answer in time: the SBOM then says the version is unknown.
enum Toolchain {
    static func version(_ context: PluginContext) -> String? {
        guard let compiler = try? context.tool(named: "swiftc").url else { return nil }
        let process = Process()
        process.executableURL = compiler
        process.arguments = ["--version"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        do { try process.run() } catch { return nil }
        guard finished.wait(timeout: .now() + 10) == .success else {
            process.terminate()
            return nil
        }
        let data = (try? output.fileHandleForReading.read(upToCount: 4096)) ?? Data()
        let line = String(decoding: data, as: UTF8.self).split(separator: "\n").first.map(String.init)
        return line.flatMap { $0.contains("Swift version ") ? $0 : nil }
    }
}
