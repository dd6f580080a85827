#if canImport(Glibc)
import Glibc
#endif
import TidemarkCore

/// Secrets kept in files of their own: the repository key (`BACKUP_ENCRYPTION_KEY_FILE`,
/// `encryptionKeyFile`) and the S3 secret (`AWS_SECRET_ACCESS_KEY_FILE`,
/// `s3.secretAccessKeyFile`). One reader for both, so both refuse the same files.
public enum KeyFile {
    /// The secret in `path`, without surrounding whitespace and newlines. Refuses a file every
    /// user can read, an unreadable, missing or empty one (configuration errors naming `path`
    /// and `source`, the setting that named it; never the content).
    public static func read(_ path: String, source: String) throws -> Secret {
        var st = stat()
        if stat(path, &st) == 0, st.st_mode & 0o004 != 0 {
            throw TidemarkError(.configuration, "key file '\(path)' (\(source)) is readable by every user",
                                hints: ["chmod 600 '\(path)' (owned by the user that runs Tidemark)"])
        }
        let read: [UInt8]?
        do {
            read = try FileIO.readAll(path)
        } catch {
            throw TidemarkError(.configuration, "unable to read key file (\(source)): \(error.message)",
                                hints: error.code == .permissionDenied ? ["the file must be readable by the user running Tidemark (for archive_command: the PostgreSQL server user)"] : [])
        }
        guard let bytes = read else {
            throw TidemarkError(.configuration, "unable to read key file '\(path)' (\(source)): no such file")
        }
        let key = trimmedSecret(bytes)
        guard !key.isEmpty else {
            throw TidemarkError(.configuration, "key file '\(path)' (\(source)) is empty", hints: ["put the repository key in it"])
        }
        return Secret(key)
    }
}

extension FileIO {
    /// `path` made absolute against the current directory (unchanged when it already is, or
    /// when the current directory cannot be read). Not normalised: `..` and symlinks stay.
    public static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buf = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buf, buf.count) != nil else { return path }
        let cwd = String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return cwd + "/" + path
    }
}

/// A secret read from a file or the environment without surrounding tabs, newlines, carriage
/// returns and spaces.
public func trimmedSecret(_ bytes: [UInt8]) -> [UInt8] {
    // A comparison, not a Set<UInt8>: the set's generic metadata costs wal-push a scan of
    // every protocol conformance in the binary at its first use (about 0.3 ms).
    func isSpace(_ b: UInt8) -> Bool { b == 9 || b == 10 || b == 13 || b == 32 }
    var start = 0, end = bytes.count
    while start < end, isSpace(bytes[start]) { start += 1 }
    while end > start, isSpace(bytes[end - 1]) { end -= 1 }
    return Array(bytes[start..<end])
}
