#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import TidemarkCore
import TidemarkSystem
import TidemarkRepository
import TidemarkArchive
import TidemarkBackup
import TidemarkCodec
import TidemarkStorage

/// What `tidemark rehearse` does (docs/rehearsal.md).
public struct RehearsalOptions: Sendable {
    public enum Target: Sendable {
        /// A random instant in the chosen backup's recoverable window.
        case random
        case given(PlanRequest)
    }

    public var target: Target = .random
    /// For a random target: the timeline to follow.
    public var timeline: TimelineChoice = .automatic
    /// Use this backup (default: the newest; with `randomBackup` a random one).
    public var backup: String?
    public var randomBackup = false
    public var seed: UInt64
    public var checks: [RehearsalCheck] = []
    /// Directory of pg_ctl, postgres and psql (default: `pg_config --bindir`, then the usual layouts).
    public var postgresBin: String?
    /// The scratch directory is created inside this one.
    public var scratchParent: String
    /// Leave the scratch cluster (stopped) for inspection.
    public var keep = false
    /// Longest wait for recovery to end.
    public var timeout: Duration = .seconds(3600)
    /// When running as root: the user the scratch cluster belongs to and runs as.
    public var runAs: String?
    public var databaseUser = "postgres"
    /// At most this many btree indexes checked with amcheck, over all databases.
    public var amcheckLimit = 200
    /// restore_command for the scratch cluster (`Engine.restoreCommand`).
    public var restoreCommand: String
    /// `restoreCommand` reading only from one repository (`RestoreOptions.restoreCommandOnlyFrom`).
    public var restoreCommandOnlyFrom: (@Sendable (String) -> String)?
    /// The environment of pg_ctl, psql and (through the server) wal-fetch.
    public var environment: [String: String]
    public var parallel = 2
    /// Tear down on SIGINT / SIGTERM (the CLI sets it).
    public var handleSignals = false

    public init(seed: UInt64, scratchParent: String, restoreCommand: String, environment: [String: String]) {
        self.seed = seed
        self.scratchParent = scratchParent
        self.restoreCommand = restoreCommand
        self.environment = environment
    }
}

extension Engine {
    /// `tidemark rehearse`: restores a backup to a target into a scratch directory, recovers it
    /// with a temporary server, checks that the last replayed commit is the predicted one, runs
    /// the built-in and the operator's checks, measures the RTO and always tears down.
    ///
    /// Throws for what stops a rehearsal before it starts (an unreachable target: `.unreachable`;
    /// no matching PostgreSQL binaries; a bad configuration); everything that goes wrong from the
    /// restore on is a failure in the report.
    public func rehearse(options: RehearsalOptions,
                                progress: @Sendable (String) -> Void = { _ in }) async throws -> RehearsalReport {
        var rng = RehearsalRandom(seed: options.seed)
        var report = RehearsalReport(
            status: "fail", failures: [], seed: options.seed, startedAt: now().formatted(.iso8601), repository: nil, backup: nil,
            target: nil, predicted: nil, recovery: nil, checks: [], rto: .init(restoreSeconds: 0, replaySeconds: 0, totalSeconds: 0),
            restoredBytes: 0, restoredFiles: 0, walReplayBytes: 0, walSegments: 0, scratch: nil, kept: options.keep, port: nil,
            postgresBin: nil)

        // The backup and the target.
        var backupID = options.backup
        var backupChoice = options.backup == nil ? "newest" : "given"
        if options.randomBackup && options.backup == nil {
            let list = try await list()
            let repository = list.repositories.first { $0.backups > 0 }?.name
            let ids = list.backups.filter { $0.repository == repository }.map(\.id)
            guard !ids.isEmpty else { throw TidemarkError(.notFound, "stanza '\(configuration.stanza)' has no backups", hints: ["take one: tidemark backup"]) }
            backupID = ids[Int.random(in: 0..<ids.count, using: &rng)]
            backupChoice = "random"
        }
        let request: PlanRequest
        switch options.target {
        case .given(var r):
            r.backup = backupID
            request = r
            report.target = .init(kind: r.target.kind, value: r.target.value, inclusive: r.inclusive, chosen: "given")
        case .random:
            let latest = try await plan(request: PlanRequest(target: .latest, timeline: options.timeline, backup: backupID))
            backupID = latest.plan.backup.id
            let stop = latest.plan.backup.stopTime ?? (try? PostgresTimestamp(parsing: latest.catalog.stopTime))
            if let last = latest.plan.lastCompletion, let stop, let window = RecoverableWindow(backupStop: stop, lastCommit: last.time) {
                var chosen: PlanRequest?
                // The consistency point can lie after the recorded stop time: draw again then.
                for _ in 0..<8 where chosen == nil {
                    let r = PlanRequest(target: .time(window.randomInstant(using: &rng)), timeline: options.timeline, backup: backupID)
                    do {
                        _ = try await plan(request: r)
                        chosen = r
                    } catch let e as TidemarkError where e.unreachable?.reason == .beforeOldestBackup {
                        continue
                    }
                }
                let r = chosen ?? PlanRequest(target: .latest, timeline: options.timeline, backup: backupID)
                request = r
                report.target = .init(kind: r.target.kind, value: r.target.value, inclusive: true, chosen: chosen == nil ? "latest" : "random",
                                      windowFrom: window.from.postgresText, windowUntil: window.until.postgresText)
            } else {
                request = PlanRequest(target: .latest, timeline: options.timeline, backup: backupID)
                report.target = .init(kind: "latest", value: nil, inclusive: true, chosen: "latest")
            }
        }
        var planned = try await plan(request: request)
        var fixed = request
        fixed.backup = planned.plan.backup.id
        let c = planned.catalog
        report.repository = planned.repository
        report.backup = .init(id: c.id.rawValue, type: c.type.rawValue, stopTime: c.stopTime, stopLSN: c.stopLSN.description,
                              timeline: c.timeline, postgresVersion: c.postgresVersion, chosen: backupChoice)
        progress("rehearsal seed \(options.seed): backup \(c.id), target \(request.target.words)")

        // Binaries and the user the scratch cluster runs as.
        let major = RehearsalSystem.major(ofServerVersion: c.postgresVersion)
        let bin = try await RehearsalSystem.binaries(explicit: options.postgresBin, major: major, environment: options.environment,
                                                     scratch: options.scratchParent)
        report.postgresBin = bin
        let user = try runAsUser(options: options)

        // The scratch directory: from here on, every problem is a failure in the report.
        let root = options.scratchParent + "/tidemark-rehearsal-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        guard mkdir(root, 0o700) == 0 else {
            throw TidemarkError(.io, "unable to create the scratch directory '\(root)': \(String(cString: strerror(errno)))",
                                hints: ["--scratch DIR names the directory the scratch cluster is created in"])
        }
        var environment = options.environment
        for name in ["PGHOST", "PGHOSTADDR", "PGPORT", "PGDATA", "PGDATABASE", "PGUSER", "PGSERVICE", "PGOPTIONS", "PGSSLMODE"] {
            environment[name] = nil
        }
        environment["HOME"] = user.home
        environment["PGCONNECT_TIMEOUT"] = "10"
        // wal-fetch's prefetch spool (decrypted WAL) inside the scratch data directory, whatever
        // TIDEMARK_SPOOL or spoolPath say: it goes with the scratch cluster (ScratchCluster.tearDown).
        environment["TIDEMARK_SPOOL"] = PrefetchSpool.defaultPath(dataDirectory: root + "/data")
        let socketDirectory: String
        do {
            socketDirectory = try ScratchCluster.socketDirectory(root: root)
            if geteuid() == 0 && user.uid != 0 { _ = lchown(socketDirectory, user.uid, user.gid) }
        } catch {
            try? FileManager.default.removeItem(atPath: root)
            throw error
        }
        let cluster = ScratchCluster(root: root, socketDirectory: socketDirectory, binDirectory: bin, user: user, environment: environment, keep: options.keep,
                                     port: try RehearsalSystem.freePort(), databaseUser: options.databaseUser,
                                     removeDecryptedWAL: { data in
                                         PrefetchSpool(path: PrefetchSpool.defaultPath(dataDirectory: data), capacity: 0).removeWhenIdle(waitingUpTo: 3)
                                     })
        report.scratch = root
        report.port = Int(cluster.port)
        let signals = options.handleSignals ? RehearsalSignals(cluster: cluster) : nil
        defer {
            if options.keep, cluster.isRunning { progress("stopping the scratch server; the directory stays: \(root)") }
            cluster.tearDown()
            signals?.cancel()
        }

        do {
            try await run(cluster, request: fixed, plan: &planned, options: options, report: &report,
                          progress: progress)
        } catch let e as TidemarkError where e.code == .unreachable {
            throw e
        } catch let e as TidemarkError {
            report.failures.append(e.message)
        } catch {
            report.failures.append("\(error)")
        }
        report.rto.totalSeconds = report.rto.restoreSeconds + report.rto.replaySeconds
        report.status = report.failures.isEmpty ? "pass" : "fail"
        return report
    }

    /// `--run-as`, else (as root) the owner of the first file-system repository unless that is
    /// root, else `postgres`; not root: the current user.
    package func runAsUser(options: RehearsalOptions) throws -> OSUser {
        guard geteuid() == 0 else {
            if let name = options.runAs, name != OSUser.current.name {
                throw TidemarkError(.configuration, "--run-as \(name) needs root; this process runs as \(OSUser.current.name)")
            }
            return OSUser.current
        }
        if let name = options.runAs {
            guard let u = OSUser.named(name) else { throw TidemarkError(.configuration, "--run-as: no user '\(name)'") }
            guard u.uid != 0 else { throw TidemarkError(.configuration, "--run-as root: PostgreSQL refuses to run as root") }
            return u
        }
        if let dir = configuration.repositories.first(where: { $0.type == .posix })?.path,
           let owner = RehearsalSystem.owner(of: dir), owner.uid != 0 {
            return owner
        }
        guard let u = OSUser.named("postgres") else {
            throw TidemarkError(.configuration, "running as root and there is no 'postgres' user to run the scratch cluster as",
                                hints: ["pass --run-as USER (PostgreSQL refuses to run as root)"])
        }
        return u
    }

    package static func seconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// Restore, start, wait, compare, check.
    package func run(_ cluster: ScratchCluster, request: PlanRequest, plan planned: inout PlanReport,
                    options: RehearsalOptions, report: inout RehearsalReport, progress: @Sendable (String) -> Void) async throws {
        let root = cluster.root
        // Check files first, so that the ownership change below covers them.
        try FileManager.default.createDirectory(atPath: root + "/checks", withIntermediateDirectories: false)
        for (i, check) in options.checks.enumerated() {
            try Data((check.sql + "\n").utf8).write(to: URL(fileURLWithPath: root + "/checks/\(i).sql"))
        }

        // Restore (tablespaces relocated into the scratch directory: never onto the originals).
        var restoreOptions = RestoreOptions(directory: cluster.dataDirectory, restoreCommand: options.restoreCommand)
        restoreOptions.restoreCommandOnlyFrom = options.restoreCommandOnlyFrom
        restoreOptions.parallel = options.parallel
        if !planned.catalog.tablespaces.isEmpty {
            try FileManager.default.createDirectory(atPath: root + "/tablespaces", withIntermediateDirectories: false)
            for t in planned.catalog.tablespaces { restoreOptions.tablespaceMap[String(t.oid)] = root + "/tablespaces/\(t.oid)" }
        }
        progress("restoring backup \(planned.catalog.id) into \(cluster.dataDirectory)")
        let restoreStart = ContinuousClock.now
        let (restored, plan) = try await restore(request: request, action: .promote, options: restoreOptions)
        report.rto.restoreSeconds = Self.seconds(since: restoreStart)
        planned = plan
        report.restoredBytes = restored.bytes
        report.restoredFiles = restored.files
        let p = plan.plan
        report.walReplayBytes = p.replayBytes
        report.walSegments = p.segments.count
        var stopXid: UInt32?
        switch p.stop {
        case .before(let c), .after(let c): stopXid = c.xid
        default: break
        }
        // The plan's last completion can precede the backup's start (no commit between the
        // backup and the target): replay begins at the start LSN and applies none, and the
        // server then reports no completed transaction.
        let planLast = p.lastCompletion
        let replayedLast = planLast.flatMap { $0.lsn >= p.backup.startLSN ? $0 : nil }
        report.predicted = .init(timeline: p.targetTimeline.rawValue, stop: p.stop.words, stopXid: stopXid,
                                 lastCommit: replayedLast.map { .init(xid: $0.xid, time: $0.time.postgresText, lsn: $0.lsn.description, kind: $0.verb) },
                                 segments: p.segments.map(\.description), replayBytes: p.replayBytes)

        // A server of its own: free loopback port, socket and log in the scratch directory, nothing
        // that reaches the production world (no archiving, no sync standbys, no cleanup commands).
        try Self.writeOverrides(cluster, major: RehearsalSystem.major(ofServerVersion: planned.catalog.postgresVersion))
        if geteuid() == 0 && cluster.user.uid != 0 { try RehearsalSystem.chownTree(root, to: cluster.user) }

        progress("starting PostgreSQL (\(cluster.binDirectory)) on 127.0.0.1:\(cluster.port) as \(cluster.user.name)")
        let replayStart = ContinuousClock.now
        let started = try await cluster.start()
        var completed = false
        var facts = RecoveryLogFacts(parsing: cluster.log)
        if !started.succeeded {
            report.failures.append("pg_ctl start failed (exit \(started.exitCode)): \(started.stderr.trimmed)")
        } else {
            let deadline = replayStart + options.timeout
            var lastProbe = ContinuousClock.now - .seconds(10)
            while true {
                facts = RecoveryLogFacts(parsing: cluster.log)
                if facts.ready || ContinuousClock.now - lastProbe > .seconds(5) {
                    lastProbe = ContinuousClock.now
                    let r = try await cluster.psql(database: "postgres", sql: "select pg_is_in_recovery()", timeout: .seconds(30))
                    if r.succeeded && r.output == "f" {
                        completed = true
                        break
                    }
                }
                if facts.startupFailed || (!cluster.isRunning && Self.seconds(since: replayStart) > 5) {
                    try await Task.sleep(for: .milliseconds(300))
                    facts = RecoveryLogFacts(parsing: cluster.log)
                    break
                }
                if ContinuousClock.now >= deadline {
                    report.failures.append("recovery had not ended after \(options.timeout) (--timeout)")
                    break
                }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        report.rto.replaySeconds = Self.seconds(since: replayStart)
        let excerpt = facts.fatalLines + facts.fetchLines.filter { !facts.fatalLines.contains($0) }
        report.recovery = .init(completed: completed, stopLine: facts.stopLine, stopXid: facts.stop?.xid,
                                lastCommitTime: facts.lastCompletedTime?.postgresText, matchesPlan: nil, logExcerpt: excerpt,
                                failedSegment: facts.failedSegment, failedObject: facts.failedObject)
        guard completed else {
            if started.succeeded && !report.failures.contains(where: { $0.hasPrefix("recovery had not ended") }) {
                var text = "recovery failed"
                if let object = facts.failedObject ?? facts.failedSegment { text += ": WAL object \(object) could not be restored" }
                if let fatal = facts.fatalLines.first(where: { $0.contains("FATAL:") || $0.contains("PANIC:") }) { text += " (server log: \(fatal.trimmed))" }
                report.failures.append(text)
            }
            if let fetch = facts.fetchLines.first(where: { $0.contains("ERROR") }) { report.failures.append("wal-fetch: " + fetch.trimmed) }
            return
        }
        progress("recovery ended after \(Int(report.rto.replaySeconds.rounded())) s; running checks")

        // Predicted against actual.
        var matches: Bool?
        if let last = planLast, replayedLast == nil {
            matches = facts.lastCompletedTime == nil
            if let actual = facts.lastCompletedTime {
                report.failures.append("last commit: the plan predicted that replay applies no commit (the last one, transaction \(last.xid) at \(last.time.postgresText), precedes the backup's start \(p.backup.startLSN)); the server reports the last completed transaction at \(actual.postgresText)")
            }
        }
        if let predicted = replayedLast {
            let same = facts.lastCompletedTime == predicted.time
            matches = same
            if !same {
                report.failures.append("last commit: the plan predicted transaction \(predicted.xid) at \(predicted.time.postgresText); the server reports "
                                       + (facts.lastCompletedTime.map { "the last completed transaction at \($0.postgresText)" } ?? "no completed transaction"))
            }
        }
        switch p.stop {
        case .before(let c), .after(let c):
            let position = { if case .before = p.stop { return "before" } else { return "after" } }()
            let same = facts.stop?.xid == c.xid && facts.stop?.position == position
            matches = (matches ?? true) && same
            if !same {
                report.failures.append("stop: the plan predicted recovery stopping \(position) the \(c.verb) of transaction \(c.xid) at \(c.time.postgresText); the server log says "
                                       + (facts.stopLine.map { "'\($0.trimmed)'" } ?? "nothing about where it stopped"))
            }
        default:
            break
        }
        report.recovery?.matchesPlan = matches

        report.checks = try await RehearsalChecks.run(cluster, checks: options.checks, amcheckLimit: options.amcheckLimit)
        for check in report.checks where check.status == "fail" {
            var text = "check '\(check.name)'" + (check.database.map { " in \($0)" } ?? "") + " failed"
            if check.expected != nil || check.actual != nil {
                text += ": expected \(report.quoted(check.expected)), got \(report.quoted(check.actual))"
            }
            if let d = check.detail { text += ": " + d }
            report.failures.append(text)
        }
    }

    /// Settings appended to postgresql.auto.conf (they win over postgresql.conf); a missing
    /// postgresql.conf or pg_hba.conf (kept outside the data directory, e.g. by Debian) is
    /// replaced by an empty file and a local-socket-only `trust` file: the socket directory is
    /// 0700, so only the scratch cluster's user reaches it.
    package static func writeOverrides(_ cluster: ScratchCluster, major: Int) throws {
        let data = cluster.dataDirectory
        if !FileManager.default.fileExists(atPath: data + "/postgresql.conf") {
            try Data().write(to: URL(fileURLWithPath: data + "/postgresql.conf"))
        }
        if !FileManager.default.fileExists(atPath: data + "/pg_hba.conf") {
            try Data("local all all trust\n".utf8).write(to: URL(fileURLWithPath: data + "/pg_hba.conf"))
        }
        var lines = [
            "", "# tidemark rehearse: a scratch cluster that must not touch the production world",
            "port = \(cluster.port)",
            "listen_addresses = '127.0.0.1'",
            "unix_socket_directories = " + RecoverySettings.quote(cluster.socketDirectory),
            "archive_mode = off",
            "archive_command = ''",
            "archive_cleanup_command = ''",
            "recovery_end_command = ''",
            "synchronous_standby_names = ''",
            "primary_conninfo = ''",
            "logging_collector = off",
            "log_destination = 'stderr'",
            "log_min_messages = 'warning'",
            "log_line_prefix = '%m [%p] '",
            "lc_messages = 'C'",
            "log_timezone = 'UTC'",
            "timezone = 'UTC'",
        ]
        if major >= 15 { lines.append("archive_library = ''") }
        let path = data + "/postgresql.auto.conf"
        let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard fd >= 0 else { throw TidemarkError(.io, "unable to open '\(path)' for appending: \(String(cString: strerror(errno)))") }
        defer { Glibc.close(fd) }
        let bytes = Array((lines.joined(separator: "\n") + "\n").utf8)
        guard bytes.withUnsafeBytes({ Glibc.write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
            throw TidemarkError(.io, "unable to append to '\(path)': \(String(cString: strerror(errno)))")
        }
    }
}
