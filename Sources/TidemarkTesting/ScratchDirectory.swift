import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fresh directory under the test process's `TestTemporaryRoot`, removed with everything in
/// it when the last reference goes away (also when a test fails part-way), else with the root.
///
/// Set `TIDEMARK_KEEP_SCRATCH=1` to keep scratch directories for a post-mortem.
public final class ScratchDirectory: Sendable {
    public let path: String

    /// Creates `<test root>/<prefix>-XXXXXX` with `mode`, owned by `owner` (when running as root).
    public init(prefix: String, mode: Int = 0o755, owner: SystemUser? = nil) throws {
        var template = Array((TestTemporaryRoot.path + "/\(prefix)-XXXXXX").utf8CString)
        let created = template.withUnsafeMutableBufferPointer { buffer -> String? in
            guard let base = buffer.baseAddress, mkdtemp(base) != nil else { return nil }
            return String(cString: base)
        }
        guard let created else {
            throw TestingError(.fileSystem, "unable to create scratch directory '\(prefix)': \(String(cString: strerror(errno)))")
        }
        path = created
        try FileManager.default.setMode(path, mode)
        try FileManager.default.setOwner(path, owner)
    }

    deinit {
        if ProcessInfo.processInfo.environment["TIDEMARK_KEEP_SCRATCH"] == "1" {
            FileHandle.standardError.write(Data("kept scratch directory \(path)\n".utf8))
            return
        }
        try? FileManager.default.removeItem(atPath: path)
    }

    /// `path + "/" + name`.
    public func child(_ name: String) -> String { path + "/" + name }
}
