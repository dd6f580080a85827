#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What `wal-push` and the archiver say over the socket (docs/archiver.md, "The socket"): one
/// JSON object per line, at most `maxLineBytes`.
///
///     archiver → {"tidemark":"archiver","version":1,"salt":"<64 hex>"}
///     client   → {"version":1,"ask":"<file name>","path":"<absolute path>","identity":"<64 hex>"}
///     archiver → {"state":"durable"} | {"state":"failed","reason":"…"}
///              | {"state":"pushing"} and later one of the two above
///
/// `durable` may carry `notices` (lines wal-push prints, such as an optional repository's
/// alert). Anything the client does not understand counts as no answer: it pushes itself.
public enum ArchiverProtocol {
    public static let version = 1
    public static let maxLineBytes = 16 << 10

    public struct Greeting: Codable, Sendable, Equatable {
        public var tidemark = "archiver"
        public var version = ArchiverProtocol.version
        public var salt: String
        public init(salt: String) { self.salt = salt }
    }

    public struct Request: Codable, Sendable, Equatable {
        public var version = ArchiverProtocol.version
        /// The file's name (its basename in pg_wal).
        public var ask: String
        /// The file's absolute path, as wal-push sees it.
        public var path: String
        public var identity: String
        public init(ask: String, path: String, identity: String) {
            self.ask = ask
            self.path = path
            self.identity = identity
        }
    }

    public struct Reply: Codable, Sendable, Equatable {
        public enum State: String, Sendable { case durable, pushing, failed }
        public var state: State
        public var reason: String?
        public var notices: [String]?
        public init(_ state: State, reason: String? = nil, notices: [String]? = nil) {
            self.state = state
            self.reason = reason
            self.notices = notices
        }
        public var isFinal: Bool { state != .pushing }
    }

    /// `value` as one line (JSON without newlines, then "\n").
    public static func encode(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else { return Array("{}\n".utf8) }
        return Array(data) + [10]
    }

    /// One line (without its newline) decoded, nil when it is not a `T`.
    public static func decode<T: Decodable>(_ type: T.Type, _ line: [UInt8]) -> T? {
        guard line.count <= maxLineBytes else { return nil }
        return try? JSONDecoder().decode(T.self, from: Data(line))
    }

    /// Every field of every message. One key type for the three messages, written out by hand
    /// below: each CodingKeys type of its own costs wal-push a scan of every protocol
    /// conformance in the binary at its first use (about 0.3 ms per message type).
    enum Field: String, CodingKey {
        case tidemark, version, salt, ask, path, identity, state, reason, notices
    }
}

extension ArchiverProtocol.Greeting {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: ArchiverProtocol.Field.self)
        tidemark = try c.decode(String.self, forKey: .tidemark)
        version = try c.decode(Int.self, forKey: .version)
        salt = try c.decode(String.self, forKey: .salt)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: ArchiverProtocol.Field.self)
        try c.encode(tidemark, forKey: .tidemark)
        try c.encode(version, forKey: .version)
        try c.encode(salt, forKey: .salt)
    }
}

extension ArchiverProtocol.Request {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: ArchiverProtocol.Field.self)
        version = try c.decode(Int.self, forKey: .version)
        ask = try c.decode(String.self, forKey: .ask)
        path = try c.decode(String.self, forKey: .path)
        identity = try c.decode(String.self, forKey: .identity)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: ArchiverProtocol.Field.self)
        try c.encode(version, forKey: .version)
        try c.encode(ask, forKey: .ask)
        try c.encode(path, forKey: .path)
        try c.encode(identity, forKey: .identity)
    }
}

extension ArchiverProtocol.Reply {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: ArchiverProtocol.Field.self)
        let name = try c.decode(String.self, forKey: .state)
        guard let state = State(rawValue: name) else {
            throw DecodingError.dataCorruptedError(forKey: .state, in: c, debugDescription: "unknown state '\(name)'")
        }
        self.state = state
        reason = try c.decodeIfPresent(String.self, forKey: .reason)
        notices = try c.decodeIfPresent([String].self, forKey: .notices)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: ArchiverProtocol.Field.self)
        try c.encode(state.rawValue, forKey: .state)
        try c.encodeIfPresent(reason, forKey: .reason)
        try c.encodeIfPresent(notices, forKey: .notices)
    }
}
