import Foundation
import Synchronization
import Testing
@testable import Tidemark
import TidemarkCodec
import TidemarkCore
import TidemarkS3
import TidemarkStorage
import TidemarkTesting
@testable import TidemarkSystem
@testable import TidemarkRepository
@testable import TidemarkArchive
@testable import TidemarkBackup

@Suite("Repository configuration: s3, required, environment")
struct RepositoryConfigurationTests {
    let aws = ["AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG", "AWS_BACKUP_BUCKET": "tm-backups/clinic/pg"]

    func load(_ env: [String: String], config: String? = nil) throws -> Configuration {
        try ConfigurationLoader.load(configPath: config, stanza: nil, environment: env)
    }

    /// Writes `json` as `<dir>/tidemark.json` with `mode`.
    func configFile(_ json: String, in dir: Scratch, mode: mode_t = 0o600) throws -> String {
        try configFile(in: dir, json, mode: mode)
    }

    func configFile(in dir: Scratch, _ json: String, mode: mode_t = 0o600) throws -> String {
        let path = try dir.write("tidemark.json", Array(json.utf8))
        chmod(path, mode)
        return path
    }

    @Test func environmentOnlyCombinations() throws {
        let both = try load(aws.merging(["BACKUP_DIR": "/var/lib/tm"]) { $1 })
        #expect(both.repositories.map(\.name) == ["local", "offsite"])
        #expect(both.repositories.map(\.type) == [.posix, .s3])
        #expect(both.repositories.allSatisfy { $0.required })
        let s3 = try #require(both.s3Settings["offsite"])
        #expect(s3.bucket == "tm-backups" && s3.prefix == "clinic/pg/")
        #expect(s3.region == "us-east-1" && s3.endpoint == "https://s3.us-east-1.amazonaws.com" && s3.addressing == .virtual)
        #expect(s3.credentials.accessKeyID == "AKIDEXAMPLE" && s3.credentials.secretAccessKey.bytes == Array("wJalrXUtnFEMI/K7MDENG".utf8))
        #expect(s3.credentials.sessionToken == nil)
        #expect(!"\(s3.credentials)".contains("wJalr"), "the secret must not print")
        #expect(both.repositories[1].location == "s3://tm-backups/clinic/pg")

        let s3Only = try load(aws.merging(["AWS_REGION": "eu-central-1", "AWS_SESSION_TOKEN": "tok",
                                          "AWS_ENDPOINT_URL": "http://127.0.0.1:9000"]) { $1 })
        #expect(s3Only.repositories.map(\.name) == ["offsite"])
        let only = try #require(s3Only.s3Settings["offsite"])
        #expect(only.region == "eu-central-1" && only.endpoint == "http://127.0.0.1:9000" && only.addressing == .path)
        #expect(only.credentials.sessionToken?.bytes == Array("tok".utf8))

        let local = try load(["BACKUP_DIR": "/var/lib/tm"])
        #expect(local.repositories == [RepositorySpec(name: "local", type: .posix, path: "/var/lib/tm")])
        #expect(local.s3Settings.isEmpty)
    }

    @Test func s3NeedsCredentialsAndSaysWhichVariableIsMissing() async throws {
        var noKeyID = aws
        noKeyID["AWS_ACCESS_KEY_ID"] = nil
        let e1 = await expectError(.configuration) { _ = try self.load(noKeyID) }
        #expect(e1?.message.contains("AWS_ACCESS_KEY_ID") == true, "\(String(describing: e1))")
        var noSecret = aws
        noSecret["AWS_SECRET_ACCESS_KEY"] = ""
        let e2 = await expectError(.configuration) { _ = try self.load(noSecret) }
        #expect(e2?.message.contains("AWS_SECRET_ACCESS_KEY") == true, "\(String(describing: e2))")
        #expect(e2?.description.contains("wJalr") == false)
        let fileDir = try Scratch()
        let file = try configFile(#"{"repositories": [{"name": "offsite", "type": "s3", "s3": {"prefix": "x"}}]}"#, in: fileDir)
        let e3 = await expectError(.configuration) { _ = try self.load(["AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"], config: file) }
        #expect(e3?.message.contains("no bucket") == true && e3?.hints.joined().contains("AWS_BACKUP_BUCKET") == true)
        let e4 = await expectError(.configuration) { _ = try self.load(aws.merging(["AWS_BACKUP_BUCKET": "Bad_Bucket"]) { $1 }) }
        #expect(e4?.message.contains("Bad_Bucket") == true)
    }

    @Test(arguments: ["http://10.0.0.5:9000", "http://s3.example.com", "http://127.0.0.1.evil.example", "http://[::2]:9000",
                      "ftp://127.0.0.1", "https://", "https://host/path", "https://user@host", "https://host:99999"])
    func endpointsThatAreRefused(_ endpoint: String) async throws {
        let error = await expectError(.configuration) { _ = try self.load(self.aws.merging(["AWS_ENDPOINT_URL": endpoint]) { $1 }) }
        #expect(error?.message.contains(endpoint) == true, "\(String(describing: error))")
        if endpoint.hasPrefix("http://") {
            #expect(error?.message.contains("loopback") == true)
            #expect(error?.hints.joined().contains("https://") == true)
        }
    }

    @Test(arguments: ["http://127.0.0.1:9000", "http://127.8.9.10", "http://[::1]:9000", "http://localhost:4566/",
                      "https://minio.internal:9000", "https://s3.eu-west-1.amazonaws.com"])
    func endpointsThatAreAccepted(_ endpoint: String) throws {
        let c = try load(aws.merging(["AWS_ENDPOINT_URL": endpoint]) { $1 })
        #expect(c.s3Settings["offsite"]?.endpoint == (endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint))
    }

    @Test func fileRepositoriesRequiredOptionalAndTolerantPath() throws {
        let keyDir = try Scratch()
        let secretFile = try keyDir.write("s3secret", Array("filesecret\n".utf8))
        chmod(secretFile, 0o600)
        let fileDir = try Scratch()
        let file = try configFile(in: fileDir, """
        {"repositories": [
          {"name": "local", "type": "posix", "path": "/srv/tm"},
          {"name": "nas", "type": "posix", "path": "/mnt/nas/tm", "required": false},
          {"name": "offsite", "type": "s3", "required": false,
           "s3": {"bucket": "tm-b", "prefix": "/a/b/", "endpoint": "https://minio.lan:9000", "addressing": "virtual",
                  "accessKeyId": "FILEKEY", "secretAccessKeyFile": "\(secretFile)", "partSizeMiB": 8, "concurrency": 2,
                  "region": "eu-west-3", "caBundle": "/etc/ssl/private-ca.pem"}}]}
        """)
        let c = try load(["TIDEMARK_IO_TIMEOUT": "12"], config: file)
        #expect(c.repositories.map(\.name) == ["local", "nas", "offsite"])
        #expect(c.repositories.map(\.required) == [true, false, false])
        #expect(c.repositories[2].path == "")
        let s3 = try #require(c.s3Settings["offsite"])
        #expect(s3.prefix == "a/b/" && s3.addressing == .virtual && s3.partSizeMiB == 8 && s3.concurrency == 2)
        #expect(s3.credentials.accessKeyID == "FILEKEY" && s3.credentials.secretAccessKey.bytes == Array("filesecret".utf8))
        #expect(s3.caBundle == "/etc/ssl/private-ca.pem" && s3.timeoutSeconds == 12 && s3.region == "eu-west-3")
        // AWS_BACKUP_BUCKET and the AWS_* variables win for the first s3 repository.
        let overridden = try load(aws.merging(["BACKUP_DIR": "/elsewhere"]) { $1 }, config: file)
        #expect(overridden.repositories.map(\.name) == ["local", "nas", "offsite"])
        #expect(overridden.repositories[0].path == "/elsewhere" && overridden.repositories[1].path == "/mnt/nas/tm")
        #expect(overridden.s3Settings["offsite"]?.bucket == "tm-backups")
        #expect(overridden.s3Settings["offsite"]?.credentials.accessKeyID == "AKIDEXAMPLE")
        #expect(try overridden.repository(named: "nas").required == false)
    }

    @Test func invalidRepositoryListsAreRefused() async throws {
        let cases: [(String, String)] = [
            (#"[{"name": "a", "type": "posix", "path": "/x"}, {"name": "a", "type": "posix", "path": "/y"}]"#, "used twice"),
            (#"[{"name": "a", "type": "posix"}]"#, "has no path"),
            (#"[{"name": "a", "type": "posix", "path": "rel/x"}]"#, "not absolute"),
            (#"[{"name": "a", "type": "posix", "path": "/x", "required": false}]"#, "no repository is required"),
            (#"[{"name": "a b", "type": "posix", "path": "/x"}]"#, "not valid"),
            (#"[{"name": "a", "type": "s3", "path": "/x", "s3": {"bucket": "bkt"}}]"#, "has a path"),
        ]
        for (list, expected) in cases {
            let fileDir = try Scratch()
        let file = try configFile(#"{"repositories": "# + list + "}", in: fileDir)
            let e = await expectError(.configuration) { _ = try self.load(["AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"], config: file) }
            #expect(e?.message.contains(expected) == true, "\(list): \(String(describing: e))")
        }
    }

    @Test func anInlineSecretNeedsAPrivateConfigFile() async throws {
        let json = #"{"repositories": [{"name": "offsite", "type": "s3", "s3": {"bucket": "tm-b", "accessKeyId": "K", "secretAccessKey": "inline-secret"}}]}"#
        let openDir = try Scratch()
        let open = try configFile(json, in: openDir, mode: 0o644)
        let e = await expectError(.configuration) { _ = try self.load([:], config: open) }
        #expect(e?.message.contains("other users can read") == true, "\(String(describing: e))")
        #expect(e?.hints.joined().contains("secretAccessKeyFile") == true)
        #expect(e?.description.contains("inline-secret") == false, "the secret must not appear in the error")
        let closedDir = try Scratch()
        let closed = try configFile(json, in: closedDir, mode: 0o600)
        let c = try load([:], config: closed)
        #expect(c.s3Settings["offsite"]?.credentials.secretAccessKey.bytes == Array("inline-secret".utf8))
    }

    /// An S3 repository becomes an S3 store on its bucket and prefix; nothing is sent yet and
    /// the store's location never shows credentials.
    @Test func anS3RepositoryOpensAnS3Store() async throws {
        let c = try load(aws.merging(["BACKUP_ENCRYPTION_KEY": "k"]) { $1 })
        let store = try StoreFactory.makeStore(for: c.repositories[0], configuration: c)
        #expect(store is S3ObjectStore)
        #expect(store.location.hasPrefix("s3://"), "\(store.location)")
        let settings = try #require(c.s3Settings["offsite"])
        #expect(store.location.contains(settings.bucket))
        #expect(!store.location.contains(String(decoding: settings.credentials.secretAccessKey.bytes, as: UTF8.self)))
        await (store as? S3ObjectStore)?.shutdown()
    }
}

/// Two (or three) file-system repositories configured through a config file.
struct TwoRepositories {
    let scratch: Scratch
    let configuration: Configuration
    var first: String { scratch.path + "/first" }
    var second: String { scratch.path + "/second" }

    /// `second` is optional unless `secondRequired`; `initializeSecond: false` leaves it missing.
    init(secondRequired: Bool = true, initializeSecond: Bool = true) async throws {
        scratch = try Scratch()
        let json = """
        {"repositories": [{"name": "first", "type": "posix", "path": "\(scratch.path)/first"},
                          {"name": "second", "type": "posix", "path": "\(scratch.path)/second", "required": \(secondRequired)}],
         "encryptionKey": "unit-test-key-unit-test-key-0123456789"}
        """
        let file = try scratch.write("tidemark.json", Array(json.utf8))
        chmod(file, 0o600)
        configuration = try ConfigurationLoader.load(configPath: file, stanza: nil, environment: [:])
        var toInitialize = configuration
        if !initializeSecond { toInitialize.repositories.removeLast() }
        _ = try await Engine(toInitialize).initialize(parameters: fastKDF)
    }

    func only(_ name: String) throws -> Configuration {
        var c = configuration
        c.repositories = [try c.repository(named: name)]
        c.repositories[0].required = true
        return c
    }

    func walObject(_ root: String, _ name: WALSegmentName) -> String {
        root + "/" + RepositoryLayout.wal("main", .segment(name))
    }

    func opened() async throws -> [(RepositorySpec, Repository)] {
        var out: [(RepositorySpec, Repository)] = []
        for spec in configuration.repositories {
            if let repo = try? await Engine(configuration).open(spec, passphrase: configuration.requireKey()) {
                out.append((spec, repo))
            }
        }
        return out
    }
}

final class Lines: Sendable {
    let lines = Mutex<[String]>([])
    func add(_ s: String) { lines.withLock { $0.append(s) } }
    var all: [String] { lines.withLock { $0 } }
}

@Suite("wal-push and wal-fetch with several repositories")
struct MultiRepositoryArchiveTests {
    let seg = segmentName("000000010000000000000003")

    @Test func bothRequiredRepositoriesGetTheSegment() async throws {
        let repos = try await TwoRepositories()
        let dir = try Scratch()
        let bytes = SyntheticWAL.segment(seg)
        let path = try dir.write(seg.description, bytes)
        #expect(try await Engine(repos.configuration).walPush(path: path) == [])
        for name in ["first", "second"] {
            try await Engine(try repos.only(name)).walFetch(name: seg.description, destination: dir.path + "/back-" + name)
            #expect(try dir.read("back-" + name) == bytes, "repository \(name)")
        }
        // Both summaries carry the segment's WAL facts (scanned once for both).
        let size = WALSegmentSize(rawValue: UInt64(bytes.count))!
        let expected = WALSummaryFacts(scan: WALSegmentScan.scan(bytes, name: seg, size: size))
        for (spec, repo) in try await repos.opened() {
            let facts = try await WALInventoryLoader(repository: repo, stanza: "main", size: size).load().facts
            #expect(facts[seg] == expected, "WAL facts in repository \(spec.name)")
        }
        // An identical re-push succeeds without writing.
        let before = try Data(contentsOf: URL(fileURLWithPath: repos.walObject(repos.first, seg)))
        #expect(try await Engine(repos.configuration).walPush(path: path) == [])
        #expect(try Data(contentsOf: URL(fileURLWithPath: repos.walObject(repos.first, seg))) == before)
    }

    @Test func aFilePreparedBeforeTheConfigurationIsHashedOnceAndStoredRightInEveryRepository() async throws {
        // wal-push starts hashing and scanning before it reads the configuration
        // (PreparedWALFile.start); the object's authenticated XXH3-128 must be the file's.
        let repos = try await TwoRepositories()
        let dir = try Scratch()
        let bytes = SyntheticWAL.segment(seg, seed: 4)
        let path = try dir.write(seg.description, bytes)
        let prepared = try #require(PreparedWALFile.start(path: path))
        #expect(try await Engine(repos.configuration).walPush(path: path, prepared: prepared) == [])
        let expected = PlaintextDigestKind.xxh3.digest(bytes)
        for (spec, repo) in try await repos.opened() {
            let object = try #require(try await repo.store.get(RepositoryLayout.wal("main", .segment(seg))))
            let decoded = try EnvelopeReader.decode(object, key: repo.key)
            #expect(decoded.plaintext == bytes, "repository \(spec.name)")
            #expect(decoded.trailer.digestKind == .xxh3 && decoded.trailer.digest == expected, "repository \(spec.name)")
        }
        // A preparation of another file is not used for this one.
        let other = segmentName("000000010000000000000004")
        let otherBytes = SyntheticWAL.segment(other, seed: 5)
        let otherPath = try dir.write(other.description, otherBytes)
        #expect(try await Engine(repos.configuration).walPush(path: otherPath, prepared: prepared) == [])
        try await Engine(try repos.only("second")).walFetch(name: other.description, destination: dir.path + "/back")
        #expect(try dir.read("back") == otherBytes)
        // Not a WAL file: nothing to prepare, and the push says why.
        #expect(PreparedWALFile.start(path: try dir.write("postgresql.conf", [1, 2, 3])) == nil)
        #expect(PreparedWALFile.start(path: dir.path + "/000000010000000000000009") == nil)
    }

    @Test func theRulesHoldWhenTheStanzaAndTheObjectAreReadWithTheRepositoryConfig() async throws {
        // Engine.walPush reads the stanza identity and the segment's object in the same round
        // as the repository config (Repository.open(alsoReading:)); the rules must not change.
        let repos = try await TwoRepositories()
        let one = try repos.only("first")
        let dir = try Scratch()
        let original = SyntheticWAL.segment(seg, systemIdentifier: 111)
        let path = try dir.write(seg.description, original)
        let store = FileSystemStore(root: repos.first)
        let (repo, preloaded) = try await Repository.open(store: store, passphrase: try one.requireKey(),
                                                          alsoReading: [RepositoryLayout.stanzaInfo("main"), RepositoryLayout.wal("main", .segment(seg))])
        #expect(preloaded.objects.count == 2 && preloaded.objects.values.allSatisfy { $0 == nil }, "both known to be absent")
        #expect(repo.config == (try await Repository.open(store: store, passphrase: try one.requireKey())).config)

        #expect(try await Engine(one).walPush(path: path) == [])
        let stored = try Data(contentsOf: URL(fileURLWithPath: repos.walObject(repos.first, seg)))
        // The same file again: already archived, nothing written.
        #expect(try await Engine(one).walPush(path: path) == [])
        #expect(try Data(contentsOf: URL(fileURLWithPath: repos.walObject(repos.first, seg))) == stored)
        // Different content under the same name: a conflict naming both checksums.
        let other = SyntheticWAL.segment(seg, systemIdentifier: 111, seed: 9)
        let otherDir = try Scratch()
        let conflict = await expectError(.conflict) { _ = try await Engine(one).walPush(path: try otherDir.write(seg.description, other)) }
        #expect(conflict?.message.contains(sha256Hex(original)) == true && conflict?.message.contains(sha256Hex(other)) == true,
                "\(conflict?.message ?? "")")
        #expect(try Data(contentsOf: URL(fileURLWithPath: repos.walObject(repos.first, seg))) == stored)
        // Another cluster in the same stanza: refused, the stanza identity read with the config.
        let next = segmentName("000000010000000000000004")
        let foreign = await expectError(.conflict) {
            _ = try await Engine(one).walPush(path: try dir.write(next.description, SyntheticWAL.segment(next, systemIdentifier: 222)))
        }
        #expect(foreign?.message.contains("111") == true && foreign?.message.contains("222") == true)
    }

    @Test func aFailingOptionalRepositoryRaisesAnAlertAndIsRecorded() async throws {
        let repos = try await TwoRepositories(secondRequired: false, initializeSecond: false)
        let dir = try Scratch()
        let path = try dir.write(seg.description, SyntheticWAL.segment(seg))
        let notices = try await Engine(repos.configuration).walPush(path: path)
        let alert = try #require(notices.first { $0.hasPrefix("tidemark: ALERT:") }, "\(notices)")
        #expect(alert.contains("'second'") && alert.contains(seg.description) && alert.contains("not initialized"), "\(alert)")
        let record = repos.first + "/" + RepositoryLayout.alert("main", repository: "second", file: seg.description)
        let miss = try JSONDecoder().decode(MissedWAL.self, from: Data(contentsOf: URL(fileURLWithPath: record)))
        #expect(miss.repository == "second" && miss.file == seg.description && !miss.error.isEmpty)
        #expect(FileManager.default.fileExists(atPath: repos.walObject(repos.first, seg)))
        #expect(try await Engine(repos.configuration).outstandingAlerts(repositories: repos.opened()) == [miss])

        // The repository comes back and the segment is pushed again: the alert is resolved.
        var second = repos.configuration
        second.repositories = [try repos.configuration.repository(named: "second")]
        second.repositories[0].required = true
        _ = try await Engine(second).initialize(parameters: fastKDF)
        #expect(try await Engine(repos.configuration).walPush(path: path) == [])
        #expect(try await Engine(repos.configuration).outstandingAlerts(repositories: repos.opened(), removeResolved: true) == [])
        #expect(!FileManager.default.fileExists(atPath: record), "a resolved alert is removed")
    }

    @Test func aFailingRequiredRepositoryFailsThePush() async throws {
        let repos = try await TwoRepositories(secondRequired: true, initializeSecond: false)
        let dir = try Scratch()
        let path = try dir.write(seg.description, SyntheticWAL.segment(seg))
        let e = await expectError(.repository) { _ = try await Engine(repos.configuration).walPush(path: path) }
        #expect(e?.message.contains("required repository 'second'") == true, "\(String(describing: e))")
    }

    @Test func aConflictInOneRepositoryFailsAndOverwritesNothing() async throws {
        let repos = try await TwoRepositories(secondRequired: false)
        let dir = try Scratch(), other = try Scratch()
        let original = SyntheticWAL.segment(seg)
        _ = try await Engine(try repos.only("first")).walPush(path: try dir.write(seg.description, original))
        let before = try Data(contentsOf: URL(fileURLWithPath: repos.walObject(repos.first, seg)))
        var changed = original
        changed[5000] ^= 0xFF
        let e = await expectError(.conflict) { _ = try await Engine(repos.configuration).walPush(path: try other.write(self.seg.description, changed)) }
        #expect(e?.message.contains(hexString(sha256(original))) == true, "\(String(describing: e))")
        #expect(try Data(contentsOf: URL(fileURLWithPath: repos.walObject(repos.first, seg))) == before)
    }

    @Test func fetchFallsBackWhenTheFirstCopyIsMissingOrDamaged() async throws {
        let repos = try await TwoRepositories()
        let dir = try Scratch()
        let bytes = SyntheticWAL.segment(seg)
        _ = try await Engine(repos.configuration).walPush(path: try dir.write(seg.description, bytes))
        let firstObject = repos.walObject(repos.first, seg)
        let saved = try Data(contentsOf: URL(fileURLWithPath: firstObject))

        // Damaged (one byte flipped) in the first: served from the second, with a message.
        var flipped = saved
        flipped[flipped.count / 2] ^= 0x01
        try flipped.write(to: URL(fileURLWithPath: firstObject))
        let damaged = Lines()
        try await Engine(repos.configuration).walFetch(name: seg.description, destination: dir.path + "/a", report: damaged.add)
        #expect(try dir.read("a") == bytes)
        #expect(damaged.all.count == 1 && damaged.all[0].hasPrefix("tidemark: '\(seg)' is damaged in 'first' (")
                && damaged.all[0].hasSuffix("; trying 'second'"), "\(damaged.all)")

        // Missing in the first.
        try FileManager.default.removeItem(atPath: firstObject)
        let missing = Lines()
        try await Engine(repos.configuration).walFetch(name: seg.description, destination: dir.path + "/b", report: missing.add)
        #expect(try dir.read("b") == bytes)
        #expect(missing.all == ["tidemark: '\(seg)' not in repository 'first'; trying 'second'"])

        // The first repository gone entirely.
        try FileManager.default.removeItem(atPath: repos.first)
        let gone = Lines()
        try await Engine(repos.configuration).walFetch(name: seg.description, destination: dir.path + "/c", report: gone.add)
        #expect(try dir.read("c") == bytes)
        #expect(gone.all.count == 1 && gone.all[0].contains("could not be read from 'first'"), "\(gone.all)")
    }

    @Test func damagedEverywhereIsAFailureAndMissingEverywhereIsQuiet() async throws {
        let repos = try await TwoRepositories()
        let dir = try Scratch()
        _ = try await Engine(repos.configuration).walPush(path: try dir.write(seg.description, SyntheticWAL.segment(seg)))
        let quiet = Lines()
        await _ = expectError(.notFound) {
            try await Engine(repos.configuration).walFetch(name: "000000010000000000000009", destination: dir.path + "/x", report: quiet.add)
        }
        #expect(quiet.all.isEmpty, "not archived anywhere must be quiet: \(quiet.all)")
        for root in [repos.first, repos.second] {
            let object = repos.walObject(root, seg)
            var bytes = try Data(contentsOf: URL(fileURLWithPath: object))
            bytes[bytes.count - 40] ^= 0x80
            try bytes.write(to: URL(fileURLWithPath: object))
        }
        let lines = Lines()
        await _ = expectError(.corrupt) {
            try await Engine(repos.configuration).walFetch(name: self.seg.description, destination: dir.path + "/dest", report: lines.add)
        }
        #expect(!dir.exists("dest"))
        #expect(dir.entries == [seg.description], "no temporary file left: \(dir.entries)")
        #expect(lines.all.count == 1 && lines.all[0].contains("is damaged in 'first'"), "\(lines.all)")
        // Missing in the first, damaged in the second: a failure, never "not archived".
        try FileManager.default.removeItem(atPath: repos.walObject(repos.first, seg))
        await _ = expectError(.corrupt) {
            try await Engine(repos.configuration).walFetch(name: self.seg.description, destination: dir.path + "/dest")
        }
    }
}
