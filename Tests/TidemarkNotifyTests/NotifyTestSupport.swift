import Foundation
import Logging
import Testing
import TidemarkCore
@testable import TidemarkNotify

/// Ours, not Foundation's `NSNotification` bridge.
typealias Notification = TidemarkNotify.Notification

extension Tag {
    @Tag static var small: Self
    @Tag static var large: Self
}

/// A notification like the service's failure message.
func sampleNotification(
    kind: Notification.Kind = .failure, title: String = "tidemark main@db1: backup 'incremental' failed",
    body: String = "unable to connect to PostgreSQL: connection refused\nHINT: is the server running?\nNo new restore point since 2026-12-01 03:00 UTC; PITR still possible up to 2026-12-02 16:40 UTC."
) -> Notification {
    Notification(
        kind: kind, severity: .critical, title: title, body: body,
        fields: [.init("job", "incremental"), .init("stanza", "main"), .init("duration", "3 s")], stanza: "main", host: "db1",
        time: Date(timeIntervalSince1970: 1_796_227_200), incidentKey: "main/backup-failed")
}

/// A swift-log handler that keeps every line (message and metadata) for the tests to read.
final class RecordingLog: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [(level: Logger.Level, message: String, metadata: [String: String])] = []

    var logger: Logger {
        Logger(label: "test") { _ in Handler(log: self) }
    }

    func append(_ level: Logger.Level, _ message: String, _ metadata: [String: String]) {
        lock.lock()
        entries.append((level, message, metadata))
        lock.unlock()
    }

    var lines: [(level: Logger.Level, message: String, metadata: [String: String])] {
        lock.lock()
        defer { lock.unlock() }
        return entries
    }

    /// Everything logged, as one text (to search for secrets).
    var allText: String {
        lines.map { "\($0.message) \($0.metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))" }
            .joined(separator: "\n")
    }

    struct Handler: LogHandler {
        let log: RecordingLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
            let all = self.metadata.merging(metadata ?? [:]) { $1 }
            log.append(level, message.description, all.mapValues { "\($0)" })
        }
    }
}

/// A channel whose outcome the test scripts: fails the first `failures` sends with `error`.
final class ScriptedChannel: NotificationChannel, @unchecked Sendable {
    let name: String
    private let lock = NSLock()
    private var remainingFailures: Int
    private let error: TidemarkError
    private let delay: Duration
    private(set) var sent: [Notification] = []
    private(set) var attempts = 0

    init(name: String, failures: Int = 0, error: TidemarkError = TidemarkError(.io, "scripted failure"), delay: Duration = .zero) {
        self.name = name
        self.remainingFailures = failures
        self.error = error
        self.delay = delay
    }

    func send(_ n: Notification) async throws {
        if delay > .zero { try await Task.sleep(for: delay) }
        if let error = record(n) { throw error }
    }

    private func record(_ n: Notification) -> TidemarkError? {
        lock.lock()
        defer { lock.unlock() }
        attempts += 1
        if remainingFailures > 0 {
            remainingFailures -= 1
            return error
        }
        sent.append(n)
        return nil
    }

    var sentTitles: [String] {
        lock.lock()
        defer { lock.unlock() }
        return sent.map(\.title)
    }

    var attemptCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return attempts
    }
}

/// Collects values from a `@Sendable` callback.
final class Collected<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [T] = []
    func append(_ item: T) {
        lock.lock()
        items.append(item)
        lock.unlock()
    }
    var values: [T] {
        lock.lock()
        defer { lock.unlock() }
        return items
    }
}
