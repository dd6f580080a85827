#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

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

    package static func isShellSafe(_ c: UInt8) -> Bool {
        (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 47 || c == 46 || c == 95 || c == 45 || c == 61 || c == 58
    }
}
