import Foundation

/// The permission bits (`st_mode & 0o7777`) of the file at `path`, not following a final symbolic link; `nil`
/// when it cannot be read.
public func fileMode(_ path: String) -> Int? {
    (try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue
}
