/// Quoting for the two languages a test writes commands in: POSIX shell (PostgreSQL runs
/// `archive_command` through `/bin/sh`) and postgresql.conf string values.
public enum ShellQuoting {
    /// `'…'` with embedded single quotes written as `'\''`; always safe for `/bin/sh`.
    public static func quote(_ word: String) -> String {
        "'" + word.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }

    /// Quotes only words that need it; for readable log lines, not for execution.
    public static func quoteIfNeeded(_ word: String) -> String {
        let plain = !word.isEmpty && word.allSatisfy { $0.isLetter || $0.isNumber || "-_./=:,%@+".contains($0) }
        return plain ? word : quote(word)
    }

    /// A postgresql.conf string literal: `'…'` with single quotes doubled.
    public static func configString(_ value: String) -> String {
        "'" + value.replacingOccurrences(of: "'", with: "''") + "'"
    }
}
