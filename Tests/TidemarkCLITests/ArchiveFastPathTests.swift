import ArgumentParser
import Logging
import Testing
@testable import tidemark

/// `wal-push` and `wal-fetch` are parsed without ArgumentParser in their plain forms
/// (`ArchiveFastPath`): the fast path must read a command line exactly as ArgumentParser does,
/// and leave everything else to it, which gives the documented statuses.
@Suite("CLI: wal-push / wal-fetch fast path")
struct ArchiveFastPathTests {
    static let good: [[String]] = [
        ["wal-push", "pg_wal/000000010000000000000001"],
        ["--stanza", "s", "wal-push", "pg_wal/000000010000000000000001"],
        ["--config=/etc/t.json", "wal-push", "p", "--stanza", "s"],
        ["wal-push", "--config", "/etc/t.json", "--stanza=s", "p"],
        ["wal-push", "--log-level", "debug", "p"],
        ["--log-level=ERROR", "--log-format", "json", "wal-push", "p"],
        ["wal-push", "a path with spaces/000000010000000000000001"],
        ["wal-fetch", "000000010000000000000001", "pg_wal/RECOVERYXLOG"],
        ["wal-fetch", "--repo", "r", "00000002.history", "pg_wal/RECOVERYHISTORY"],
        ["--stanza", "s", "wal-fetch", "n", "d", "--repo=r", "--log-format=text"],
        ["--config", "/c", "--log-level", "trace", "wal-fetch", "n", "d"],
    ]

    /// What ArgumentParser makes of `args`, in the fast path's terms.
    static func slowPath(_ args: [String]) throws -> ArchiveFastPath.Invocation? {
        let command = try TidemarkCommand.parseAsRoot(GlobalOptionPlacement.normalize(args))
        if let push = command as? WALPushCommand {
            return .init(command: "wal-push", config: push.global.config, stanza: push.global.stanza,
                         logLevel: push.global.logging.logLevel, logFormat: push.global.logging.logFormat, positional: [push.path])
        }
        if let fetch = command as? WALFetchCommand {
            return .init(command: "wal-fetch", config: fetch.global.config, stanza: fetch.global.stanza, repo: fetch.repo,
                         logLevel: fetch.global.logging.logLevel, logFormat: fetch.global.logging.logFormat,
                         positional: [fetch.name, fetch.destination])
        }
        return nil
    }

    @Test(arguments: ArchiveFastPathTests.good)
    func theFastPathReadsWhatArgumentParserReads(args: [String]) throws {
        let fast = try #require(ArchiveFastPath.parse(args), "the plain form \(args) should take the fast path")
        #expect(try Self.slowPath(args) == fast)
        guard case .fast(let parsed) = Entry.parse(args) else {
            Issue.record("Entry does not take the fast path for \(args)")
            return
        }
        #expect(parsed == fast)
    }

    @Test func theFastPathKeepsTheValues() throws {
        let fast = try #require(ArchiveFastPath.parse(["--log-level=ERROR", "--log-format", "json", "wal-fetch", "--repo", "r", "n", "d"]))
        #expect(fast == .init(command: "wal-fetch", repo: "r", logLevel: .error, logFormat: .json, positional: ["n", "d"]))
    }

    /// Bad command lines, and the status docs/exit-codes.md gives each: 64 (usage) for
    /// wal-push, 126 for wal-fetch (PostgreSQL would read 64 as "not archived" and end recovery).
    static let bad: [([String], Int32)] = [
        (["wal-push"], 64),
        (["wal-push", "a", "b"], 64),
        (["wal-push", "--no-such-option", "p"], 64),
        (["wal-push", "--log-level", "verbose", "p"], 64),
        (["--log-format=xml", "wal-push", "p"], 64),
        (["wal-push", "--repo", "r", "p"], 64),
        (["wal-push", "p", "--stanza"], 64),
        (["wal-fetch", "n"], 126),
        (["wal-fetch", "n", "d", "e"], 126),
        (["wal-fetch", "--bogus", "n", "d"], 126),
        (["wal-fetch", "n", "d", "--log-level", "loud"], 126),
        (["wal-fetch", "n", "d", "--log-format", "xml"], 126),
        (["--repo", "r", "wal-fetch", "n", "d"], 126),
        (["wal-fecth", "n", "d"], 126),
        (["wal-psuh", "p"], 64),
    ]

    @Test(arguments: ArchiveFastPathTests.bad)
    func aBadCommandLineGetsItsDocumentedStatus(args: [String], status: Int32) {
        #expect(ArchiveFastPath.parse(args) == nil, "\(args) must go through ArgumentParser")
        switch Entry.parse(args) {
        case .fast, .command: Issue.record("\(args) was accepted")
        case .unknownCommand(let message, let got):
            #expect(got == status, "\(args): \(message)")
        case .invalid(let error):
            #expect(Entry.status(for: error, arguments: args) == status, "\(args): \(TidemarkCommand.fullMessage(for: error))")
        }
    }

    /// An invalid level names the valid ones.
    @Test func anInvalidLevelNamesTheValidOnes() {
        guard case .invalid(let error) = Entry.parse(["wal-push", "--log-level", "verbose", "p"]) else {
            Issue.record("accepted")
            return
        }
        let message = TidemarkCommand.fullMessage(for: error)
        #expect(message.contains("verbose"), "\(message)")
        for level in ["trace", "debug", "info", "notice", "warning", "error", "critical"] {
            #expect(message.contains("- \(level)\n"), "\(message)")
        }
    }

    /// Help and version are ArgumentParser's (its help command, or a clean exit), never the
    /// fast path, with status 0 even for wal-fetch.
    @Test(arguments: [["wal-fetch", "--help"], ["wal-push", "--help"], ["--version"]])
    func helpIsNotAFailure(args: [String]) {
        switch Entry.parse(args) {
        case .command(let command):
            #expect(!(command is any CommandWithGlobalOptions), "\(args) runs \(command)")
        case .invalid(let error):
            #expect(Entry.status(for: error, arguments: args) == 0)
        case let other:
            Issue.record("\(args): \(other)")
        }
    }

    @Test func helpListsTheLogOptions() {
        let help = WALPushCommand.helpMessage()
        #expect(help.contains("--log-level <level>"), "\(help)")
        #expect(help.contains("--log-format <text|json>"), "\(help)")
        #expect(help.contains("TIDEMARK_LOG_LEVEL"), "\(help)")
    }
}
