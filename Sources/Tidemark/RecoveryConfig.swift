#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import TidemarkCodec
import TidemarkCore
import TidemarkStorage

/// Quoting for postgresql.conf values and for shell words in restore_command.
public enum RecoveryConfig {
    /// A postgresql.conf string literal: single quotes, embedded quotes doubled.
    public static func quote(_ value: String) -> String {
        "'" + value.replacing("'", with: "''") + "'"
    }

    /// A POSIX shell word that survives spaces and quotes.
    public static func shellWord(_ value: String) -> String {
        if !value.isEmpty && value.utf8.allSatisfy({ isShellSafe($0) }) { return value }
        return "'" + value.replacing("'", with: "'\\''") + "'"
    }

    static func isShellSafe(_ c: UInt8) -> Bool {
        (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 47 || c == 46 || c == 95 || c == 45 || c == 61 || c == 58
    }
}

/// `path` with symlinks resolved: `realpath` of its deepest existing ancestor, and the rest
/// appended (the target may not exist yet).
func canonicalPath(_ path: String) -> String {
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

