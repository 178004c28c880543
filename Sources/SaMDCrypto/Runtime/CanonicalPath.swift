#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The canonical absolute path of `path` (symbolic links resolved, as `realpath(3)`), or `path`
/// itself when it cannot be resolved. The dynamic linker reports the path it opened, which on
/// merged-/usr systems is often a link (`/lib` → `/usr/lib`); reports name the real file.
package func canonicalPath(_ path: UnsafePointer<CChar>) -> String {
    guard let resolved = realpath(path, nil) else {
        return String(cString: path)
    }
    defer { free(resolved) }
    return String(cString: resolved)
}
