#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Tidemark
import TidemarkAudit
import TidemarkCodec
import TidemarkCore
import TidemarkRepository
import TidemarkStorage

/// The tokens of one stanza in one repository: `<stanza>/tokens/<name>`, each an authenticated
/// envelope (kind generic) holding the token's JSON (name, scope, created, SHA-256).
public struct TokenStore: Sendable {
    public let repository: Repository
    public let stanza: String

    public init(repository: Repository, stanza: String) {
        self.repository = repository
        self.stanza = stanza
    }

    public static func prefix(_ stanza: String) -> String { "\(stanza)/tokens/" }

    var store: any ObjectStore { repository.store }

    public func list() async throws -> [APIToken] {
        let listing = try await store.list(prefix: Self.prefix(stanza))
        var out: [APIToken] = []
        for object in listing.objects {
            let name = String(object.key.dropFirst(Self.prefix(stanza).utf8.count))
            if let token = try await read(name) { out.append(token) }
        }
        return out.sorted { $0.name < $1.name }
    }

    public func read(_ name: String) async throws -> APIToken? {
        let key = Self.prefix(stanza) + name
        guard let bytes = try await store.get(key) else { return nil }
        let token: APIToken
        do {
            let plain = try EnvelopeReader.decode(bytes, key: repository.key).plaintext
            token = try JSONDecoder().decode(APIToken.self, from: Data(plain))
        } catch {
            throw TidemarkError.wrap(error, doing: "read the API token '\(name)' ('\(store.location)/\(key)')")
        }
        guard token.name == name else {
            throw TidemarkError(.corrupt, "the API token '\(store.location)/\(key)' names '\(token.name)': it was copied from another token",
                                hints: ["revoke it: tidemark token revoke --name \(name)"])
        }
        return token
    }

    /// Writes a new token; false when one of that name exists already.
    public func create(_ token: APIToken) async throws -> Bool {
        let json = try JSONEncoder().encode(token)
        let bytes = encodeEnvelope(Array(json), key: repository.key, kind: .generic, compression: .none).bytes
        let outcome = try await store.put(Self.prefix(stanza) + token.name, bytes: bytes, ifAbsent: true)
        return outcome != .alreadyExists
    }

    public func remove(_ name: String) async throws {
        try await store.delete(Self.prefix(stanza) + name)
    }
}

/// `tidemark token create|list|revoke` over every configured repository.
public struct TokenRegistry: Sendable {
    public let engine: Engine

    public init(engine: Engine) { self.engine = engine }

    func stores() async throws -> [(String, TokenStore)] {
        let repositories = try await engine.openRepositories()
        return zip(engine.configuration.repositories, repositories).map { ($0.name, TokenStore(repository: $1, stanza: engine.configuration.stanza)) }
    }

    /// Records a new token in every repository and returns its text (shown once).
    public func create(name: String, scope: APIToken.Scope, now: Date = Date()) async throws -> String {
        try APIToken.checkName(name)
        guard scope != .cron else {
            throw TidemarkError(.invalidInput, "--scope cron is not a token scope", hints: ["the cron route takes CRON_SECRET (docs/api.md); tokens are read or operate"])
        }
        let stores = try await stores()
        for (repo, store) in stores where try await store.read(name) != nil {
            throw TidemarkError(.invalidInput, "a token named '\(name)' exists already (repository '\(repo)')",
                                hints: ["choose another name, or revoke it first: tidemark token revoke --name \(name)"])
        }
        let text = APIToken.generate()
        let token = APIToken(name: name, scope: scope, created: AuditTime.format(now), sha256: APIToken.hash(Array(text.utf8)))
        var written: [TokenStore] = []
        for (repo, store) in stores {
            do {
                guard try await store.create(token) else {
                    throw TidemarkError(.invalidInput, "a token named '\(name)' exists already (repository '\(repo)')",
                                        hints: ["choose another name, or revoke it first: tidemark token revoke --name \(name)"])
                }
                written.append(store)
            } catch {
                // Nothing half-written: a token in some repositories only is taken back.
                for s in written { try? await s.remove(name) }
                throw TidemarkError.wrap(error, doing: "record the token '\(name)' in repository '\(repo)'")
            }
        }
        return text
    }

    /// Every token (the union over the repositories; the first repository's copy wins).
    public func list() async throws -> [APIToken] {
        var seen: [String: APIToken] = [:]
        for (_, store) in try await stores() {
            for t in try await store.list() where seen[t.name] == nil { seen[t.name] = t }
        }
        return seen.values.sorted { $0.name < $1.name }
    }

    /// Removes the token from every repository; an unknown name is an error.
    public func revoke(name: String) async throws {
        try APIToken.checkName(name)
        var found = false
        for (_, store) in try await stores() where try await store.read(name) != nil {
            try await store.remove(name)
            found = true
        }
        guard found else {
            throw TidemarkError(.invalidInput, "no token named '\(name)'", hints: ["tidemark token list shows the tokens"])
        }
    }

    /// The tokens the server accepts: read from every repository that opens (one that does not
    /// is skipped, so a repository outage does not lock the API out).
    public func loadForServer() async -> [APIToken] {
        var seen: [String: APIToken] = [:]
        let stanza = engine.configuration.stanza
        for spec in engine.configuration.repositories {
            guard let passphrase = try? engine.configuration.requireKey(),
                  let repository = try? await engine.open(spec, passphrase: passphrase),
                  let tokens = try? await TokenStore(repository: repository, stanza: stanza).list() else { continue }
            for t in tokens where seen[t.name] == nil { seen[t.name] = t }
        }
        return Array(seen.values)
    }
}
