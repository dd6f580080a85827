#if canImport(Glibc)
import Glibc
#endif
import TidemarkCore

/// `path` with symlinks resolved: `realpath` of its deepest existing ancestor, and the rest
/// appended (the target may not exist yet).
public func canonicalPath(_ path: String) -> String {
    var head = RestoreTargets.normalize(path)
    var tail: [String] = []
    while true {
        if let resolved = realpath(head, nil) {
            defer { free(resolved) }
            let base = String(cString: resolved)
            return tail.isEmpty ? base : (base == "/" ? "" : base) + "/" + tail.reversed().joined(separator: "/")
        }
        guard head != "/", let slash = head.lastIndex(of: "/") else { return RestoreTargets.normalize(path) }
        tail.append(String(head[head.index(after: slash)...]))
        head = slash == head.startIndex ? "/" : String(head[..<slash])
    }
}

