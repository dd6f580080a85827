import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one directory under the system temporary directory that holds everything the test
/// support creates in this test process: scratch directories (`ScratchDirectory`, so the
/// PostgreSQL fixtures, repositories and the copied `tidemark` binary), child process output
/// files, the unit tests' scratch directories.
///
/// `<tmp>/tmt-XXXXXX` (mode 0755, so the `postgres` user can reach the scratch
/// directories inside) holds `.owner`, locked with flock(2) for the life of the process. It is
/// removed when the process exits (atexit), and every test process first removes the roots whose
/// `.owner` nobody holds any more: those of runs that were killed, crashed or timed out. So a
/// run leaves nothing behind in `/tmp`, also when it fails, and a run that could not clean up
/// is cleaned up by the next one. Values that stay referenced until the process ends (shared
/// fixtures in a `static let`) never run their deinit; the root catches their files too.
///
/// Set `TIDEMARK_KEEP_SCRATCH=1` to keep it (and everything in it) for a post-mortem.
public enum TestTemporaryRoot {
    /// The root's path, created (and stale roots removed) on first use.
    public static var path: String { shared.path }

    static let prefix = "tmt-"
    private static let shared = Root()

    final class Root: Sendable {
        let path: String
        /// The locked `.owner` descriptor; never closed (closing would release the lock).
        let ownerFD: Int32

        init() {
            let base = FileManager.default.temporaryDirectory.path
            TestTemporaryRoot.removeAbandoned(in: base)
            var template = Array((base + "/" + TestTemporaryRoot.prefix + "XXXXXX").utf8CString)
            let made = template.withUnsafeMutableBufferPointer { buffer -> String? in
                guard let pointer = buffer.baseAddress, mkdtemp(pointer) != nil else { return nil }
                return String(cString: pointer)
            }
            guard let made else {
                // Then the files go where they went before (and are removed one by one).
                FileHandle.standardError.write(Data("unable to create a test directory under \(base): \(String(cString: strerror(errno)))\n".utf8))
                path = base
                ownerFD = -1
                return
            }
            chmod(made, 0o755)
            path = made
            ownerFD = open(made + "/.owner", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            if ownerFD >= 0 { _ = flock(ownerFD, LOCK_EX | LOCK_NB) }
            atexit { TestTemporaryRoot.removeAtExit() }
        }
    }

    static func removeAtExit() {
        guard shared.ownerFD >= 0 else { return }
        if ProcessInfo.processInfo.environment["TIDEMARK_KEEP_SCRATCH"] == "1" {
            FileHandle.standardError.write(Data("kept test directory \(shared.path)\n".utf8))
            return
        }
        try? FileManager.default.removeItem(atPath: shared.path)
    }

    /// Removes `<base>/tmt-*` directories whose `.owner` no process holds (a live
    /// test process keeps its lock; one that died released it), and those without `.owner`
    /// older than an hour (a process that died between creating it and locking).
    static func removeAbandoned(in base: String) {
        guard ProcessInfo.processInfo.environment["TIDEMARK_KEEP_SCRATCH"] != "1" else { return }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
        for name in entries where name.hasPrefix(prefix) {
            let root = base + "/" + name
            let fd = open(root + "/.owner", O_RDWR | O_CLOEXEC | O_NOFOLLOW)
            if fd >= 0 {
                let abandoned = flock(fd, LOCK_EX | LOCK_NB) == 0
                if abandoned { try? FileManager.default.removeItem(atPath: root) }
                close(fd)
            } else if errno == ENOENT, let modified = (try? FileManager.default.attributesOfItem(atPath: root))?[.modificationDate] as? Date,
                      modified < Date(timeIntervalSinceNow: -3600) {
                try? FileManager.default.removeItem(atPath: root)
            }
        }
    }
}
