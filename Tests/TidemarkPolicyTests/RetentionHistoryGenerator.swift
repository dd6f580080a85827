import TidemarkCore
import TidemarkPolicy

/// SplitMix64: a tiny seeded generator, so a failing history is reproduced from its seed.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &self) < p }
    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self) }
    mutating func int64(_ range: ClosedRange<Int64>) -> Int64 { Int64.random(in: range, using: &self) }
    mutating func uint64(_ range: ClosedRange<UInt64>) -> UInt64 { UInt64.random(in: range, using: &self) }
}

/// A generated repository history: irregular backups over two years, full and incremental
/// chains, pins, WAL with gaps, promotions that branch new timelines, and a random policy.
struct GeneratedHistory {
    var seed: UInt64
    var policy: RetentionPolicy
    var input: RetentionInput

    static let size = WALSegmentSize(rawValue: 1 << 20)!
    static let zones: [String?] = [nil, "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
    /// 2025-01-01T00:00:00Z
    static let start: Int64 = 1_735_689_600
    static let hour: Int64 = 3600
    static let day: Int64 = 86_400

    init(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        self.seed = seed
        policy = RetentionPolicy(daily: rng.int(0...10), weekly: rng.int(0...6), monthly: rng.int(0...14),
                                 yearly: rng.int(0...3), pitrDays: rng.int(0...30), minFullChains: rng.int(0...3),
                                 timeZone: Self.zones[rng.int(0...(Self.zones.count - 1))])
        let size = Self.size.rawValue
        let end = Self.start + 730 * Self.day
        let count = rng.int(5...250)
        // Mean spacing so that `count` backups span roughly two years, in bursts and gaps.
        let mean = (end - Self.start) / Int64(count)

        var histories: [TimelineID: TimelineHistory] = [TimelineID(1): TimelineHistory(timeline: TimelineID(1), switches: [])]
        var position: [TimelineID: UInt64] = [TimelineID(1): rng.uint64(0...(3 * size))]
        var lastTime: [TimelineID: Int64] = [:]
        var current = TimelineID(1)
        var chains: [String?] = [nil, nil]
        var backups: [RetentionBackup] = []
        var time = Self.start + rng.int64(0...Self.day)

        for n in 0..<count {
            // A promotion: timeline N+1 branches from an existing timeline after one of its backups.
            if n > 0, rng.chance(0.06) {
                let parents = histories.keys.sorted()
                let parent = parents[rng.int(0...(parents.count - 1))]
                let begin = histories[parent]?.path.last?.begin.rawValue ?? 0
                let after = backups.filter { $0.stopTimeline == parent }.map(\.stopLSN.rawValue)
                let low = max(begin, after.isEmpty ? begin : after[rng.int(0...(after.count - 1))])
                let high = max(low, position[parent] ?? low)
                let switchpoint = rng.uint64(low...high)
                let child = TimelineID((histories.keys.max()?.rawValue ?? 1) + 1)
                let switches = (histories[parent]?.switches ?? [])
                    + [TimelineSwitch(parent: parent, switchpoint: LSN(switchpoint), reason: "promoted")]
                histories[child] = TimelineHistory(timeline: child, switches: switches)
                position[child] = switchpoint
                // A standby promoted during its own backup: it starts on the parent, stops on the child.
                if parent == current, rng.chance(0.3) {
                    let startLSN = rng.uint64(low...switchpoint)
                    let stopLSN = switchpoint + rng.uint64(1...(2 * size))
                    backups.append(RetentionBackup(id: "x\(String(n, radix: 36))", type: .full, parent: nil, endTime: time - 60,
                                                   timeline: parent, stopTimeline: child, startLSN: LSN(startLSN),
                                                   stopLSN: LSN(stopLSN), storedBytes: rng.int64(1...1_000_000)))
                    position[child] = stopLSN + rng.uint64(0...size)
                }
                lastTime[child] = time
                current = child
                // A new primary often starts a new chain.
                if rng.chance(0.5) { chains = [nil, nil] }
            }
            let chain = rng.chance(0.8) ? 0 : 1
            let full = chains[chain] == nil || rng.chance(0.2)
            let id = "b\(String(n, radix: 36))-\(rng.int(100...999))"
            let startLSN = (position[current] ?? 0) + rng.uint64(0...(2 * size))
            let stopLSN = startLSN + rng.uint64(1...(3 * size))
            position[current] = stopLSN + rng.uint64(size / 2...(10 * size))
            let pin: String? = rng.chance(0.05) ? (rng.chance(0.5) ? "" : "legal hold \(n)") : nil
            backups.append(RetentionBackup(id: id, type: full ? .full : .incremental, parent: full ? nil : chains[chain],
                                           endTime: time, timeline: current, stopTimeline: current,
                                           startLSN: LSN(startLSN), stopLSN: LSN(stopLSN), pin: pin,
                                           storedBytes: rng.int64(1...1_000_000)))
            chains[chain] = id
            lastTime[current] = time

            // Irregular spacing: several a day, about daily, or gaps of weeks.
            let roll = rng.int(0...99)
            if roll < 2 {
                // Two backups that end in the same second: order falls back to the ID.
            } else if roll < 25 {
                time += rng.int64(600...(8 * Self.hour))
            } else if roll < 85 {
                time += rng.int64((mean / 2)...(mean * 3 / 2))
            } else if roll < 95 {
                time += rng.int64(20 * Self.hour...(28 * Self.hour))
            } else {
                time += rng.int64((7 * Self.day)...(40 * Self.day))
            }
        }

        // WAL: contiguous per timeline from its branch point to its position, with a few gaps.
        var segments: [TimelineID: [SegmentNumber: Int64]] = [:]
        for (timeline, history) in histories.sorted(by: { $0.key < $1.key }) {
            let first = (history.path.last?.begin.rawValue ?? 0) / size
            let last = (position[timeline] ?? 0) / size
            var map: [SegmentNumber: Int64] = [:]
            var s = first
            while s <= last {
                if rng.chance(0.01) {
                    s += rng.uint64(1...4)
                    continue
                }
                map[s] = rng.int64(1...(1 << 20))
                s += 1
            }
            segments[timeline] = map
        }

        var lastCommit: [TimelineID: Int64] = [:]
        for timeline in histories.keys.sorted() where !rng.chance(0.15) {
            lastCommit[timeline] = (lastTime[timeline] ?? Self.start) + rng.int64(0...(6 * Self.hour))
        }
        let newest = backups.map(\.endTime).max() ?? Self.start
        // Usually soon after the newest backup; sometimes long after (the failing-backups hold).
        let now = newest + (rng.chance(0.8) ? rng.int64(0...(36 * Self.hour)) : rng.int64(0...(60 * Self.day)))
        // Now and then a timeline's history file is damaged: its WAL cannot be judged.
        var damaged: [TimelineID: String] = [:]
        for timeline in histories.keys.sorted() where timeline.rawValue > 1 && rng.chance(0.04) {
            histories[timeline] = nil
            damaged[timeline] = "unreadable"
        }
        // Sometimes evaluated as of an earlier instant (`expire --as-of`).
        let first = backups.map(\.endTime).min() ?? Self.start
        let asOf: Int64? = rng.chance(0.15) ? rng.int64(first...newest) : nil
        input = RetentionInput(backups: backups, segments: segments,
                               graph: TimelineGraph(histories: Array(histories.values), damaged: damaged),
                               segmentSize: Self.size, lastCommit: lastCommit, now: now, asOf: asOf)
    }
}
