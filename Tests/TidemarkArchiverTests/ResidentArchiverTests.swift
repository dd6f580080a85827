import Foundation
import Logging
import Synchronization
import Testing
import Tidemark
@testable import TidemarkArchiver
import TidemarkCore
import TidemarkTesting

/// The archiver's driver over a real socket and a real archive_status directory, with a push
/// that records what it was given (the real push is IntegrationTests' ArchiverIntegrationTests).
@Suite("ResidentArchiver")
struct ResidentArchiverTests {
    final class Pushes: Sendable {
        let done = Mutex<[String]>([])
        let failing = Mutex<Set<String>>([])
        let concurrent = Mutex<(now: Int, most: Int)>((0, 0))
    }

    struct Running {
        let scratch: ScratchDirectory
        let data: String
        let settings: ArchiverSettings
        let configuration: Configuration
        let archiver: ResidentArchiver
        let task: Task<Void, any Error>
    }

    static func start(_ pushes: Pushes, workers: Int = 2, key: String = "the right key") async throws -> Running {
        let scratch = try ScratchDirectory(prefix: "archiver-unit", mode: 0o700)
        let data = scratch.child("data")
        for dir in [data, data + "/global", data + "/pg_wal", data + "/pg_wal/archive_status"] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        }
        FileManager.default.createFile(atPath: data + "/global/pg_control", contents: Data([0]))
        let configuration = try ArchiverProtocolTests.configuration(key: key, dir: scratch.child("repo"))
        var section = ArchiverSection()
        section.workers = workers
        section.rescanSeconds = 0.2
        section.answerMilliseconds = 2000
        let settings = try ArchiverSettings.resolve(section, stanza: "main", dataDirectory: data)
        let archiver = ResidentArchiver(engine: Engine(configuration), settings: settings, dataDirectory: data,
                                        logger: Logger(label: "test")) { path in
            let name = (path as NSString).lastPathComponent
            pushes.concurrent.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
            try await Task.sleep(for: .milliseconds(30))
            pushes.concurrent.withLock { $0.now -= 1 }
            if pushes.failing.withLock({ $0.contains(name) }) { throw TidemarkError(.io, "store refused \(name)") }
            pushes.done.withLock { $0.append(name) }
            return []
        }
        let task = Task { try await archiver.run() }
        let deadline = Date().addingTimeInterval(10)
        while UnixConnection.connect(settings.socketPath) == nil {
            try #require(Date() < deadline, "the archiver never listened")
            try await Task.sleep(for: .milliseconds(20))
        }
        return Running(scratch: scratch, data: data, settings: settings, configuration: configuration, archiver: archiver, task: task)
    }

    static func segment(_ n: Int) -> String { String(format: "0000000100000000%08X", n) }

    static func makeReady(_ r: Running, _ names: [String]) {
        for name in names {
            FileManager.default.createFile(atPath: r.data + "/pg_wal/" + name, contents: Data(name.utf8))
            FileManager.default.createFile(atPath: r.data + "/pg_wal/archive_status/" + name + ".ready", contents: Data())
        }
    }

    @Test func readyFilesArePushedAheadAndAnAskIsAnsweredDurable() async throws {
        let pushes = Pushes()
        let r = try await Self.start(pushes, workers: 2)
        let names = (1...8).map(Self.segment)
        Self.makeReady(r, names)
        let deadline = Date().addingTimeInterval(20)
        while pushes.done.withLock({ $0.count }) < names.count {
            try #require(Date() < deadline, "pushed: \(pushes.done.withLock { $0 })")
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(pushes.done.withLock { $0 }.sorted() == names)
        #expect(pushes.concurrent.withLock { $0.most } <= 2)
        let outcome = await ArchiverClient.ask(settings: r.settings, configuration: r.configuration,
                                               path: r.data + "/pg_wal/" + names[3], pushSeconds: 10)
        #expect(outcome == .durable(notices: []))
        #expect(pushes.done.withLock { $0.count } == names.count, "a durable file is not pushed again")
        // Nothing in pg_wal was renamed or removed.
        #expect(FileManager.default.fileExists(atPath: r.data + "/pg_wal/archive_status/" + names[0] + ".ready"))
        r.archiver.requestStop()
        try await r.task.value
        #expect(!FileManager.default.fileExists(atPath: r.settings.socketPath), "the socket is removed on stop")
    }

    @Test func aFileHandedOverIsPushedThenAnsweredAndAFailureIsReported() async throws {
        let pushes = Pushes()
        let r = try await Self.start(pushes)
        let name = Self.segment(20)
        FileManager.default.createFile(atPath: r.data + "/pg_wal/" + name, contents: Data([1]))
        #expect(await ArchiverClient.ask(settings: r.settings, configuration: r.configuration, path: r.data + "/pg_wal/" + name,
                                         pushSeconds: 10) == .durable(notices: []))
        #expect(pushes.done.withLock { $0 } == [name])
        let bad = Self.segment(21)
        FileManager.default.createFile(atPath: r.data + "/pg_wal/" + bad, contents: Data([1]))
        pushes.failing.withLock { _ = $0.insert(bad) }
        let failed = await ArchiverClient.ask(settings: r.settings, configuration: r.configuration, path: r.data + "/pg_wal/" + bad,
                                              pushSeconds: 10)
        #expect(failed == .failed("store refused \(bad)"))
        r.archiver.requestStop()
        try await r.task.value
    }

    @Test(.timeLimit(.minutes(1))) func anotherKeyOrAFileElsewhereIsRefused() async throws {
        let pushes = Pushes()
        let r = try await Self.start(pushes)
        let name = Self.segment(30)
        Self.makeReady(r, [name])
        let wrong = try ArchiverProtocolTests.configuration(key: "a wrong key", dir: r.scratch.child("repo"))
        let outcome = await ArchiverClient.ask(settings: r.settings, configuration: wrong, path: r.data + "/pg_wal/" + name, pushSeconds: 10)
        guard case .failed(let reason) = outcome else { Issue.record("\(outcome)"); return }
        #expect(reason.contains("different configuration"))
        let elsewhere = r.scratch.child(name)
        FileManager.default.createFile(atPath: elsewhere, contents: Data([1]))
        let outside = await ArchiverClient.ask(settings: r.settings, configuration: r.configuration, path: elsewhere, pushSeconds: 10)
        guard case .failed(let why) = outside else { Issue.record("\(outside)"); return }
        #expect(why.contains("is not a file of"))
        // Three mismatches in a row (the matching ask above reset the count): the archiver gives
        // way to one with the new configuration.
        for _ in 0..<3 {
            _ = await ArchiverClient.ask(settings: r.settings, configuration: wrong, path: r.data + "/pg_wal/" + name, pushSeconds: 10)
        }
        try await r.task.value
        #expect(UnixConnection.connect(r.settings.socketPath) == nil, "the archiver stopped after three mismatches")
    }

    @Test func aSecondArchiverForTheSameSocketRefusesToStart() async throws {
        let pushes = Pushes()
        let r = try await Self.start(pushes)
        let second = ResidentArchiver(engine: Engine(r.configuration), settings: r.settings, dataDirectory: r.data,
                                      logger: Logger(label: "test")) { _ in [] }
        await #expect(throws: TidemarkError.self) { try await second.run() }
        #expect(UnixConnection.connect(r.settings.socketPath) != nil, "the first one still answers")
        r.archiver.requestStop()
        try await r.task.value
        // A socket file left behind by a dead archiver is no obstacle.
        let stale = try ArchiverListener(settings: r.settings)
        stale.close()
        #expect(await ArchiverClient.ask(settings: r.settings, configuration: r.configuration, path: r.data + "/pg_wal/x",
                                         pushSeconds: 1) == .absent)
    }
}
