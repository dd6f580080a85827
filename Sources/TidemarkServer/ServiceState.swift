#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkCore
import TidemarkPolicy
import TidemarkSystem

/// What the service remembers between runs, in `<stateDirectory>/<stanza>.state.json` (0600):
/// each job's last run and counts, the open incidents, the successes the next daily summary
/// reports, and the storage samples the weekly report's growth comes from. `serve` and
/// `run-job` both update it, each change under the state lock, so cron-driven runs show up in
/// `tidemark schedule` and the service's metrics alike.
public struct ServiceState: Codable, Sendable, Equatable {
    public struct JobRecord: Codable, Sendable, Equatable {
        /// The fire time the last run was for (catch-up counts from it).
        public var lastScheduledFor: Date?
        public var lastStarted: Date?
        public var lastFinished: Date?
        /// succeeded, failed, timedOut, cancelled, or running (with `pid`).
        public var lastOutcome: String?
        public var lastError: String?
        public var lastHints: [String]?
        public var lastExitCode: Int32?
        public var lastDurationSeconds: Double?
        public var lastLate: Bool?
        /// The process running it while `lastOutcome` is "running".
        public var pid: Int32?
        /// Runs by outcome since the state was created (tidemark_job_runs_total).
        public var runs: [String: Int] = [:]

        public init() {}
    }

    public struct Success: Codable, Sendable, Equatable {
        public var job: String
        public var finished: Date
        public var durationSeconds: Double
        public var detail: String?
    }

    public struct StorageSample: Codable, Sendable, Equatable {
        public var time: Date
        public var bytes: [String: Int64]
    }

    public var version = 1
    public var jobs: [String: JobRecord] = [:]
    public var incidents = IncidentTracker()
    public var successesSinceSummary: [Success] = []
    public var lastSummary: Date?
    public var lastReport: Date?
    /// One sample a day, at most 60.
    public var storage: [StorageSample] = []
    public var lastRehearsalRTOSeconds: Double?
    public var lastRehearsalSuccess: Date?
    public var lastVerifySuccess: Date?

    public init() {}

    /// The last fire time each job ran for, for the scheduler's catch-up.
    public var lastRuns: [String: Date] {
        jobs.compactMapValues { $0.lastScheduledFor ?? $0.lastStarted }
    }

    /// Adds a storage sample unless one was taken within the last 20 hours.
    public mutating func sampleStorage(_ bytes: [String: Int64], at now: Date) {
        if let last = storage.last, now.timeIntervalSince(last.time) < 20 * 3600 { return }
        storage.append(StorageSample(time: now, bytes: bytes))
        if storage.count > 60 { storage.removeFirst(storage.count - 60) }
    }
}

/// The state file and its lock. Every change is read, modified and written back atomically
/// (temporary file, fsync, rename) under the lock.
public struct ServiceStateStore: Sendable {
    public let path: String
    var lockPath: String { path + ".lock" }

    public init(directory: String, stanza: String) {
        path = directory + "/" + stanza + ".state.json"
    }

    public func load() throws -> ServiceState {
        let bytes: [UInt8]?
        do {
            bytes = try FileIO.readAll(path)
        } catch {
            throw TidemarkError(.io, "unable to read the service state '\(path)': \(error)")
        }
        guard let bytes else { return ServiceState() }
        do {
            return try Self.decoder.decode(ServiceState.self, from: Data(bytes))
        } catch {
            throw TidemarkError(.configuration, "the service state '\(path)' is not readable: \(error)",
                                hints: ["move it aside; the service starts afresh (last runs and open incidents are forgotten)"])
        }
    }

    /// Applies `change` to the current state under the lock and saves the result.
    @discardableResult
    public func update<T: Sendable>(_ change: @Sendable (inout ServiceState) throws -> T) async throws -> T {
        let lock = LocalLock(path: lockPath)
        try await lock.acquireBlocking()
        defer { lock.release() }
        var state = try load()
        let result = try change(&state)
        try save(state)
        return result
    }

    func save(_ state: ServiceState) throws {
        let data: Data
        do {
            data = try Self.encoder.encode(state)
        } catch {
            throw TidemarkError(.io, "unable to encode the service state: \(error)")
        }
        do {
            let root = FileIO.parent(path)
            try FileIO.createDirectoryPath(root)
            let file = try FileIO.TempFile.create(finalPath: path, root: root)
            try file.write([UInt8](data))
            _ = try file.commit(ifAbsent: false)
        } catch {
            throw TidemarkError(.io, "unable to write the service state '\(path)': \(error)",
                                hints: ["the state directory must be writable by the service's user (serve.stateDirectory)"])
        }
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .iso8601
        e.outputFormatting = [.sortedKeys, .prettyPrinted]
        return e
    }()

    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }()
}
