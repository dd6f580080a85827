import ArgumentParser
import Tidemark
import TidemarkCore
import TidemarkAPI
import TidemarkServer
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the service: the schedule, the watchdog, notifications, /metrics, /healthz and the admin API.",
        discussion: "Stops on SIGTERM or SIGINT: a running job is asked to stop and its end recorded. docs/service.md is the runbook.")
    @OptionGroup var global: GlobalOptions
    @Option(name: .long, help: "ADDRESS:PORT for /metrics, /healthz and the admin API (default serve.listen, else 127.0.0.1:8470).") var listen: String?

    func run() async throws {
        try await Tidemark_run("serve") {
            let configuration = try global.load()
            let context = try serviceContext(configuration, listen: listen)
            let environment = ProcessEnvironment.current()
            let api = try APISettings.resolve(configuration, environment: environment, listenHost: context.settings.listenHost)
            try await TidemarkService(context: context, http: { metrics, snapshot in
                APIHTTPServer.services(metrics: metrics, env: .live(context: context, settings: api, environment: environment, snapshot: snapshot))
            }).run()
        }
    }
}

struct ScheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Print every job: its cron expression, its next five runs and its last outcome.")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .long, help: "Print JSON (docs/service.md).") var json = false

    func run() async throws {
        try await Tidemark_run("schedule") {
            let configuration = try global.load()
            let settings = try ServiceSettings.resolve(configuration, environment: ProcessEnvironment.current())
            let state = try ServiceStateStore(directory: settings.stateDirectory, stanza: configuration.stanza).load()
            let view = ScheduleView(settings: settings, state: state, now: Date())
            print(json ? try jsonText(view) : view.rendered())
        }
    }
}

struct RunJobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run-job",
        abstract: "Run one job of the schedule now, as the service would (lock, time limit, notifications, state).",
        discussion: "For those who prefer cron: pg-conf/tidemark.cron. Exits with the job's own exit code; 13 when another job held this host's job lock until the time limit.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The job's name (tidemark schedule lists them).") var name: String

    func run() async throws {
        try await Tidemark_run("run-job") {
            let configuration = try global.load()
            let context = try serviceContext(configuration)
            let result = try await RunJob(context: context).run(name) { writeStderr("tidemark run-job: \($0)\n") }
            print(result.summaryLine)
            if !result.output.isEmpty, result.outcome == .succeeded { print(result.output) }
            if let code = RunJob.exitCode(result) {
                for h in result.hints { writeStderr("HINT: \(h)\n") }
                if let e = result.error { writeStderr("tidemark run-job: ERROR: \(e)\n") }
                throw ExitCode(code)
            }
        }
    }
}

struct NotifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notify", abstract: "Notification channels.", subcommands: [NotifyTestCommand.self])
}

struct NotifyTestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Send a test message through each configured channel (or one) and report what happened.",
        discussion: "Exit 0 when every channel delivered; 7 when one failed (the report names it and why).")
    @OptionGroup var global: GlobalOptions
    @Option(name: .long, help: "Only this channel: slack, email, webhook or heartbeat.") var channel: String?

    func run() async throws {
        try await Tidemark_run("notify") {
            let configuration = try global.load()
            let context = try serviceContext(configuration)
            let results = try await NotifyTest(context: context).run(channel: channel)
            for r in results { print(r.line) }
            if results.contains(where: { !$0.delivered }) {
                throw TidemarkError(.io, "a channel did not deliver the test message", hints: ["the lines above say which and why"])
            }
        }
    }
}

/// The service's context the way every service command builds it: this process's environment,
/// logger and executable.
func serviceContext(_ configuration: Configuration, listen: String? = nil) throws -> ServiceContext {
    try ServiceAssembly.context(configuration: configuration, environment: ProcessEnvironment.current(), logger: makeLogger(),
                                executable: Engine.executablePath(fallback: CommandLine.arguments[0]), listen: listen)
}
