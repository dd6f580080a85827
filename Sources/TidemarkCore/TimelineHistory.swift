/// One line of a timeline history file: the child left `parent` at `switchpoint`.
public struct TimelineSwitch: Hashable, Sendable, Codable {
    public var parent: TimelineID
    /// WAL of `parent` before this position belongs to the child's history; at or after it, not.
    public var switchpoint: LSN
    public var reason: String

    public init(parent: TimelineID, switchpoint: LSN, reason: String) {
        self.parent = parent
        self.switchpoint = switchpoint
        self.reason = reason
    }
}

/// A parsed `TTTTTTTT.history` file: the complete ancestry of `timeline`, oldest first
/// (PostgreSQL copies the parent's file and appends one line).
public struct TimelineHistory: Hashable, Sendable, Codable {
    public var timeline: TimelineID
    public var switches: [TimelineSwitch]

    public init(timeline: TimelineID, switches: [TimelineSwitch]) {
        self.timeline = timeline
        self.switches = switches
    }

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var line: Int
        public var message: String
        public var description: String { "line \(line): \(message)" }
    }

    /// Parses the file the way `timeline.c: readTimeLineHistory` does: blank lines and `#`
    /// comments are skipped; each line is `parentTLI<TAB>X/X<TAB>reason`; parent timelines
    /// strictly increase and are all below the file's own timeline.
    public init(timeline: TimelineID, parsing bytes: some Collection<UInt8>) throws(ParseError) {
        self.timeline = timeline
        self.switches = []
        let text = String(decoding: bytes, as: UTF8.self)
        var lineNumber = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = raw.drop(while: { $0 == " " || $0 == "\t" })
            if line.isEmpty || line.hasPrefix("#") || line.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) { continue }
            let fields = line.split(separator: "\t", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count >= 2, let parent = UInt32(fields[0].trimmingSpaces) else {
                throw ParseError(line: lineNumber, message: "expected 'parentTLI<TAB>switchpoint<TAB>reason', got '\(line)'")
            }
            guard let lsn = LSN(fields[1].trimmingSpaces) else {
                throw ParseError(line: lineNumber, message: "'\(fields[1])' is not a WAL location")
            }
            guard parent >= 1, parent < timeline.rawValue else {
                throw ParseError(line: lineNumber, message: "parent timeline \(parent) is not below timeline \(timeline)")
            }
            if let last = switches.last {
                guard parent > last.parent.rawValue else {
                    throw ParseError(line: lineNumber, message: "timeline IDs must be in increasing sequence")
                }
                guard lsn >= last.switchpoint else {
                    throw ParseError(line: lineNumber, message: "switchpoint \(lsn) is before the previous one \(last.switchpoint)")
                }
            }
            let reason = fields.count > 2 ? String(fields[2]).trimmingTrailingWhitespace : ""
            switches.append(TimelineSwitch(parent: TimelineID(parent), switchpoint: lsn, reason: reason))
        }
        guard timeline.rawValue == 1 || !switches.isEmpty else {
            throw ParseError(line: lineNumber, message: "a history file for timeline \(timeline) names no parent")
        }
    }

    /// The file as PostgreSQL writes it.
    public var rendered: String {
        switches.map { "\($0.parent.rawValue)\t\($0.switchpoint)\t\($0.reason)\n" }.joined()
    }

    /// The ranges of WAL this timeline's history is made of, oldest first; the last is open.
    public var path: [TimelineRange] {
        var ranges: [TimelineRange] = []
        var begin = LSN.zero
        for s in switches {
            ranges.append(TimelineRange(timeline: s.parent, begin: begin, end: s.switchpoint))
            begin = s.switchpoint
        }
        ranges.append(TimelineRange(timeline: timeline, begin: begin, end: nil))
        return ranges
    }
}

/// A stretch of WAL on one timeline that a history is made of: `[begin, end)`.
public struct TimelineRange: Hashable, Sendable, Codable {
    public var timeline: TimelineID
    public var begin: LSN
    /// Where the history leaves this timeline; nil for the target timeline itself.
    public var end: LSN?

    public init(timeline: TimelineID, begin: LSN, end: LSN?) {
        self.timeline = timeline
        self.begin = begin
        self.end = end
    }

    public func contains(_ lsn: LSN) -> Bool {
        lsn >= begin && (end.map { lsn < $0 } ?? true)
    }
}

/// All timelines known from the archived history files.
public struct TimelineGraph: Sendable {
    public private(set) var histories: [TimelineID: TimelineHistory]
    /// Timelines whose archived history file could not be read or parsed, with the reason.
    /// The planner fails only when the target's path needs one (`RecoveryPlanner`).
    public private(set) var damaged: [TimelineID: String]

    public init(histories: [TimelineHistory], damaged: [TimelineID: String] = [:]) {
        var map: [TimelineID: TimelineHistory] = [:]
        for h in histories { map[h.timeline] = h }
        self.histories = map
        self.damaged = damaged.filter { map[$0.key] == nil }
    }

    /// The history of `timeline`; timeline 1 has none of its own (and needs none).
    public func history(of timeline: TimelineID) -> TimelineHistory? {
        if let h = histories[timeline] { return h }
        return timeline.rawValue == 1 ? TimelineHistory(timeline: timeline, switches: []) : nil
    }

    /// The timeline PostgreSQL's `recovery_target_timeline = 'latest'` would pick: the highest
    /// one with a history file (probing stops at the first missing one, so gaps end the search).
    /// A damaged file does not end the probing (the file exists), but is never the answer.
    public func newest(from start: TimelineID = TimelineID(1)) -> TimelineID {
        var t = start
        var best = start
        while true {
            let next = TimelineID(t.rawValue + 1)
            if histories[next] != nil {
                best = next
            } else if damaged[next] == nil {
                return best
            }
            t = next
        }
    }

    /// Every timeline with a history, and 1.
    public var timelines: [TimelineID] {
        (Set(histories.keys).union([TimelineID(1)])).sorted()
    }

    /// True when `ancestor` is `timeline` or lies on its history.
    public func isAncestor(_ ancestor: TimelineID, of timeline: TimelineID) -> Bool {
        guard let h = history(of: timeline) else { return ancestor == timeline }
        return ancestor == timeline || h.switches.contains { $0.parent == ancestor }
    }

    /// Timelines whose history leaves `timeline` (direct children).
    public func children(of timeline: TimelineID) -> [TimelineID] {
        histories.values.filter { $0.switches.last?.parent == timeline }.map(\.timeline).sorted()
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s = s.dropLast() }
        return s
    }
}

extension String {
    var trimmingTrailingWhitespace: String {
        var s = Substring(self)
        while let l = s.last, l == " " || l == "\t" || l == "\r" || l == "\n" { s = s.dropLast() }
        return String(s)
    }
}
