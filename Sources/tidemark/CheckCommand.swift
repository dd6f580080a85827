import ArgumentParser
import Tidemark
import TidemarkSystem
import TidemarkRepository
import TidemarkArchive
import TidemarkBackup
import TidemarkCore

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Check the server and repository setup end to end (exit 0 only when all holds).")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .long, help: "Print JSON: {\"status\": ..., \"checks\": [...]} (docs/check-json.md).") var json = false

    func run() async throws {
        try await Tidemark_run("check") {
            let results = try await Engine(global.load(), logger: makeLogger()).check()
            if json {
                print(try jsonText(CheckJSON(results)))
            } else {
                for r in results {
                    switch r.status {
                    case .ok:
                        print("ok    \(r.message)")
                    case .failed, .warning:
                        print("\(r.status == .failed ? "FAIL" : "WARN")  \(r.what): \(r.message)")
                        if let fix = r.hint { print("      fix: \(fix)") }
                    }
                }
            }
            let failed = results.filter { $0.status == .failed }
            // The exit status is that of the first failure (docs/exit-codes.md): 7 when the
            // server cannot be reached, 3 for settings, the repository's own code for it.
            if let first = failed.first {
                throw TidemarkError(first.code ?? .configuration, "\(failed.count) check(s) failed")
            }
        }
    }
}

/// `check --json` (docs/check-json.md).
struct CheckJSON: Encodable {
    struct Check: Encodable {
        var name: String
        var status: String
        var message: String
        var hint: String?

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name)
            try c.encode(status, forKey: .status)
            try c.encode(message, forKey: .message)
            try c.encode(hint, forKey: .hint)   // null for ok
        }

        enum CodingKeys: String, CodingKey {
            case name, status, message, hint
        }
    }

    var status: String
    var checks: [Check]

    init(_ results: [CheckResult]) {
        status = results.overallStatus.rawValue
        checks = results.map { r in
            Check(name: r.name, status: r.status.rawValue, message: r.status == .ok ? r.message : "\(r.what): \(r.message)", hint: r.hint)
        }
    }
}
