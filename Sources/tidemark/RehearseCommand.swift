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

struct RehearseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rehearse",
        abstract: "PITR rehearsal: restore into a scratch cluster, recover, check, measure the RTO, tear down.",
        discussion: "Default: the newest backup and a random instant in its recoverable window (the seed is printed; "
            + "--seed repeats the choice). Exit 0: PASS; 11: FAIL (the report says why); 10: the target is not reachable. "
            + "docs/rehearsal.md describes the report and the --check-sql format.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var target: TargetOptions
    @Flag(name: .long, help: "Pick a random backup and a random instant in its window.") var random = false
    @Option(name: .long, help: "Use this backup (default: the newest).") var backup: String?
    @Option(name: .long, help: "Seed for the random choices (printed in every report).") var seed: UInt64?
    @Option(name: .long, help: "SQL checks with expected output (docs/rehearsal.md).") var checkSql: String?
    @Flag(name: .long, help: "Print the report as JSON (docs/rehearsal.md).") var json = false
    @Option(name: .long, help: "Directory of pg_ctl, postgres and psql (default: pg_config --bindir, then /usr/lib/postgresql/<major>/bin).")
    var pgBin: String?
    @Option(name: .long, help: "Create the scratch directory in DIR (default: $TMPDIR or /tmp).") var scratch: String?
    @Flag(name: .long, help: "Leave the scratch cluster (stopped) for inspection.") var keep = false
    @Option(name: .long, help: "Seconds to wait for recovery to end.") var timeout: Int = 3600
    @Option(name: .long, help: "When run as root: the user the scratch cluster runs as (default: the repository's owner, else postgres).")
    var runAs: String?
    @Option(name: .long, help: "Database superuser to connect as over the scratch socket.") var dbUser: String = "postgres"
    @Option(name: .long, help: "Check at most this many btree indexes with amcheck.") var amcheckLimit: Int = 200
    @Option(name: .long, help: "Packs fetched in parallel while restoring.") var parallel: Int = 2

    func validate() throws {
        if random && target.isGiven { throw ValidationError("--random picks the target: give it or a target, not both") }
        if random && backup != nil { throw ValidationError("--random picks the backup too: give --random or --backup, not both") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
        guard amcheckLimit >= 0 else { throw ValidationError("--amcheck-limit must be 0 or more") }
        guard (1...64).contains(parallel) else { throw ValidationError("--parallel must be 1...64") }
    }

    func run() async throws {
        try await Tidemark_run("rehearse") {
            let configuration = try global.load()
            let environment = ProcessEnvironment.current()
            var checks: [RehearsalCheck] = []
            if let checkSql {
                guard let data = FileManager.default.contents(atPath: checkSql) else {
                    throw TidemarkError(.configuration, "unable to read --check-sql file '\(checkSql)'")
                }
                do {
                    checks = try RehearsalCheck.parse(String(decoding: data, as: UTF8.self))
                } catch {
                    throw TidemarkError(.configuration, "--check-sql '\(checkSql)': \(error)", hints: ["the format is in docs/rehearsal.md"])
                }
            }
            let (command, notices) = Engine(configuration, logger: makeLogger()).restoreCommand(environment: environment,
                                                           executable: Engine.executablePath(fallback: CommandLine.arguments[0]))
            for n in notices where !n.contains("BACKUP_ENCRYPTION_KEY") { writeStderr("NOTICE: \(n)\n") }
            var options = RehearsalOptions(seed: seed ?? UInt64.random(in: 0...UInt64.max),
                                           scratchParent: ConfigurationLoaderPaths.absolute(scratch ?? environment["TMPDIR"] ?? "/tmp"),
                                           restoreCommand: command, environment: environment)
            options.restoreCommandOnlyFrom = RestoreCommand.onlyFrom(configuration, environment: environment)
            if target.isGiven { options.target = .given(try target.request(backup: nil)) }
            options.timeline = try target.request(backup: nil).timeline
            options.backup = backup
            options.randomBackup = random
            options.checks = checks
            options.postgresBin = pgBin
            options.keep = keep
            options.timeout = .seconds(timeout)
            options.runAs = runAs
            options.databaseUser = dbUser
            options.amcheckLimit = amcheckLimit
            options.parallel = parallel
            options.handleSignals = true
            let report = try await Engine(configuration, logger: makeLogger()).audited().rehearse(options: options) { writeStderr("tidemark rehearse: \($0)\n") }
            print(json ? try jsonText(report) : report.rendered())
            if !report.passed { throw ExitCode(ExitStatus.rehearsalFailed) }
        }
    }
}
