/// The places a restore writes to (the data directory and each tablespace location) and the
/// places it must never touch (repositories, the key file, the configuration), and the rules
/// between them. Pure: paths come in already made absolute and canonical (symlinks resolved).
///
/// `restore --force` empties only the data directory. A target that overlaps another target
/// (the same directory, or one inside the other) or a protected path is refused before
/// anything is read or deleted.
public enum RestoreTargets {
    public enum Kind: Sendable, Hashable {
        case dataDirectory
        /// A tablespace: its OID, its location in the backup, and whether `--tablespace-map`
        /// named it.
        case tablespace(oid: UInt32, original: String, mapped: Bool)
    }

    public struct Target: Sendable, Hashable {
        public var path: String
        public var kind: Kind
        public init(path: String, kind: Kind) {
            self.path = path
            self.kind = kind
        }

        public var description: String {
            switch kind {
            case .dataDirectory: return "the restore target '\(path)'"
            case let .tablespace(oid, _, _): return "tablespace \(oid) location '\(path)'"
            }
        }
    }

    /// Something a restore must neither delete nor write into: `what` names it in messages
    /// ("repository 'local'", "the key file", "the configuration file").
    public struct Protected: Sendable, Hashable {
        public var path: String
        public var what: String
        public init(path: String, what: String) {
            self.path = path
            self.what = what
        }
    }

    public struct Refusal: Error, Sendable, Equatable {
        public var message: String
        public var hints: [String]
    }

    /// `/a/b/` → `/a/b`; `//a///b` → `/a/b`; `.` and `..` components resolved lexically.
    public static func normalize(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." {
                if !parts.isEmpty { parts.removeLast() }
                continue
            }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }

    /// The same directory, or one inside the other.
    public static func overlap(_ a: String, _ b: String) -> Bool {
        let x = normalize(a), y = normalize(b)
        return x == y || contains(x, y) || contains(y, x)
    }

    /// `inner` lies strictly inside `outer`.
    public static func contains(_ outer: String, _ inner: String) -> Bool {
        let o = normalize(outer), i = normalize(inner)
        if o == "/" { return i != "/" }
        return i.hasPrefix(o + "/")
    }

    /// Every pair of targets and every target against every protected path. The first
    /// problem is returned; nil when the layout is safe.
    public static func check(_ targets: [Target], protected: [Protected]) -> Refusal? {
        // Protected paths first: a repository or key in the way is the message that matters.
        for a in targets {
            if normalize(a.path) == "/" {
                return Refusal(message: "\(a.description) is the root directory; refusing to restore there", hints: [mapHint(a)])
            }
            for p in protected where overlap(a.path, p.path) {
                let relation = normalize(a.path) == normalize(p.path) ? "is"
                    : contains(a.path, p.path) ? "contains" : "lies inside"
                return Refusal(message: "\(a.description) \(relation) \(p.what) ('\(p.path)'); a restore never writes there",
                               hints: [mapHint(a)])
            }
        }
        for (i, a) in targets.enumerated() {
            for b in targets[(i + 1)...] where overlap(a.path, b.path) {
                let relation = normalize(a.path) == normalize(b.path) ? "is the same directory as"
                    : contains(a.path, b.path) ? "contains" : "lies inside"
                return Refusal(message: "\(a.description) \(relation) \(b.description); every target must be a directory of its own",
                               hints: [mapHint(b.kind == .dataDirectory ? a : b)])
            }
        }
        return nil
    }

    public static func mapHint(_ t: Target) -> String {
        switch t.kind {
        case .dataDirectory:
            return "restore into an empty directory of its own (--to DIR), outside every repository and away from the key and configuration files"
        case let .tablespace(oid, original, _):
            return "relocate the tablespace into an empty directory of its own: --tablespace-map \(original)=NEW (or --tablespace-map \(oid)=NEW)"
        }
    }

    /// `PG_<major>_<catalog version>`: the directory PostgreSQL creates in a tablespace
    /// location for each server version using it.
    public static func isTablespaceVersionDirectory(_ name: String) -> Bool {
        let parts = name.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "PG", !parts[1].isEmpty, !parts[2].isEmpty else { return false }
        return parts[1].utf8.allSatisfy { $0 >= 48 && $0 <= 57 } && parts[2].utf8.allSatisfy { $0 >= 48 && $0 <= 57 }
    }

    /// What `--force` may delete in a non-empty tablespace location: only the version
    /// directory this backup restores (`writes`), and only when the location was mapped
    /// explicitly and holds nothing but PostgreSQL version directories. Anything else is
    /// refused, with or without `--force` (an unmapped location is the original one: on this
    /// host, the live cluster's own tablespace).
    public static func tablespaceDeletions(_ target: Target, entries: [String], writes: Set<String>, force: Bool)
        -> Result<[String], Refusal>
    {
        guard case let .tablespace(oid, original, mapped) = target.kind else { return .success([]) }
        guard !entries.isEmpty else { return .success([]) }
        let listed = entries.sorted().prefix(5).joined(separator: ", ") + (entries.count > 5 ? ", …" : "")
        guard mapped else {
            return .failure(Refusal(
                message: "tablespace \(oid) would be restored to its original location '\(target.path)', which is not empty (\(listed)); refusing, with or without --force",
                hints: ["this is the location the backed-up cluster uses: on its own host, the live tablespace",
                        "relocate it into an empty directory: --tablespace-map \(original)=NEW (or \(oid)=NEW)"]))
        }
        let foreign = entries.filter { !isTablespaceVersionDirectory($0) }
        guard foreign.isEmpty else {
            return .failure(Refusal(
                message: "tablespace \(oid) location '\(target.path)' holds \(foreign.sorted().prefix(5).joined(separator: ", ")), which is not a PostgreSQL tablespace; refusing, with or without --force",
                hints: ["map the tablespace to an empty directory: --tablespace-map \(original)=NEW",
                        "--force replaces only a PG_<version>_<catversion> directory in a mapped tablespace location"]))
        }
        let doomed = entries.filter { writes.contains($0) }.sorted()
        guard doomed.isEmpty || force else {
            return .failure(Refusal(
                message: "tablespace \(oid) location '\(target.path)' already holds \(doomed.joined(separator: ", "))",
                hints: ["map the tablespace to an empty directory (--tablespace-map \(original)=NEW), or pass --force to replace \(doomed.joined(separator: ", ")) (other versions' directories are kept)"]))
        }
        return .success(doomed.map { target.path + "/" + $0 })
    }
}
