#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkCodec
import TidemarkStorage
import TidemarkCore
import TidemarkSystem

/// An opened repository: its store, its data key, and what it was created with.
public struct Repository: Sendable {
    public let store: any ObjectStore
    public let key: RepositoryKey
    public let config: RepositoryConfig
    /// The name of the key slot the key opened.
    public var slot: String = RepositoryConfig.defaultSlotName

    /// Creates a repository in an empty (or missing) location.
    public static func initialize(store: any ObjectStore, passphrase: Secret, parameters: ScryptParameters? = nil,
                                  now: Date = Date()) async throws -> Repository {
        let existing: ObjectListing
        do {
            existing = try await store.list(prefix: "")
        } catch {
            throw TidemarkError.wrap(error, doing: "list repository '\(store.location)'")
        }
        if existing.objects.contains(where: { $0.key == RepositoryLayout.configKey }) {
            throw TidemarkError(.alreadyExists, "repository '\(store.location)' is already initialized",
                                hints: ["`tidemark info` shows what it holds; to start over, use a new, empty directory"])
        }
        guard existing.objects.isEmpty && existing.prefixes.isEmpty else {
            throw TidemarkError(.repository, "unable to initialize repository '\(store.location)': the directory is not empty and is not a Tidemark repository",
                                hints: ["point BACKUP_DIR at an empty or missing directory"])
        }
        let key = RepositoryKey.generate()
        // scrypt takes a noticeable time by design: never on a cooperative thread.
        let wrapped = try await BlockingPool.shared.run("wrap the repository key") {
            try parameters.map { try WrappedKey.wrap(key, passphrase: passphrase.bytes, parameters: $0) }
                ?? WrappedKey.wrap(key, secret: passphrase.bytes)
        }
        let created = now.formatted(.iso8601)
        let config = try RepositoryConfig(created: created, slots: [KeySlot(name: RepositoryConfig.defaultSlotName, created: created, wrappedKey: wrapped)],
                                          key: key)
        let bytes = try config.encoded()
        do {
            guard try await store.put(RepositoryLayout.configKey, bytes: bytes, ifAbsent: true) == .created else {
                throw TidemarkError(.alreadyExists, "repository '\(store.location)' was initialized by someone else just now")
            }
        } catch {
            throw TidemarkError.wrap(error, doing: "write repository config in '\(store.location)'")
        }
        return Repository(store: store, key: key, config: config)
    }

    /// Reads the repository config only (no key needed); nil when the location holds none.
    public static func readConfig(store: any ObjectStore) async throws -> RepositoryConfig? {
        let bytes: [UInt8]?
        do {
            bytes = try await store.get(RepositoryLayout.configKey)
        } catch {
            throw TidemarkError.wrap(error, doing: "read repository config in '\(store.location)'")
        }
        guard let bytes else { return nil }
        return try decodeConfig(bytes, store: store)
    }

    package static func decodeConfig(_ bytes: [UInt8], store: any ObjectStore) throws -> RepositoryConfig {
        let config: RepositoryConfig
        do {
            config = try JSONDecoder().decode(RepositoryConfig.self, from: Data(bytes))
        } catch {
            throw TidemarkError(.corrupt, "repository config '\(store.location)/\(RepositoryLayout.configKey)' is damaged: \(error)")
        }
        guard config.format == RepositoryConfig.formatName else {
            throw TidemarkError(.corrupt, "'\(store.location)/\(RepositoryLayout.configKey)' is not a Tidemark repository config")
        }
        guard config.version <= RepositoryConfig.currentVersion else {
            throw TidemarkError(.repository, "repository '\(store.location)' has format version \(config.version); this Tidemark reads up to \(RepositoryConfig.currentVersion)",
                                hints: ["upgrade tidemark: a newer Tidemark created or converted this repository; nothing is damaged"])
        }
        if let problem = config.malformation {
            throw TidemarkError(.corrupt, "repository config '\(store.location)/\(RepositoryLayout.configKey)' is damaged: \(problem)",
                                hints: ["restore it from a copy of the repository; do not edit it by hand"])
        }
        return config
    }

    /// Opens an initialized repository and unwraps its key.
    public static func open(store: any ObjectStore, passphrase: Secret) async throws -> Repository {
        guard let config = try await readConfig(store: store) else {
            throw try await missingRepositoryError(store)
        }
        return try await openChecked(store: store, passphrase: passphrase, config: config)
    }

    /// As `open(store:passphrase:config:)`; a key that does not unwrap is first checked against
    /// the objects: a config copied from another repository is not a wrong key.
    package static func openChecked(store: any ObjectStore, passphrase: Secret, config: RepositoryConfig) async throws -> Repository {
        do {
            return try await open(store: store, passphrase: passphrase, config: config)
        } catch let e as TidemarkError where e.code == .wrongKey {
            throw await foreignConfigError(store: store, config: config) ?? e
        }
    }

    /// An error when the objects of the repository's stanzas are encrypted with another key
    /// than the one `config` wraps (its config belongs to another repository); nil when they
    /// agree or none can be read.
    package static func foreignConfigError(store: any ObjectStore, config: RepositoryConfig) async -> TidemarkError? {
        guard let listing = try? await store.list(prefix: "") else { return nil }
        for prefix in listing.prefixes.prefix(8) {
            let stanza = String(prefix.dropLast())
            let key = RepositoryLayout.stanzaInfo(stanza)
            guard let head = try? await store.get(key, range: 0..<Int64(EnvelopeHeader.size)),
                  let header = try? EnvelopeHeader(parsing: head) else { continue }
            let found = hexString(header.keyID)
            if found != config.keyID {
                return TidemarkError(.corrupt, "repository config '\(store.location)/\(RepositoryLayout.configKey)' belongs to a different repository: it holds key \(config.keyID), but the objects in '\(store.location)' (e.g. '\(key)') are encrypted with key \(found)",
                                     hints: ["restore \(RepositoryLayout.configKey) from a copy of this repository (or from the backup of its storage); the configured encryption key was not judged"])
            }
            return nil
        }
        return nil
    }

    /// Opens the repository and reads `keys` in the same round as its config: one I/O thread
    /// and one deadline on a file system, one round of requests in flight together on S3.
    /// wal-push reads this way the stanza's identity and whether the segment is archived
    /// already, which otherwise cost two more rounds, one after the other, before the first
    /// byte is written. Objects of `PreloadedObjects.limit` bytes or more are not kept; if the
    /// batch fails, the repository is opened the usual way (with the usual errors) and nothing
    /// is preloaded — except after a timeout: the deadline is spent, and opening again would
    /// wait for it a second time.
    public static func open(store: any ObjectStore, passphrase: Secret,
                            alsoReading keys: [String]) async throws -> (Repository, PreloadedObjects) {
        let limit = PreloadedObjects.limit
        let batch: [[UInt8]?]?
        do {
            batch = try await store.get([RepositoryLayout.configKey] + keys, range: 0..<Int64(limit))
        } catch let e as StorageError where e.code == .timeout {
            throw TidemarkError.wrap(e, doing: "read repository config in '\(store.location)'")
        } catch {
            batch = nil
        }
        if let batch, batch.count == keys.count + 1, let head = batch[0], head.count < limit {
            let repository = try await openChecked(store: store, passphrase: passphrase, config: try decodeConfig(head, store: store))
            var preloaded = PreloadedObjects()
            for (key, bytes) in zip(keys, batch.dropFirst()) where (bytes?.count ?? 0) < limit {
                preloaded.objects[key] = .some(bytes)
            }
            return (repository, preloaded)
        }
        return (try await open(store: store, passphrase: passphrase), PreloadedObjects())
    }

    package static func open(store: any ObjectStore, passphrase: Secret, config: RepositoryConfig) async throws -> Repository {
        let opened: (key: RepositoryKey, slot: String)
        do {
            // scrypt takes a noticeable time by design: never on a cooperative thread.
            opened = try await BlockingPool.shared.run("unwrap the repository key") { try unlock(config, secret: passphrase) }
        } catch let e as KeyError where e.code == .wrongPassphrase {
            throw TidemarkError(.wrongKey, "the encryption key does not open repository '\(store.location)' (wrong key)",
                                hints: ["BACKUP_ENCRYPTION_KEY / BACKUP_ENCRYPTION_KEY_FILE must hold the key the repository was initialized with, or the key of one of its slots (`tidemark key list`)"],
                                cause: e)
        } catch {
            throw TidemarkError.wrap(error, doing: "unwrap the key of repository '\(store.location)'")
        }
        let expected = hexString(opened.key.mac(try config.canonicalBytes(), purpose: "repository-config"))
        guard constantTimeEqual(Array(expected.utf8), Array(config.mac.utf8)) else {
            throw TidemarkError(.corrupt, "repository config '\(store.location)/\(RepositoryLayout.configKey)' failed authentication: it was modified or damaged",
                                hints: ["restore it from a copy of the repository; do not edit it by hand"])
        }
        return Repository(store: store, key: opened.key, config: config, slot: opened.slot)
    }

    /// The data key and the name of the first slot `secret` opens, cheapest KDF first. Throws
    /// `KeyError.wrongPassphrase` when none does, or the first other `KeyError` (a slot this
    /// Tidemark cannot use) when no slot opens. Blocking (scrypt): not on a cooperative thread.
    package static func unlock(_ config: RepositoryConfig, secret: Secret) throws -> (key: RepositoryKey, slot: String) {
        var other: (any Error)?
        for slot in config.keySlots.sorted(by: { $0.wrappedKey.cost < $1.wrappedKey.cost }) {
            do {
                return (try slot.wrappedKey.unwrap(passphrase: secret.bytes), slot.name)
            } catch let e as KeyError where e.code == .wrongPassphrase {
                continue
            } catch {
                other = other ?? error
            }
        }
        throw other ?? KeyError.wrongPassphrase()
    }

    package static func missingRepositoryError(_ store: any ObjectStore) async throws -> TidemarkError {
        let listing = try? await store.list(prefix: "")
        if let listing, !listing.objects.isEmpty || !listing.prefixes.isEmpty {
            return TidemarkError(.repository, "'\(store.location)' is not a Tidemark repository (no \(RepositoryLayout.configKey))",
                                 hints: ["check BACKUP_DIR / the repository path in the config file"])
        }
        return TidemarkError(.repository, "repository '\(store.location)' does not exist or is not initialized",
                             hints: ["run `tidemark init` once with the same BACKUP_DIR and key (as the PostgreSQL server user), or fix BACKUP_DIR if the storage is not mounted"])
    }
}

/// Objects read together with a repository's config (`Repository.open(store:passphrase:alsoReading:)`).
public struct PreloadedObjects: Sendable {
    /// Objects this large or larger are not preloaded (they are read when needed).
    public static let limit = 64 << 10
    /// Key → the whole object, or nil for one that did not exist when it was read; keys not
    /// present here are not known.
    public var objects: [String: [UInt8]?] = [:]
    public init() {}
}

package func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var diff: UInt8 = 0
    for i in 0..<a.count { diff |= a[i] ^ b[i] }
    return diff == 0
}
