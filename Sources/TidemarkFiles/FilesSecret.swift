import Crypto
import TidemarkCodec
import TidemarkCore
import TidemarkRepository
import TidemarkStorage
import TidemarkSystem

/// The stanza's files secret: 32 random bytes, the same in every repository of the stanza, kept
/// in `<stanza>/files/config` (an envelope of kind `filesConfig` under each repository's key).
/// Two keys are derived from it with HKDF-SHA-256: the chunk-id key (chunk id =
/// HMAC-SHA-256(chunk-id key, plaintext)) and the gear seed of the keyed chunker, so neither
/// chunk boundaries nor chunk ids say anything about content to anyone without the secret.
///
/// The config's plaintext: `TMFILES1` (8 bytes), then the 32 secret bytes.
public struct FilesSecret: Sendable, Equatable {
    public let bytes: [UInt8]
    /// The chunk-id key (an HKDF subkey of `bytes`).
    private let idKey: SymmetricKey
    /// The chunker's 256 gear words (from another HKDF subkey).
    public let gearTable: [UInt64]

    static let magic = Array("TMFILES1".utf8)

    public init(bytes: [UInt8]) {
        precondition(bytes.count == 32)
        self.bytes = bytes
        let ikm = SymmetricKey(data: bytes)
        idKey = HKDF<SHA256>.deriveKey(inputKeyMaterial: ikm, salt: [UInt8](), info: Array("tidemark/files/chunk-id/v1".utf8),
                                       outputByteCount: 32)
        let gearKey = HKDF<SHA256>.deriveKey(inputKeyMaterial: ikm, salt: [UInt8](), info: Array("tidemark/files/gear/v1".utf8),
                                             outputByteCount: 32)
        // 64 HMAC blocks of 32 bytes: 256 little-endian words.
        var words: [UInt64] = []
        words.reserveCapacity(256)
        for block in 0..<64 {
            let mac = Array(HMAC<SHA256>.authenticationCode(for: [UInt8(block)], using: gearKey))
            for w in 0..<4 {
                var v: UInt64 = 0
                for b in 0..<8 { v |= UInt64(mac[w * 8 + b]) << (8 * b) }
                words.append(v)
            }
        }
        gearTable = words
    }

    public static func generate() -> FilesSecret { FilesSecret(bytes: randomBytes(32)) }

    public static func == (a: FilesSecret, b: FilesSecret) -> Bool { a.bytes == b.bytes }

    /// The keyed id of a chunk's plaintext.
    public func chunkID(of bytes: UnsafeRawBufferPointer) -> ChunkID {
        ChunkID(bytes: Array(HMAC<SHA256>.authenticationCode(for: bytes, using: idKey)))
    }

    public func chunkID(of bytes: [UInt8]) -> ChunkID {
        bytes.withUnsafeBytes { chunkID(of: $0) }
    }

    /// A fingerprint that names the secret in messages without revealing it.
    public var fingerprint: String {
        hexString(HMAC<SHA256>.authenticationCode(for: Array("fingerprint".utf8), using: idKey).prefix(6))
    }

    var configPlaintext: [UInt8] { Self.magic + bytes }

    static func parse(config plaintext: [UInt8]) -> FilesSecret? {
        guard plaintext.count == magic.count + 32, plaintext.starts(with: magic) else { return nil }
        return FilesSecret(bytes: Array(plaintext.dropFirst(magic.count)))
    }
}

/// Reading and creating the files secret in every repository of a stanza.
public enum FilesSecretStore {
    /// The stanza's secret, created on first use: read from the first repository that has one
    /// and written (conditional create) to those that lack it; when none has one a fresh secret
    /// is created in the first repository, and a racing creator's secret wins (re-read). A
    /// repository holding a different secret is refused.
    public static func load(stanza: String, repositories: [FilesRepository]) async throws -> FilesSecret {
        precondition(!repositories.isEmpty)
        var found: [(index: Int, secret: FilesSecret)] = []
        for (i, repository) in repositories.enumerated() {
            if let secret = try await read(stanza: stanza, repository) { found.append((i, secret)) }
        }
        let chosen: FilesSecret
        let holder: String
        if let first = found.first {
            chosen = first.secret
            holder = repositories[first.index].name
        } else {
            chosen = try await create(stanza: stanza, repositories[0], FilesSecret.generate())
            holder = repositories[0].name
            found.append((0, chosen))
        }
        for (i, repository) in repositories.enumerated() {
            if let existing = found.first(where: { $0.index == i }) {
                try check(existing.secret, in: repository, against: chosen, heldBy: holder, stanza: stanza)
                continue
            }
            let written = try await create(stanza: stanza, repository, chosen)
            try check(written, in: repository, against: chosen, heldBy: holder, stanza: stanza)
        }
        return chosen
    }

    /// The secret stored in one repository, or nil when it has none yet.
    public static func read(stanza: String, _ repository: FilesRepository) async throws -> FilesSecret? {
        let key = FilesLayout.config(stanza)
        let bytes: [UInt8]?
        do {
            bytes = try await repository.store.get(key)
        } catch {
            throw TidemarkError.wrap(error, doing: "read '\(key)' in repository '\(repository.name)'")
        }
        guard let bytes else { return nil }
        let plaintext: [UInt8]
        do {
            plaintext = try EnvelopeReader.decode(bytes, key: repository.key).plaintext
        } catch let e as EnvelopeError where e.code == .keyMismatch {
            throw TidemarkError(.wrongKey, "'\(key)' in repository '\(repository.name)' was written under another repository key",
                                hints: ["The files secret must be readable with the repository's key; restore the config from another repository of the stanza."],
                                cause: e)
        } catch {
            throw TidemarkError(.corrupt, "'\(key)' in repository '\(repository.name)' is damaged: \(error)",
                                hints: ["Without the files secret no file backup in this repository can be read; restore '\(key)' from another repository of the stanza."],
                                cause: error)
        }
        guard let secret = FilesSecret.parse(config: plaintext) else {
            throw TidemarkError(.corrupt, "'\(key)' in repository '\(repository.name)' does not hold a files secret",
                                hints: ["Restore '\(key)' from another repository of the stanza."])
        }
        return secret
    }

    /// Writes `secret` unless the repository has one; returns what the repository holds after.
    static func create(stanza: String, _ repository: FilesRepository, _ secret: FilesSecret) async throws -> FilesSecret {
        let key = FilesLayout.config(stanza)
        let bytes = encodeEnvelope(secret.configPlaintext, key: repository.key, kind: .filesConfig, compression: .none).bytes
        let outcome: PutOutcome
        do {
            outcome = try await repository.store.put(key, bytes: bytes, ifAbsent: true)
        } catch {
            throw TidemarkError.wrap(error, doing: "write '\(key)' in repository '\(repository.name)'")
        }
        if outcome == .created { return secret }
        guard let winner = try await read(stanza: stanza, repository) else {
            throw TidemarkError(.conflict, "'\(key)' in repository '\(repository.name)' was created and removed while being read",
                                hints: ["Retry; another command is changing the stanza's file backups."])
        }
        return winner
    }

    static func check(_ secret: FilesSecret, in repository: FilesRepository, against chosen: FilesSecret, heldBy holder: String,
                      stanza: String) throws {
        guard secret != chosen else { return }
        throw TidemarkError(
            .conflict,
            "repository '\(repository.name)' holds a different files secret (\(secret.fingerprint)) than repository '\(holder)' (\(chosen.fingerprint)) for stanza '\(stanza)'",
            hints: [
                "File backups of one stanza share one secret in every repository. If '\(repository.name)' holds no file snapshots you need, remove its '\(FilesLayout.prefix(stanza))' and run the file backup again; otherwise copy '\(FilesLayout.prefix(stanza))' from one repository to the other.",
            ])
    }
}
