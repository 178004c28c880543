import CSaMDShims

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

enum CPUFeatures {
    static var aesInstructions: RuntimeReport.AESInstructions {
        let cpu: Bool? =
            switch CSaMDShims_cpu_has_aes_instructions() {
            case 1: true
            case 0: false
            default: nil
            }
        let variable = CSaMDShims_openssl_cpu_capability_variable().map { String(cString: $0) }
        let overridden = variable.flatMap { getenv($0) } != nil
        return .init(
            cpuHasAESInstructions: cpu,
            usedByOpenSSL: overridden ? nil : cpu,
            capabilityOverrideVariable: overridden ? variable : nil
        )
    }
}
