import ArgumentParser
import Tidemark
import TidemarkCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkSystem
import TidemarkRepository
import TidemarkArchive
import TidemarkBackup

/// The recovery target flags `plan`, `restore` and `rehearse` share (DESIGN.md).
struct TargetOptions: ParsableArguments {
    @Option(name: .long, help: "Recover to this time; a zone is required (2026-11-26 14:30:00+00, …Z, …+01:00).")
    var targetTime: String?
    @Option(name: .long, help: "Recover to this WAL location (X/X).") var targetLsn: String?
    @Option(name: .long, help: "Recover to the end of this transaction.") var targetXid: String?
    @Option(name: .long, help: "Recover to this restore point (pg_create_restore_point).") var targetName: String?
    @Flag(name: .long, help: "Stop as soon as the backup is consistent.") var targetImmediate = false
    @Flag(name: .long, help: "Replay the whole archive (the default).") var latest = false
    @Option(name: .long, help: "Timeline to follow: a number, 'latest' or 'current' (default: for a time, the timeline live then; else the newest).")
    var targetTimeline: String?
    @Flag(name: .long, help: "Stop just before the target instead of just after it (time, LSN and xid targets).")
    var targetExclusive = false
    @Flag(name: .long, help: "Stop just after the target (the default).") var targetInclusive = false

    /// True when a target flag was given (`rehearse` otherwise draws one).
    var isGiven: Bool {
        targetTime != nil || targetLsn != nil || targetXid != nil || targetName != nil || targetImmediate || latest
    }

    func validate() throws {
        let given = [targetTime != nil, targetLsn != nil, targetXid != nil, targetName != nil, targetImmediate, latest].filter { $0 }.count
        guard given <= 1 else {
            throw ValidationError("give one target: --target-time, --target-lsn, --target-xid, --target-name, --target-immediate or --latest")
        }
        guard !(targetExclusive && targetInclusive) else { throw ValidationError("--target-exclusive and --target-inclusive exclude each other") }
        _ = try request(backup: nil)
    }

    /// The planner's request; errors name the flag and the form it takes.
    func request(backup: String?) throws -> PlanRequest {
        var target = RecoveryTarget.latest
        if let t = targetTime {
            do {
                target = .time(try PostgresTimestamp(parsing: t))
            } catch {
                throw ValidationError("--target-time \(error)")
            }
        } else if let l = targetLsn {
            guard let lsn = LSN(l) else { throw ValidationError("--target-lsn '\(l)' is not a WAL location like 0/3000028") }
            target = .lsn(lsn)
        } else if let x = targetXid {
            guard let xid = UInt32(x), xid >= 3 else { throw ValidationError("--target-xid '\(x)' is not a transaction id (a number ≥ 3)") }
            target = .xid(xid)
        } else if let n = targetName {
            guard !n.isEmpty, n.utf8.count < 64 else { throw ValidationError("--target-name must be 1-63 bytes (PostgreSQL's limit for restore point names)") }
            target = .name(n)
        } else if targetImmediate {
            target = .immediate
        }
        var timeline = TimelineChoice.automatic
        switch targetTimeline {
        case nil: break
        case "latest"?: timeline = .latest
        case "current"?: timeline = .current
        case let text?:
            guard let n = UInt32(text), n >= 1 else { throw ValidationError("--target-timeline '\(text)' is not a timeline number, 'latest' or 'current'") }
            timeline = .id(TimelineID(n))
        }
        return PlanRequest(target: target, inclusive: !targetExclusive, timeline: timeline, backup: backup)
    }
}

func jsonText<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show how a recovery target would be reached, proven against the archive; nothing is written.",
        discussion: "Exits 10 with the reason and reachable alternatives when the target cannot be reached.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var target: TargetOptions
    @Option(name: .long, help: "Use this backup (default: the newest that reaches the target).") var backup: String?
    @Option(name: .long, help: "What the server does at the target: promote, pause or shutdown (for the settings shown).")
    var targetAction: RecoveryTargetAction = .pause
    @Flag(name: .long, help: "Print JSON (docs/plan-json.md).") var json = false

    func run() async throws {
        try await Tidemark_run("plan") {
            let configuration = try global.load()
            let request = try target.request(backup: backup)
            let report: PlanReport
            do {
                report = try await Engine(configuration, logger: makeLogger()).audited().plan(request: request, report: { writeStderr($0 + "\n") })
            } catch let error as TidemarkError {
                if json, let u = error.unreachable { print(try jsonText(PlanJSON.unreachable(u))) }
                throw error
            }
            let (command, _) = Engine(configuration, logger: makeLogger()).restoreCommand(environment: ProcessEnvironment.current(),
                                                     executable: Engine.executablePath(fallback: CommandLine.arguments[0]),
                                                     onlyFrom: report.readsOnlyFrom)
            let settings = RecoverySettings(plan: report.plan, restoreCommand: command, action: targetAction)
            print(json ? try jsonText(report.json(settings: settings)) : report.rendered(settings: settings))
            // The file snapshot `files restore --as-of` of this target picks (text only; docs/files.md).
            if !json, let note = await Engine(configuration, logger: makeLogger()).filesPlanNote(for: request) { print(note) }
        }
    }
}

extension RecoveryTargetAction: ExpressibleByArgument {}

struct ReindexCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reindex",
        abstract: "Add the recovery planner's WAL summaries for segments archived without them.",
        discussion: "Reads, authenticates and scans each such segment; writes a separate index object per segment "
            + "(archived segments are never modified). Safe to run while archiving continues.")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .long, help: "Rebuild the index for every segment, not only those without a summary.") var force = false

    func run() async throws {
        try await Tidemark_run("reindex") {
            let reports = try await Engine(try global.load(), logger: makeLogger()).reindex(force: force)
            var failed = false
            for r in reports {
                print("repository '\(r.repository)': \(r.segments) segments, \(r.alreadyIndexed) already summarized, \(r.indexed.count) indexed now, \(r.failed.count) failed")
                for f in r.failed { writeStderr("tidemark reindex: ERROR: \(f)\n") }
                failed = failed || !r.failed.isEmpty
            }
            if failed {
                throw TidemarkError(.corrupt, "some segments could not be indexed (listed above)",
                                    hints: ["a damaged archived segment must be replaced from another repository copy"])
            }
        }
    }
}
