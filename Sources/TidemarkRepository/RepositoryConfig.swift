#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkCodec
import TidemarkCore

/// The repository configuration object (`tidemark.repo`): plain JSON so that `info` can say
/// what a repository is before any key is given, authenticated by a MAC under the data key.
///
/// Version 1 holds one `wrappedKey`; version 2 a list of named key `slots`, each a wrapping of
/// the same data key under a different secret (like LUKS key slots). A version-1 config reads
/// as one slot named `default` and is written back as version 2 only by a key command; `init`
/// writes version 2 (docs/format.md, "tidemark.repo").
public struct RepositoryConfig: Codable, Sendable, Equatable {
    public var format: String
    public var version: Int
    public var created: String
    public var cipher: String
    /// Version 1 only.
    public var wrappedKey: WrappedKey?
    /// Version 2 only.
    public var slots: [KeySlot]?
    /// HMAC-SHA256 (hex) over the canonical JSON of every other field.
    public var mac: String

    public static let formatName = "tidemark-repository"
    public static let currentVersion = 2
    /// The name a version-1 config's one wrapping goes by.
    public static let defaultSlotName = "default"
    /// Opening may try every slot before the MAC can be checked: a tampered config must not
    /// make it run scrypt without end.
    public static let maximumSlots = 16

    /// A version-2 config holding `slots`, its MAC computed under `key`.
    package init(created: String, slots: [KeySlot], key: RepositoryKey) throws {
        format = Self.formatName
        version = Self.currentVersion
        self.created = created
        cipher = "aes-256-gcm"
        self.slots = slots
        mac = ""
        mac = hexString(key.mac(try canonicalBytes(), purpose: "repository-config"))
    }

    /// Every slot; a version-1 config's one wrapping as slot `default`.
    public var keySlots: [KeySlot] {
        slots ?? wrappedKey.map { [KeySlot(name: Self.defaultSlotName, created: created, wrappedKey: $0)] } ?? []
    }

    /// The data key's id (hex), the same in every slot (`validated`).
    public var keyID: String { keySlots.first?.wrappedKey.keyID ?? "" }

    /// This config with `slots` in place of its own, as version 2, MAC under `key`.
    package func replacingSlots(_ slots: [KeySlot], key: RepositoryKey) throws -> RepositoryConfig {
        var copy = self
        copy.version = Self.currentVersion
        copy.wrappedKey = nil
        copy.slots = slots
        copy.mac = ""
        copy.mac = hexString(key.mac(try copy.canonicalBytes(), purpose: "repository-config"))
        return copy
    }

    package func canonicalBytes() throws -> [UInt8] {
        var copy = self
        copy.mac = ""
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(copy))
    }

    /// The bytes stored as `tidemark.repo`.
    package func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return Array(try encoder.encode(self)) + [10]
    }

    /// Why the config is not well formed for its version (nil: it is): the key fields of the
    /// version, unique slot names, one key id.
    package var malformation: String? {
        switch version {
        case 1:
            if wrappedKey == nil || slots != nil { return "a version-1 config holds exactly one wrappedKey" }
        default:
            guard wrappedKey == nil, let slots, !slots.isEmpty else { return "a version-2 config holds a non-empty list of slots" }
            if slots.count > Self.maximumSlots { return "it holds more than \(Self.maximumSlots) key slots" }
            if Set(slots.map(\.name)).count != slots.count { return "two key slots have the same name" }
            if Set(slots.map(\.wrappedKey.keyID)).count != 1 { return "its key slots wrap different keys" }
        }
        return nil
    }
}

/// One wrapping of the data key: a name the operator gave it (`default`, `recovery`), when it
/// was made, and the wrapped key.
public struct KeySlot: Codable, Sendable, Equatable {
    public var name: String
    /// ISO 8601 UTC.
    public var created: String
    public var wrappedKey: WrappedKey

    public init(name: String, created: String, wrappedKey: WrappedKey) {
        self.name = name
        self.created = created
        self.wrappedKey = wrappedKey
    }

    /// Refuses a name that is not 1–64 letters, digits, `.`, `_` or `-` (starting with a letter or digit).
    public static func validate(name: String) throws {
        let allowed = name.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || [45, 46, 95].contains($0) }
        guard (1...64).contains(name.utf8.count), allowed, let first = name.utf8.first, ![45, 46, 95].contains(first) else {
            throw TidemarkError(.invalidInput, "'\(name)' is not a key slot name",
                                hints: ["use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. recovery)"])
        }
    }
}
