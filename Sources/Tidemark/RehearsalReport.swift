#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkCore
import TidemarkSystem
import TidemarkRepository
import TidemarkArchive
import TidemarkBackup
import TidemarkCodec
import TidemarkStorage

/// The outcome of `tidemark rehearse` (`--json` prints it). Field names are an interface,
/// documented in docs/rehearsal.md; absent optional fields are written as null.
public struct RehearsalReport: Codable, Sendable {
    public struct Backup: Codable, Sendable {
        public var id: String
        public var type: String
        public var stopTime: String
        public var stopLSN: String
        public var timeline: UInt32
        public var postgresVersion: Int
        /// `newest`, `given` (--backup) or `random` (--random).
        public var chosen: String
    }

    public struct Target: Codable, Sendable {
        /// `time`, `lsn`, `xid`, `name`, `immediate` or `latest`.
        public var kind: String
        public var value: String?
        public var inclusive: Bool
        /// `random` (an instant in the window), `given`, or `latest` (the window was empty).
        public var chosen: String
        /// The recoverable window a random instant was drawn from (UTC).
        public var windowFrom: String?
        public var windowUntil: String?
    }

    public struct Completion: Codable, Sendable {
        public var xid: UInt32
        public var time: String
        public var lsn: String?
        /// `commit` or `abort`.
        public var kind: String
    }

    public struct Prediction: Codable, Sendable {
        public var timeline: UInt32
        /// The plan's stop point in words.
        public var stop: String
        /// The transaction recovery stops at (before or after it), when the stop is one.
        public var stopXid: UInt32?
        /// The last commit or abort replay applies; null when it applies none (the plan's last
        /// commit precedes the backup's start, or the archive shows none).
        public var lastCommit: Completion?
        public var segments: [String]
        public var replayBytes: UInt64
    }

    public struct Recovery: Codable, Sendable {
        /// Recovery ended and the server was promoted.
        public var completed: Bool
        /// `recovery stopping …` from the server log.
        public var stopLine: String?
        public var stopXid: UInt32?
        /// `last completed transaction was at log time …` (UTC).
        public var lastCommitTime: String?
        /// Predicted and actual last commit (and stop transaction) agree; null when the plan
        /// predicted none.
        public var matchesPlan: Bool?
        /// FATAL lines and wal-fetch errors quoted from the server log.
        public var logExcerpt: [String]
        /// The WAL segment and the repository object a failing fetch named.
        public var failedSegment: String?
        public var failedObject: String?
    }

    public struct Check: Codable, Sendable {
        public var name: String
        /// `builtin` or `sql`.
        public var kind: String
        public var database: String?
        /// `pass`, `fail` or `skip`.
        public var status: String
        public var expected: String?
        public var actual: String?
        public var detail: String?
    }

    public struct RTO: Codable, Sendable {
        /// Planning and restoring the backup.
        public var restoreSeconds: Double
        /// Server start until recovery ended (promotion).
        public var replaySeconds: Double
        public var totalSeconds: Double
    }

    /// `pass` or `fail`.
    public var status: String
    public var failures: [String]
    /// Replays the random choices: `tidemark rehearse --seed N`.
    public var seed: UInt64
    public var startedAt: String
    public var repository: String?
    public var backup: Backup?
    public var target: Target?
    public var predicted: Prediction?
    public var recovery: Recovery?
    public var checks: [Check]
    public var rto: RTO
    public var restoredBytes: Int64
    public var restoredFiles: Int
    /// `plan.replayBytes`: WAL between the backup's start and the stop.
    public var walReplayBytes: UInt64
    public var walSegments: Int
    public var scratch: String?
    /// The scratch cluster was left in place (--keep).
    public var kept: Bool
    public var port: Int?
    public var postgresBin: String?

    public var passed: Bool { status == "pass" }

    package enum CodingKeys: String, CodingKey {
        case status, failures, seed, startedAt, repository, backup, target, predicted, recovery, checks, rto, restoredBytes,
             restoredFiles, walReplayBytes, walSegments, scratch, kept, port, postgresBin
    }

    /// Writes null for absent optionals so every documented field is always present.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(status, forKey: .status)
        try c.encode(failures, forKey: .failures)
        try c.encode(seed, forKey: .seed)
        try c.encode(startedAt, forKey: .startedAt)
        try c.encode(repository, forKey: .repository)
        try c.encode(backup, forKey: .backup)
        try c.encode(target, forKey: .target)
        try c.encode(predicted, forKey: .predicted)
        try c.encode(recovery, forKey: .recovery)
        try c.encode(checks, forKey: .checks)
        try c.encode(rto, forKey: .rto)
        try c.encode(restoredBytes, forKey: .restoredBytes)
        try c.encode(restoredFiles, forKey: .restoredFiles)
        try c.encode(walReplayBytes, forKey: .walReplayBytes)
        try c.encode(walSegments, forKey: .walSegments)
        try c.encode(scratch, forKey: .scratch)
        try c.encode(kept, forKey: .kept)
        try c.encode(port, forKey: .port)
        try c.encode(postgresBin, forKey: .postgresBin)
    }


    package func quoted(_ s: String?) -> String {
        guard let s else { return "nothing" }
        return "'" + s.replacing("\n", with: "\\n") + "'"
    }

    package func seconds(_ v: Double) -> String { "\((v * 10).rounded() / 10) s" }
}
