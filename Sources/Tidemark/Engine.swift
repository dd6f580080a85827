#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import TidemarkCodec
@_exported import TidemarkConfiguration
import TidemarkCore
import TidemarkStorage
import TidemarkSystem
import TidemarkRepository
import TidemarkArchive
import TidemarkBackup
import Logging

/// The operations engine: one value per configuration, whose methods are the commands
/// (`tidemark wal-push` is `Engine(configuration).walPush(path:)`). It holds what every
/// command needs: the configuration, the repositories it opens (each store — an S3 client —
/// is made once and each repository's key unwrapped once per engine, however many commands
/// run on it), a `Logger` and a wall clock, both injectable.
public struct Engine: Sendable {
    public let configuration: Configuration
    public let logger: Logger
    /// The wall clock (backup labels, lock leases, alert records); tests inject their own.
    public let now: @Sendable () -> Date
    package let repositories: RepositorySet

    public init(_ configuration: Configuration, logger: Logger = Logger(label: "tidemark"),
                now: @escaping @Sendable () -> Date = { Date() }) {
        self.configuration = configuration
        self.logger = logger
        self.now = now
        self.repositories = RepositorySet()
    }

    /// The store of `spec`, made on first use.
    package func store(for spec: RepositorySpec) throws -> any ObjectStore {
        try repositories.store(named: spec.name) { try StoreFactory.makeStore(for: spec, configuration: configuration) }
    }

    /// `tidemark init`: creates every configured repository and FILE_BACKUP_DIR's (or, with
    /// `only`, just that one: a repository added to the configuration later). A posix repository gets its directory
    /// (0700); an S3 one only its config object. An initialized repository is never touched.
    public func initialize(only: String? = nil,
                                  parameters: ScryptParameters? = nil) async throws -> [String] {
        let passphrase = try configuration.requireKey()
        try KeyPolicy.requireStrong(passphrase, what: "the encryption key (\(configuration.keySource))")
        var lines: [String] = []
        try checkOwnership(command: "init")
        let all = initializableRepositories
        let specs = try only.map { name in [try all.first { $0.name == name } ?? configuration.repository(named: name)] } ?? all
        for spec in specs {
            if spec.type == .posix { try Self.createRoot(spec.path) }
            let store = try store(for: spec)
            let repo: Repository
            do {
                repo = try await Repository.initialize(store: store, passphrase: passphrase, parameters: parameters, now: now())
            } catch var e as TidemarkError where e.code == .alreadyExists && only == nil && all.count > 1 {
                e.hints.append("to initialize only a repository added to the configuration later: tidemark init --repo NAME")
                throw e
            }
            lines.append("initialized repository '\(spec.name)' at \(spec.location) (key \(repo.key.idHex), \(repo.config.keySlots.first?.wrappedKey.kdfDescription ?? ""))")
            if spec.type == .posix && geteuid() == 0 && spec != configuration.files.separateRepository {
                lines.append("WARNING: the repository is owned by root; archive_command runs as the PostgreSQL server user: chown -R postgres: '\(spec.path)'")
            }
        }
        return lines
    }

    /// Creates the repository directory (0700) if missing; parents get the usual 0755.
    package static func createRoot(_ path: String) throws {
        var st = stat()
        if stat(path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFDIR else {
                throw TidemarkError(.repository, "repository path '\(path)' exists and is not a directory")
            }
            if st.st_mode & 0o077 != 0 && st.st_uid == geteuid() { chmod(path, 0o700) }
            return
        }
        do {
            try FileIO.createDirectoryPath(path)
        } catch {
            throw TidemarkError(error.code == .permissionDenied ? .repository : .io, "unable to create repository directory: \(error.message)",
                                hints: error.code == .permissionDenied ? ["create it as root and chown it to the user that runs Tidemark (mode 0700)"] : [])
        }
    }

    /// Refuses to write into a repository owned by someone else while running as root: files
    /// root creates there (a stanza, a WAL directory) would later be unreadable for the
    /// PostgreSQL server user and break archiving.
    package func checkOwnership(command: String) throws {
        guard geteuid() == 0 else { return }
        for spec in configuration.repositories where spec.type == .posix {
            var st = stat()
            guard stat(spec.path, &st) == 0, st.st_uid != 0 else { continue }
            let owner = getpwuid(st.st_uid).map { String(cString: $0.pointee.pw_name) } ?? "uid \(st.st_uid)"
            throw TidemarkError(.repository, "refusing to run \(command) as root in repository '\(spec.path)', which belongs to \(owner)",
                                hints: ["run it as that user: sudo -u \(owner) tidemark \(command) ...  (files root creates would break archiving)"])
        }
    }

    /// Opens every configured repository with the configured key.
    public func openRepositories() async throws -> [Repository] {
        let passphrase = try configuration.requireKey()
        var repos: [Repository] = []
        for spec in configuration.repositories {
            repos.append(try await open(spec, passphrase: passphrase))
        }
        return repos
    }

    /// `spec`'s repository, opened (config read, key unwrapped) on first use.
    package func open(_ spec: RepositorySpec, passphrase: Secret) async throws -> Repository {
        if let open = repositories.opened(named: spec.name) { return open }
        let repository = try await Repository.open(store: store(for: spec), passphrase: passphrase)
        repositories.remember(repository, named: spec.name)
        logger.debug("repository opened", metadata: ["repository": "\(spec.name)", "storage.location": "\(spec.location)",
                                                     "key.id": "\(repository.key.idHex)"])
        return repository
    }

    /// The repository `spec` opened for pushing `name`: the stanza identity and the file's object
    /// (if any) are read in the same round as the repository config.
    package func archiveForPush(_ spec: RepositorySpec, passphrase: Secret,
                               name: WALFileName) async throws -> WALArchive {
        let keys = [RepositoryLayout.stanzaInfo(configuration.stanza), RepositoryLayout.wal(configuration.stanza, name)]
        let (repository, preloaded) = try await Repository.open(store: store(for: spec),
                                                                passphrase: passphrase, alsoReading: keys)
        var archive = archive(repository, spec: spec)
        archive.preloaded = preloaded
        return archive
    }

    package func archive(_ repository: Repository, spec: RepositorySpec) -> WALArchive {
        var archive = WALArchive(repository: repository, stanza: configuration.stanza, compression: configuration.compression,
                                 compressionLevel: configuration.compressionLevel)
        archive.repositoryName = spec.name
        return archive
    }

    /// `tidemark wal-push PATH`: succeeds only when every required repository holds a durable,
    /// verified copy. Returns lines for stderr (empty when all went as usual): notices, and
    /// `tidemark: ALERT:` lines for optional repositories that failed.
    ///
    /// `prepared` is the file's preparation if the caller started it before reading the
    /// configuration (`PreparedWALFile.start`), so the SHA-256 runs meanwhile; otherwise it
    /// starts here, before the repository key is unwrapped.
    public func walPush(path: String, prepared: PreparedWALFile? = nil) async throws -> [String] {
        try checkOwnership(command: "wal-push")
        let passphrase = try configuration.requireKey()
        let prepared = try prepared.flatMap { $0.path == path ? $0 : nil } ?? PreparedWALFile.open(path: path)
        return try await prepared.use { file in
            // One repository: exactly the plain path (wal-push's cost per segment is benchmarked).
            if configuration.repositories.count == 1, let spec = configuration.repositories.first {
                let archive = try await archiveForPush(spec, passphrase: passphrase, name: file.name)
                let outcome = try await archive.push(file)
                logger.debug("wal-push done", metadata: ["wal.file": "\(file.name)", "repository": "\(spec.name)",
                                                         "outcome": "\(outcome)"])
                return Self.notices(for: outcome, archive: archive, path: path)
            }
            return try await MultiPush(engine: self, passphrase: passphrase, file: file).run()
        }
    }

    package static func notices(for outcome: PushOutcome, archive: WALArchive, path: String) -> [String] {
        switch outcome {
        case .stored, .alreadyArchived:
            return []
        case .storedAlongside(let key):
            return ["NOTICE: a different '\(FileIO.basename(path))' was archived before in '\(archive.location)'; this one is kept beside it as '\(key)'"]
        }
    }

    /// `tidemark wal-fetch NAME DEST`: from the first repository holding a valid copy.
    /// `report` gets a line for each repository passed over (missing or damaged copy).
    public func walFetch(name: String, destination: String,
                                report: @Sendable (String) -> Void = { _ in }) async throws {
        let passphrase = try configuration.requireKey()
        let sources = configuration.repositories.map { spec in
            WALArchive.Source(name: spec.name) {
                archive(try await open(spec, passphrase: passphrase), spec: spec)
            }
        }
        try await WALArchive.fetch(name: name, to: destination, from: sources, report: report)
        logger.debug("wal-fetch done", metadata: ["wal.file": "\(name)"])
    }
}
