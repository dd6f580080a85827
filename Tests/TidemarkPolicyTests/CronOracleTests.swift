#if canImport(FoundationEssentials)
import FoundationEssentials
#endif
import Foundation
import Testing
@testable import TidemarkPolicy

/// CronSchedule against croniter 7 (scripts/cron-oracle/generate_cron_oracle.py): the committed
/// fixture, and a fresh one generated live with a new seed.
@Suite("Cron oracle")
struct CronOracleTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let generator = repository.appendingPathComponent("scripts/cron-oracle/generate_cron_oracle.py")
    static let fixture = repository.appendingPathComponent("scripts/cron-oracle/cron-oracle.json")

    @Test func theCommittedFixtureMatches() throws {
        let oracle = try OracleFile.decode(Data(contentsOf: Self.fixture))
        #expect(oracle.croniter == "7.0.0")
        #expect(oracle.cases.count >= 9000)
        #expect(Set(oracle.cases.map(\.zone)) == ["UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe"])
        let nearChanges = try oracle.cases.filter { try $0.isNearOffsetChange() }.count
        #expect(nearChanges >= 4000, "only \(nearChanges) cases near a DST change")
        #expect(oracle.errors.count >= 300)
        // d#n in the day of week (the n-th weekday of the month), also on the DST change days.
        let nth = oracle.cases.filter { $0.expression.contains("#") }
        #expect(nth.count >= 500, "only \(nth.count) d#n cases")
        #expect(Set(nth.map(\.zone)) == ["UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe"])
        let nthNearChanges = try nth.filter { try $0.isNearOffsetChange() }.count
        #expect(nthNearChanges >= 200, "only \(nthNearChanges) d#n cases near a DST change")
        #expect(oracle.errors.filter { $0.expression.contains("#") }.count >= 100)
        try Self.check(oracle)
    }

    /// A fresh seed each run: python3 and croniter are installed by scripts/test.sh, and their
    /// absence is a failure.
    @Test func aFreshlyGeneratedOracleMatches() async throws {
        let seed = UInt32.random(in: 1...UInt32.max)
        let output = try await Self.runGenerator(["--seed", String(seed), "--cases", "300", "--errors", "40",
                                                        "--nth-cases", "60", "--nth-errors", "20", "--output", "-"])
        let oracle = try OracleFile.decode(output)
        #expect(oracle.seed == Int(seed))
        #expect(oracle.cases.count == 360)
        #expect(oracle.cases.filter { $0.expression.contains("#") }.count == 60)
        try Self.check(oracle, label: "seed \(seed)")
    }

    static func check(_ oracle: OracleFile, label: String = "fixture") throws {
        var failures: [String] = []
        var zones: [String: TimeZone] = [:]
        for c in oracle.cases {
            let zone = try zones[c.zone] ?? #require(TimeZone(identifier: c.zone), "unknown zone \(c.zone)")
            zones[c.zone] = zone
            let expression: CronExpression
            do {
                expression = try CronExpression.parse(c.expression)
            } catch {
                failures.append("'\(c.expression)': refused (\(error)), croniter accepts it")
                continue
            }
            let got = CronSchedule(expression, timeZone: zone)
                .nextRuns(after: Date(timeIntervalSince1970: TimeInterval(c.start)), count: oracle.runs)
                .map { Int64($0.timeIntervalSince1970) }
            if got != c.runs {
                failures.append("'\(c.expression)' in \(c.zone) after \(c.start) (\(Self.local(c.start, zone))): "
                                + "croniter \(c.runs.map { Self.local($0, zone) }), tidemark \(got.map { Self.local($0, zone) })")
            }
        }
        for e in oracle.errors {
            do {
                let parsed = try CronExpression.parse(e.expression)
                failures.append("'\(e.expression)' parsed as \(parsed), expected an error (\(e.croniter))")
            } catch {
                if let field = e.field, error.field != field {
                    failures.append("'\(e.expression)': error names field \(error.field ?? "none"), expected \(field): \(error)")
                }
                if error.hint.isEmpty || error.message.isEmpty { failures.append("'\(e.expression)': error without message or hint") }
            }
        }
        let report = "\(label): \(failures.count) of \(oracle.cases.count + oracle.errors.count) cases differ:\n"
            + failures.prefix(25).joined(separator: "\n")
        let allMatch = failures.isEmpty
        #expect(allMatch, Comment(rawValue: report))
    }

    static func local(_ t: Int64, _ zone: TimeZone) -> String {
        let date = Date(timeIntervalSince1970: TimeInterval(t))
        var c = Calendar(identifier: .gregorian)
        c.timeZone = zone
        let d = c.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: date)
        let off = zone.secondsFromGMT(for: date)
        func p(_ n: Int?) -> String { let s = String(n ?? 0); return s.count < 2 ? "0" + s : s }
        return "\(d.year ?? 0)-\(p(d.month))-\(p(d.day)) \(p(d.hour)):\(p(d.minute)):\(p(d.second)) \(off >= 0 ? "+" : "-")\(abs(off) / 3600):\(p(abs(off) % 3600 / 60))"
    }

    /// Runs the generator with python3, off the cooperative pool; its failure fails the test.
    static func runGenerator(_ arguments: [String]) async throws -> Data {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Data, any Error>) in
            let thread = Thread {
                do {
                    let process = Process()
                    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                    process.arguments = ["python3", Self.generator.path] + arguments
                    let out = Pipe(), err = Pipe()
                    process.standardOutput = out
                    process.standardError = err
                    try process.run()
                    let data = out.fileHandleForReading.readDataToEndOfFile()
                    let message = err.fileHandleForReading.readDataToEndOfFile()
                    process.waitUntilExit()
                    guard process.terminationStatus == 0 else {
                        let text = String(decoding: message, as: UTF8.self)
                        throw OracleError(description: "the cron oracle generator failed (exit \(process.terminationStatus)); "
                                          + "scripts/test.sh installs python3 and croniter (tm_ensure_croniter): \(text)")
                    }
                    continuation.resume(returning: data)
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.start()
        }
    }
}

struct OracleError: Error, CustomStringConvertible {
    var description: String
}

/// The oracle's JSON (see the generator's docstring).
struct OracleFile: Decodable {
    struct Case: Decodable {
        var expression: String
        var zone: String
        var start: Int64
        var runs: [Int64]

        init(from decoder: any Decoder) throws {
            var c = try decoder.unkeyedContainer()
            expression = try c.decode(String.self)
            zone = try c.decode(String.self)
            start = try c.decode(Int64.self)
            runs = try c.decode([Int64].self)
        }

        /// The zone changes its offset within a day of the start or before the last run.
        func isNearOffsetChange() throws -> Bool {
            let tz = try #require(TimeZone(identifier: zone))
            let end = max(start, runs.last ?? start)
            func off(_ t: Int64) -> Int { tz.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(t))) }
            return off(start - 86_400) != off(start + 86_400) || (end - start < 86_400 * 3 && off(start) != off(end))
        }
    }

    struct ExpectedError: Decodable {
        var expression: String
        var field: String?
        var croniter: String

        init(from decoder: any Decoder) throws {
            var c = try decoder.unkeyedContainer()
            expression = try c.decode(String.self)
            field = try c.decodeNil() ? nil : c.decode(String.self)
            croniter = try c.decode(String.self)
        }
    }

    var croniter: String
    var seed: Int
    var runs: Int
    var cases: [Case]
    var errors: [ExpectedError]

    static func decode(_ data: Data) throws -> OracleFile {
        try JSONDecoder().decode(OracleFile.self, from: data)
    }
}
