/// The PATH… arguments of `files restore`: original absolute paths. An entry is restored when
/// a filter names it or one of its ancestors; a directory on the way to a filter is entered
/// (created) without restoring its other entries. No filters: everything.
public struct FilesRestoreFilter: Sendable {
    public enum Decision: Sendable, Equatable { case include, descend, skip }

    let filters: [[UInt8]]

    public init(_ paths: [String]) {
        filters = paths.map { p in
            var b = Array(p.utf8)
            while b.count > 1, b.last == 0x2f { b.removeLast() }
            return b
        }
    }

    public var isEmpty: Bool { filters.isEmpty }

    public func decision(_ path: [UInt8]) -> Decision {
        guard !filters.isEmpty else { return .include }
        var descend = false
        for f in filters {
            if f == path || Self.isAncestor(f, of: path) { return .include }
            if Self.isAncestor(path, of: f) { descend = true }
        }
        return descend ? .descend : .skip
    }

    static func isAncestor(_ a: [UInt8], of b: [UInt8]) -> Bool {
        if a == [0x2f] { return b.first == 0x2f && b.count > 1 }
        return b.count > a.count && b.starts(with: a) && b[a.count] == 0x2f
    }
}
