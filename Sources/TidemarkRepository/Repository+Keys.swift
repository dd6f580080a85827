#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkCodec
import TidemarkStorage
import TidemarkCore
import TidemarkSystem

/// One key slot as `tidemark key list` shows it: never key material.
public struct KeySlotSummary: Codable, Sendable, Equatable {
    public var name: String
    /// `hkdf-sha256` or `scrypt N=2^15 r=8 p=1`.
    public var kdf: String
    /// ISO 8601 UTC: when this slot's key was set.
    public var created: String
    /// The configured key opens this slot.
    public var configuredKey: Bool
}

/// One repository's slots for `tidemark key list` (docs/keys.md).
public struct KeyListing: Codable, Sendable {
    public var repository: String
    public var location: String
    public var slots: [KeySlotSummary]

    public init(repository: String, location: String, slots: [KeySlotSummary]) {
        self.repository = repository
        self.location = location
        self.slots = slots
    }
}

/// What a key command does (`Engine.key(_:report:)`); `source` names where the new key came from, for messages.
public enum KeyOperation: Sendable {
    case change(new: Secret, source: String)
    case add(name: String, new: Secret, source: String)
    case remove(name: String)
}

/// The key commands on one repository (docs/keys.md). Each rewrites `tidemark.repo` only: the
/// data key is re-wrapped, nothing is re-encrypted. Each runs under the stanza lock it is given,
/// opens the repository with the configured key (`current`), and publishes the new config with
/// one atomic replace (`publish`), so a kill at any point leaves the old config or the new one.
/// Each returns a line for the operator (without the repository's name).
extension Repository {
    /// `key change`: the slot `current` opens is re-wrapped under `new`. A repository the new
    /// key opens and the current one does not is already done (a re-run after a partial one).
    public static func changeKey(to new: Secret, current: Secret, store: any ObjectStore, lock: RepositoryLock, now: Date) async throws -> String {
        try await lock.withLease(command: "key change") { lease in
            let config = try await requireConfig(store)
            let viaNew = try? await open(store: store, passphrase: new, config: config)
            let viaCurrent: Repository?
            do {
                viaCurrent = try await open(store: store, passphrase: current, config: config)
            } catch let e as TidemarkError where e.code == .wrongKey {
                viaCurrent = nil
            }
            switch (viaCurrent, viaNew) {
            case (nil, let done?):
                return "already changed: the new key opens key slot '\(done.slot)' and the configured key no longer does"
            case (nil, nil):
                _ = try await openChecked(store: store, passphrase: current, config: config)  // throws the precise error
                throw TidemarkError(.wrongKey, "the encryption key does not open repository '\(store.location)' (wrong key)")
            case (let repo?, let other?):
                throw TidemarkError(.invalidInput, "the new key already opens key slot '\(other.slot)' of repository '\(store.location)'; the configured key opens slot '\(repo.slot)'",
                                    hints: ["to retire the configured key, configure the new key and run `tidemark key remove --name \(repo.slot)`"])
            case (let repo?, nil):
                let wrapped = try await BlockingPool.shared.run("wrap the repository key") { try WrappedKey.wrap(repo.key, secret: new.bytes) }
                let slots = config.keySlots.map { $0.name == repo.slot ? KeySlot(name: $0.name, created: now.formatted(.iso8601), wrappedKey: wrapped) : $0 }
                try await publish(try config.replacingSlots(slots, key: repo.key), store: store, lease: lease, opensWith: new)
                return "key slot '\(repo.slot)' now opens with the new key (\(wrapped.kdfDescription)); the old key no longer opens it"
            }
        }
    }

    /// `key add --name NAME`: a new slot wrapping the data key under `new`. A slot of that name
    /// the new key already opens is left as it is (a re-run); any other slot of that name, or a
    /// key that already opens a slot, is refused (exit 9).
    public static func addKeySlot(named name: String, secret new: Secret, current: Secret, store: any ObjectStore,
                                  lock: RepositoryLock, now: Date) async throws -> String {
        try KeySlot.validate(name: name)
        return try await lock.withLease(command: "key add") { lease in
            let config = try await requireConfig(store)
            let repo = try await openChecked(store: store, passphrase: current, config: config)
            let opened = try? await BlockingPool.shared.run("unwrap the repository key") { try unlock(config, secret: new) }
            if let opened {
                if opened.slot == name { return "key slot '\(name)' is already there and opens with this key" }
                throw TidemarkError(.invalidInput, "this key already opens key slot '\(opened.slot)' of repository '\(store.location)'",
                                    hints: ["a slot is worth adding only with a key of its own: generate one (head -c 32 /dev/urandom | base64 > FILE)"])
            }
            if config.keySlots.contains(where: { $0.name == name }) {
                throw TidemarkError(.invalidInput, "repository '\(store.location)' already has a key slot named '\(name)'",
                                    hints: ["choose another --name (`tidemark key list` shows the slots), or remove that slot first"])
            }
            if config.keySlots.count >= RepositoryConfig.maximumSlots {
                throw TidemarkError(.invalidInput, "repository '\(store.location)' has \(RepositoryConfig.maximumSlots) key slots, the most it may hold",
                                    hints: ["remove one first (`tidemark key list` shows them)"])
            }
            let wrapped = try await BlockingPool.shared.run("wrap the repository key") { try WrappedKey.wrap(repo.key, secret: new.bytes) }
            let slots = config.keySlots + [KeySlot(name: name, created: now.formatted(.iso8601), wrappedKey: wrapped)]
            try await publish(try config.replacingSlots(slots, key: repo.key), store: store, lease: lease, opensWith: new)
            return "added key slot '\(name)' (\(wrapped.kdfDescription))"
        }
    }

    /// `key remove --name NAME`; nil when the repository has no such slot. The last slot and the
    /// slot the configured key opens are refused (exit 9): after a removal the configured key
    /// still opens the repository, and some key always does.
    public static func removeKeySlot(named name: String, current: Secret, store: any ObjectStore, lock: RepositoryLock) async throws -> String? {
        try await lock.withLease(command: "key remove") { lease in
            let config = try await requireConfig(store)
            let repo = try await openChecked(store: store, passphrase: current, config: config)
            guard config.keySlots.contains(where: { $0.name == name }) else { return nil }
            if config.keySlots.count == 1 {
                throw TidemarkError(.invalidInput, "key slot '\(name)' is the last one of repository '\(store.location)': without it no key opens the repository",
                                    hints: ["add another first (tidemark key add --name NAME --key-file FILE), then remove this one with that key configured"])
            }
            if repo.slot == name {
                throw TidemarkError(.invalidInput, "key slot '\(name)' is the one the configured key opens in repository '\(store.location)'; removing it would lock this configuration out",
                                    hints: ["configure the key of another slot (BACKUP_ENCRYPTION_KEY_FILE), check that it opens (tidemark key list), then remove '\(name)'"])
            }
            try await publish(try config.replacingSlots(config.keySlots.filter { $0.name != name }, key: repo.key), store: store, lease: lease, opensWith: current)
            return "removed key slot '\(name)'"
        }
    }

    /// `key list`: the slots, and which one `secret` (the configured key, if any) opens. A
    /// config that fails authentication under that key is an error, not a listing.
    public static func keySlotSummaries(store: any ObjectStore, secret: Secret?) async throws -> [KeySlotSummary] {
        let config = try await requireConfig(store)
        var opened: String?
        if let secret {
            do {
                opened = try await open(store: store, passphrase: secret, config: config).slot
            } catch let e as TidemarkError where e.code == .wrongKey {
                opened = nil
            }
        }
        return config.keySlots.map { KeySlotSummary(name: $0.name, kdf: $0.wrappedKey.kdfDescription, created: $0.created, configuredKey: $0.name == opened) }
    }

    private static func requireConfig(_ store: any ObjectStore) async throws -> RepositoryConfig {
        guard let config = try await readConfig(store: store) else { throw try await missingRepositoryError(store) }
        return config
    }

    /// Replaces `tidemark.repo` with `config` in one atomic write (a file-system store fsyncs a
    /// temporary file and renames it over the old one; an S3 PUT replaces the object whole),
    /// after proving in memory that the new bytes decode and open with `key`, and while the
    /// lease is held; then reads it back.
    package static func publish(_ config: RepositoryConfig, store: any ObjectStore, lease: Lease, opensWith key: Secret) async throws {
        let bytes = try config.encoded()
        _ = try await open(store: store, passphrase: key, config: try decodeConfig(bytes, store: store))
        try lease.checkHeld()
        do {
            _ = try await store.put(RepositoryLayout.configKey, bytes: bytes, ifAbsent: false)
            guard try await store.get(RepositoryLayout.configKey) == bytes else {
                throw TidemarkError(.io, "repository config '\(store.location)/\(RepositoryLayout.configKey)' reads back different from what was written",
                                    hints: ["another key command may have run at the same time: run `tidemark key list` and repeat the command"])
            }
        } catch let e as TidemarkError {
            throw e
        } catch {
            throw TidemarkError.wrap(error, doing: "write repository config in '\(store.location)'")
        }
    }
}

/// The rule for new keys, as a configuration error (exit 3) with the way to a good key.
public enum KeyPolicy {
    public static let generateHint = "generate a key file: head -c 32 /dev/urandom | base64 > /etc/tidemark/key && chmod 600 /etc/tidemark/key"

    /// Refuses `secret` when `PassphraseRule` finds it weak; `what` names it ("the new key (key file /k)").
    public static func requireStrong(_ secret: Secret, what: String) throws {
        guard let weakness = PassphraseRule.weakness(of: secret.bytes) else { return }
        throw TidemarkError(.configuration, "refusing \(what): it \(weakness)",
                            hints: [generateHint, "then point BACKUP_ENCRYPTION_KEY_FILE (or encryptionKeyFile) at it; docs/keys.md"])
    }

    /// Refuses the new key of `key change` / `key add` when it is weak (exit 3) or the configured key itself (exit 9).
    public static func checkNewKey(_ new: Secret, source: String, current: Secret, currentSource: String) throws {
        try requireStrong(new, what: "the new key (\(source))")
        if new.bytes == current.bytes {
            throw TidemarkError(.invalidInput, "the new key (\(source)) is the configured key (\(currentSource))",
                                hints: ["give a different key: \(generateHint)"])
        }
    }
}
