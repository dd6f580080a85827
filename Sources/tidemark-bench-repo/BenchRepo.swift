// Repository generator for scripts/bench/expire.sh (not a test, not part of `tidemark`):
// initializes a repository as `tidemark init` does and fills one stanza with a long history.
//
//   tidemark-bench-repo --repo DIR --stanza main --key-file F --backups 1000 --segments 100000
//                       [--segment-mib 1] [--days 730] [--tasks 8]
//
// WAL: `segments` synthetic segments on timeline 1, each holding one commit (commit times
// spaced evenly over `days` days ending now) and a switch record, archived through the real
// wal-push path (WALArchive.push), so objects and their summaries are exactly what wal-push
// writes. Backups: `backups` catalogs spaced evenly over the same span (every 7th a full, the
// others incrementals on the previous backup), start and stop LSN inside the WAL of their time,
// each with two small pack objects and a blockmap. Progress goes to stderr; the last line on
// stdout is a JSON summary.
import Foundation
import Synchronization
import TidemarkArchive
import TidemarkBackup
import TidemarkCodec
import TidemarkCore
import TidemarkRepository
import TidemarkStorage
import TidemarkSystem
import TidemarkTesting

@main
enum BenchRepo {
    struct Options {
        var repo = ""
        var stanza = "main"
        var keyFile = ""
        var backups = 1000
        var segments = 100_000
        var segmentMiB = 1
        var days = 730
        var tasks = 8
    }

    static func main() async {
        do {
            try await run(try parse(Array(CommandLine.arguments.dropFirst())))
        } catch {
            FileHandle.standardError.write(Data("tidemark-bench-repo: \(error)\n".utf8))
            exit(1)
        }
    }

    static func parse(_ args: [String]) throws -> Options {
        var o = Options()
        var i = 0
        func value() throws -> String {
            guard i + 1 < args.count else { throw TidemarkError(.invalidInput, "\(args[i]) needs a value") }
            i += 1
            return args[i]
        }
        func number(_ text: String, _ flag: String) throws -> Int {
            guard let n = Int(text), n > 0 else { throw TidemarkError(.invalidInput, "\(flag) '\(text)' is not a positive number") }
            return n
        }
        while i < args.count {
            let flag = args[i]
            switch flag {
            case "--repo": o.repo = try value()
            case "--stanza": o.stanza = try value()
            case "--key-file": o.keyFile = try value()
            case "--backups": o.backups = try number(try value(), flag)
            case "--segments": o.segments = try number(try value(), flag)
            case "--segment-mib": o.segmentMiB = try number(try value(), flag)
            case "--days": o.days = try number(try value(), flag)
            case "--tasks": o.tasks = try number(try value(), flag)
            default:
                throw TidemarkError(.invalidInput, "unknown argument '\(flag)'",
                                    hints: ["usage: tidemark-bench-repo --repo DIR --stanza NAME --key-file F --backups N --segments N [--segment-mib 1] [--days 730] [--tasks 8]"])
            }
            i += 1
        }
        guard !o.repo.isEmpty, !o.keyFile.isEmpty else {
            throw TidemarkError(.invalidInput, "--repo and --key-file are required")
        }
        guard [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024].contains(o.segmentMiB) else {
            throw TidemarkError(.invalidInput, "--segment-mib \(o.segmentMiB) is not a WAL segment size (a power of two, 1 to 1024)")
        }
        guard o.segments >= 2 * o.backups + 2 else {
            throw TidemarkError(.invalidInput, "--segments must be at least twice --backups (+2) so every backup has WAL of its own")
        }
        return o
    }

    static func log(_ text: String) {
        FileHandle.standardError.write(Data("tidemark-bench-repo: \(text)\n".utf8))
    }

    static func run(_ o: Options) async throws {
        let passphrase = try KeyFile.read(o.keyFile, source: "--key-file")
        try FileIO.createDirectoryPath(o.repo)
        let store = FileSystemStore(root: o.repo)
        let repository = try await Repository.initialize(store: store, passphrase: passphrase)
        let size = try requireSize(o.segmentMiB)
        let end = Date()
        let span = Double(o.days) * 86_400
        let start = end.addingTimeInterval(-span)
        let scratch = o.repo + "/../.bench-repo-wal-\(getpid())"
        try FileIO.createDirectoryPath(scratch)
        defer { try? FileManager.default.removeItem(atPath: scratch) }

        let clock = ContinuousClock()
        let began = clock.now
        let history = History(segments: o.segments, backups: o.backups, start: start, span: span, size: size)
        let archive = WALArchive(repository: repository, stanza: o.stanza, compression: .lz4)
        // The first push alone records the stanza; the rest in parallel.
        try await pushSegment(0, history: history, archive: archive, scratch: scratch)
        let progress = Progress(total: o.segments, what: "segments")
        try await forEach(1..<o.segments, width: o.tasks) { i in
            try await pushSegment(i, history: history, archive: archive, scratch: scratch)
            progress.step()
        }
        let walSeconds = (clock.now - began).seconds
        log("archived \(o.segments) segments in \(String(format: "%.1f", walSeconds)) s (\(Int(Double(o.segments) / walSeconds))/s)")

        let backupsBegan = clock.now
        let backups = BackupStore(repository: repository, stanza: o.stanza)
        let plans = history.backupPlans()
        let backupProgress = Progress(total: plans.count, what: "backups")
        try await forEach(0..<plans.count, width: o.tasks) { i in
            try await writeBackup(plans[i], plans: plans, history: history, store: backups)
            backupProgress.step()
        }
        let backupSeconds = (clock.now - backupsBegan).seconds
        log("wrote \(plans.count) backups in \(String(format: "%.1f", backupSeconds)) s")
        let summary: [String: Any] = [
            "segments": o.segments, "backups": plans.count, "walSeconds": walSeconds, "backupSeconds": backupSeconds,
            "first": start.formatted(.iso8601), "last": end.formatted(.iso8601),
        ]
        let json = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    }

    static func requireSize(_ mib: Int) throws -> WALSegmentSize {
        guard let size = WALSegmentSize(rawValue: UInt64(mib) << 20) else {
            throw TidemarkError(.invalidInput, "--segment-mib \(mib) is not a WAL segment size")
        }
        return size
    }

    /// Writes segment `i` to a scratch file and archives it as wal-push does.
    static func pushSegment(_ i: Int, history: History, archive: WALArchive, scratch: String) async throws {
        let name = history.segment(i)
        let bytes = SyntheticWAL.commitSegment(name, commitTime: history.commitTime(i), xid: UInt32(1000 + i), size: history.size)
        let path = scratch + "/" + name.description
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            throw TidemarkError(.io, "unable to write '\(path)'")
        }
        defer { unlink(path) }
        let outcome = try await archive.push(path: path)
        guard outcome == .stored else { throw TidemarkError(.conflict, "'\(name)' was already archived (\(outcome))") }
    }

    /// Runs `body` for every index, `width` at a time; the first error cancels the rest.
    static func forEach(_ range: Range<Int>, width: Int, _ body: @escaping @Sendable (Int) async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = range.lowerBound
            while next < min(range.upperBound, range.lowerBound + width) {
                let i = next
                group.addTask { try await body(i) }
                next += 1
            }
            while try await group.next() != nil {
                guard next < range.upperBound else { continue }
                let i = next
                group.addTask { try await body(i) }
                next += 1
            }
        }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// Prints "N/total" to stderr every 5% (from several tasks).
final class Progress: Sendable {
    let total: Int
    let what: String
    let done = Mutex(0)
    let began = ContinuousClock.now

    init(total: Int, what: String) {
        self.total = total
        self.what = what
    }

    func step() {
        let n = done.withLock { d in
            d += 1
            return d
        }
        let every = max(1, total / 20)
        if n % every == 0 {
            let rate = Double(n) / max(0.001, (ContinuousClock.now - began).seconds)
            BenchRepo.log("\(what): \(n)/\(total) (\(Int(rate))/s)")
        }
    }
}
