import ArgumentParser
import Foundation
import Testing
import TidemarkCore
@testable import tidemark

/// The executable's error → exit status mapping against the table in docs/exit-codes.md.
/// (IntegrationTests/ExitCodeTableTests provokes every row from the built binary; this checks
/// the mapping itself, code by code, without a repository.)
@Suite("CLI: exit-code mapping")
struct ExitCodeMappingTests {
    /// The codes of the table in docs/exit-codes.md.
    static func documentedCodes() throws -> Set<Int32> {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/exit-codes.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        return Set(text.split(separator: "\n").compactMap { line -> Int32? in
            guard line.hasPrefix("|"), let first = line.split(separator: "|").first else { return nil }
            return Int32(first.trimmingCharacters(in: .whitespaces))
        })
    }

    /// Every error code the engine has, with the status the table gives it.
    static let expected: [(TidemarkError.Code, Int32)] = [
        (.notFound, 1), (.configuration, 3), (.wrongKey, 4), (.repository, 5), (.alreadyExists, 5), (.conflict, 6),
        (.io, 7), (.corrupt, 8), (.invalidInput, 9), (.unreachable, 10), (.verification, 12), (.busy, 13),
    ]

    @Test func everyErrorCodeMapsToItsDocumentedStatus() throws {
        let documented = try Self.documentedCodes()
        #expect(documented == [0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 64, 126], "the table changed: update the mapping and this test")
        for (code, status) in Self.expected {
            #expect(ExitStatus.code(for: TidemarkError(code, "x")) == status, "\(code)")
            #expect(documented.contains(status), "\(code) → \(status) is not in docs/exit-codes.md")
        }
        #expect(documented.contains(ExitStatus.rehearsalFailed))
        #expect(documented.contains(ExitStatus.walFetchFailure))
        #expect(documented.contains(ExitCode.validationFailure.rawValue), "ArgumentParser's usage error is the table's 64")
    }

    /// The status a command body's error gives, through the helper every command runs in.
    func status(_ command: String, fetch: Bool = false, throwing error: any Error) async -> Int32? {
        do {
            try await Tidemark_run(command, fetch: fetch) { throw error }
            return nil
        } catch let code as ExitCode {
            return code.rawValue
        } catch {
            return nil
        }
    }

    /// archive_command: a status above 125 kills PostgreSQL's archiver, so every failure of
    /// wal-push stays within 1-125, with the table's code.
    @Test(arguments: ExitCodeMappingTests.expected.map(\.0))
    func walPushKeepsEveryFailureWithin1To125(code: TidemarkError.Code) async {
        let status = await status("wal-push", throwing: TidemarkError(code, "x"))
        #expect(status == ExitStatus.code(for: TidemarkError(code, "x")))
        #expect(status.map { (1...125).contains($0) } == true, "\(code): \(String(describing: status))")
    }

    /// restore_command: 1 only for "not archived", 126 for everything else (recovery stops).
    @Test(arguments: ExitCodeMappingTests.expected.map(\.0))
    func walFetchExits1OnlyForNotArchived(code: TidemarkError.Code) async {
        let status = await status("wal-fetch", fetch: true, throwing: TidemarkError(code, "x"))
        #expect(status == (code == .notFound ? 1 : 126), "\(code)")
    }

    @Test func anUnexpectedErrorIsAnIOFailure() async {
        struct Odd: Error {}
        #expect(await status("info", throwing: Odd()) == 7)
        #expect(await status("wal-push", throwing: Odd()) == 7)
        #expect(await status("wal-fetch", fetch: true, throwing: Odd()) == 126)
    }

    /// ArgumentParser's statuses become 126 for wal-fetch (a usage error in restore_command must
    /// stop recovery), except success (0, for --help) and "not archived" (1).
    @Test func aUsageErrorOfWALFetchStopsRecovery() {
        #expect(ExitStatus.parseFailure(64, fetch: true) == 126)
        #expect(ExitStatus.parseFailure(64, fetch: false) == 64)
        #expect(ExitStatus.parseFailure(0, fetch: true) == 0)
        #expect(ExitStatus.parseFailure(1, fetch: true) == 1)
        #expect(ExitStatus.parseFailure(126, fetch: true) == 126)
    }
}
