#if canImport(Glibc)
import Glibc
#endif

/// The `files.exclude` globs (fnmatch): a pattern without `/` matches a name at any depth
/// (`*.tmp`); a trailing `/` restricts it to directories (`cache/`); a pattern with an inner
/// `/`, or a leading one, matches the path relative to the configured path (`/build/*.o`,
/// `a/*/tmp`), `*` not crossing `/`.
public struct FilesExcludes: Sendable {
    struct Pattern: Sendable {
        var glob: [UInt8]
        var directoriesOnly: Bool
        var wholePath: Bool
    }

    let patterns: [Pattern]

    public init(_ patterns: [String]) {
        self.patterns = patterns.compactMap { text in
            var glob = Array(text.utf8)
            let dirOnly = glob.last == 0x2f
            while glob.last == 0x2f { glob.removeLast() }
            var anchored = false
            while glob.first == 0x2f {
                glob.removeFirst()
                anchored = true
            }
            guard !glob.isEmpty else { return nil }
            return Pattern(glob: glob, directoriesOnly: dirOnly, wholePath: anchored || glob.contains(0x2f))
        }
    }

    /// Whether the entry at `relativePath` (below the configured path, "/"-separated) is left out.
    public func excludes(relativePath: [UInt8], isDirectory: Bool) -> Bool {
        guard !patterns.isEmpty else { return false }
        let name = Array(relativePath.split(separator: 0x2f).last ?? [])
        for p in patterns where !p.directoriesOnly || isDirectory {
            let subject = p.wholePath ? relativePath : name
            let matched = FilesPath.withCString(p.glob) { g in
                FilesPath.withCString(subject) { s in fnmatch(g, s, p.wholePath ? FNM_PATHNAME : 0) == 0 }
            }
            if matched { return true }
        }
        return false
    }
}
