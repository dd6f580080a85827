import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Where finished log lines go: one call per line, the line ending in "\n".
struct LogSink: Sendable {
    let write: @Sendable (String) -> Void

    /// stderr (fd 2), which is the server log for `wal-push` and `wal-fetch`.
    static let standardError = LogSink { writeStderr($0) }
}

/// One log event, ready to render: the handler's, the provider's and the call's metadata merged
/// (the call wins), secrets redacted (`LogRedaction`).
struct LogRecord: Sendable {
    var level: Logger.Level
    var label: String
    var message: String
    var metadata: Logger.Metadata
    var error: String?
}

/// The executable's swift-log handler: lines on stderr in the `--log-format` chosen, from
/// `--log-level` up. Libraries only ever see a `Logger`.
struct TidemarkLogHandler: LogHandler {
    let label: String
    let format: LogFormat
    let sink: LogSink
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    /// The JSON line's `time` field; a parameter so that tests can fix it.
    var clock: @Sendable () -> String = LogTime.now

    init(label: String, level: Logger.Level, format: LogFormat, sink: LogSink,
         metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider) {
        self.label = label
        self.logLevel = level
        self.format = format
        self.sink = sink
        self.metadataProvider = metadataProvider
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let own = event.metadata { merged.merge(own) { _, new in new } }
        let record = LogRedaction.redact(LogRecord(
            level: event.level, label: label, message: event.message.description, metadata: merged,
            error: event.error.map { String(describing: $0) }))
        switch format {
        case .text: sink.write(TextLogFormat.line(record))
        case .json: sink.write(JSONLogFormat.line(record, time: clock()))
        }
    }
}

/// UTC wall-clock time as RFC 3339 with milliseconds (`2026-12-02T00:53:17.123Z`).
enum LogTime {
    @Sendable static func now() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        var seconds = spec.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return pad(Int(parts.tm_year) + 1900, 4) + "-" + pad(Int(parts.tm_mon) + 1, 2) + "-" + pad(Int(parts.tm_mday), 2)
            + "T" + pad(Int(parts.tm_hour), 2) + ":" + pad(Int(parts.tm_min), 2) + ":" + pad(Int(parts.tm_sec), 2)
            + "." + pad(Int(spec.tv_nsec) / 1_000_000, 3) + "Z"
    }
}
