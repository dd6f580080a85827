import Foundation
import Testing
@testable import Tidemark
import TidemarkCore
import TidemarkRepository
import TidemarkTesting

@Suite("Files configuration")
struct FilesConfigurationTests {
    static let key = "unit-test-key-unit-test-key-0123456789"

    func load(_ env: [String: String], file text: String? = nil) throws -> Configuration {
        var env = env
        env["BACKUP_ENCRYPTION_KEY"] = env["BACKUP_ENCRYPTION_KEY"] ?? Self.key
        if text?.contains("repositories") != true { env["BACKUP_DIR"] = env["BACKUP_DIR"] ?? "/r" }
        guard let text else { return try ConfigurationLoader.load(configPath: nil, stanza: nil, environment: env) }
        let dir = try Scratch()
        let path = try dir.write("tidemark.json", Array(text.utf8))
        return try ConfigurationLoader.load(configPath: path, stanza: nil, environment: env)
    }

    @Test func noFilesSectionBacksUpNothingIntoTheConfiguredRepositories() throws {
        let c = try load([:])
        #expect(c.files == FilesSettings())
        #expect(!c.files.isConfigured && c.files.destination == .configuredRepositories)
        #expect(c.files.repositories(of: c).map(\.name) == ["local"])
    }

    @Test func theSectionIsReadNormalizedWithItsDefaults() throws {
        let text = #"""
        {"repositories": [{"name": "local", "type": "posix", "path": "/var/lib/tm"}, {"name": "offsite", "type": "s3", "s3": {"bucket": "clinic-backups"}}],
         "files": {"paths": ["/srv/app/public/uploads/", "/srv//app/./avatars"], "exclude": ["*.tmp", "cache/"]}}
        """#
        let c = try load(["AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "s"], file: text)
        #expect(c.files.paths == ["/srv/app/public/uploads", "/srv/app/avatars"])
        #expect(c.files.excludes == ["*.tmp", "cache/"])
        #expect(c.files.oneFileSystem && !c.files.failOnUnreadable)
        // 3-2-1: without FILE_BACKUP_DIR every configured repository gets the files.
        #expect(c.files.repositories(of: c).map(\.name) == ["local", "offsite"])
        let flags = try load([:], file: #"{"files": {"paths": ["/srv/u"], "oneFileSystem": false, "failOnUnreadable": true}}"#)
        #expect(!flags.files.oneFileSystem && flags.files.failOnUnreadable)
    }

    @Test func fileBackupDirDifferentFromBackupDirIsARepositoryOfItsOwn() throws {
        let c = try load(["BACKUP_DIR": "/var/backups/db", "FILE_BACKUP_DIR": "/var/backups/files/", "TIDEMARK_FILES_PATHS": "/srv/u"])
        let own = RepositorySpec(name: "files", type: .posix, path: "/var/backups/files")
        #expect(c.files.destination == .separate(own))
        #expect(c.files.repositories(of: c) == [own])
        #expect(c.repositories.map(\.name) == ["local"], "the database repositories stay as they were")
    }

    @Test func fileBackupDirEqualToAConfiguredDirectorySharesTheRepositories() throws {
        for dir in ["/var/backups/db", "/var/backups/db/", "/var/backups//db"] {
            let c = try load(["BACKUP_DIR": "/var/backups/db", "FILE_BACKUP_DIR": dir])
            #expect(c.files.destination == .configuredRepositories, "\(dir)")
        }
        let text = #"{"repositories": [{"name": "nas", "type": "posix", "path": "/mnt/nas"}, {"name": "usb", "type": "posix", "path": "/mnt/usb"}]}"#
        let second = try load(["FILE_BACKUP_DIR": "/mnt/usb"], file: text)
        #expect(second.files.destination == .configuredRepositories)
        #expect(second.files.repositories(of: second).map(\.name) == ["nas", "usb"])
    }

    @Test func theEnvironmentReplacesThePaths() throws {
        let c = try load(["TIDEMARK_FILES_PATHS": "/srv/a::/srv/b/"], file: #"{"repositories": [{"name": "l", "type": "posix", "path": "/r"}], "files": {"paths": ["/srv/c"]}}"#)
        #expect(c.files.paths == ["/srv/a", "/srv/b"])
    }

    @Test func badSettingsAreConfigurationErrorsThatNameTheField() async throws {
        let cases: [([String: String], String?, String)] = [
            ([:], #"{"files": {"paths": ["srv/uploads"]}}"#, "files.paths 'srv/uploads' is not an absolute path"),
            ([:], #"{"files": {"paths": ["/srv/../etc"]}}"#, "files.paths '/srv/../etc' contains '..'"),
            ([:], #"{"files": {"paths": ["/srv/app", "/srv/app/uploads"]}}"#, "one lies inside the other"),
            (["TIDEMARK_FILES_PATHS": "/srv/a:rel"], nil, "TIDEMARK_FILES_PATHS 'rel' is not an absolute path"),
            ([:], #"{"files": {"paths": ["/srv/u"], "exclude": [""]}}"#, "files.exclude[0] is not a pattern"),
            (["BACKUP_DIR": "/srv/backups"], #"{"files": {"paths": ["/srv"]}}"#, "holds repository 'local' (/srv/backups)"),
            (["BACKUP_DIR": "/r", "FILE_BACKUP_DIR": "/srv/u/files"], #"{"files": {"paths": ["/srv/u"]}}"#, "holds repository 'files'"),
            (["BACKUP_DIR": "/var/backups", "FILE_BACKUP_DIR": "/var/backups/files"], nil, "lie one inside the other"),
            (["BACKUP_DIR": "/var/backups/db", "FILE_BACKUP_DIR": "/var/backups"], nil, "lie one inside the other"),
            (["FILE_BACKUP_DIR": "/f"], #"{"repositories": [{"name": "files", "type": "posix", "path": "/r"}]}"#, "repository name 'files'"),
        ]
        for (env, file, words) in cases {
            let e = await expectError(.configuration) { _ = try load(env, file: file) }
            #expect(e?.message.contains(words) == true, "\(env) \(file ?? ""): \(String(describing: e))")
            #expect(e?.hints.isEmpty == false, "\(words): a hint says what to do")
        }
    }

    @Test func theShapeCheckNamesUnknownKeysAndWrongTypesByLine() async throws {
        let unknown = await expectError(.configuration) { _ = try load([:], file: "{\"files\": {\"paths\": [\"/srv/u\"],\n  \"exclud\": []}}") }
        #expect(unknown?.message.contains("line 2, column 3") == true && unknown?.message.contains("unknown key 'files.exclud'") == true,
                "\(String(describing: unknown))")
        #expect(unknown?.hints.contains("did you mean 'exclude'?") == true)
        let notArray = await expectError(.configuration) { _ = try load([:], file: #"{"files": {"paths": "/srv/u"}}"#) }
        #expect(notArray?.message.contains("'files.paths' must be an array") == true, "\(String(describing: notArray))")
        let wrongType = await expectError(.configuration) { _ = try load([:], file: #"{"files": {"oneFileSystem": "yes"}}"#) }
        #expect(wrongType?.message.contains("files.oneFileSystem") == true, "\(String(describing: wrongType))")
    }

    /// `files backup` refuses a configured path that is missing, a file or a symlink (exit 3,
    /// before anything is written); a directory passes. The configuration itself loads either
    /// way (a new host restores before the paths exist).
    @Test func missingFileAndSymlinkPathsAreRefusedByTheBackupNotByTheLoad() throws {
        let dir = try Scratch()
        let present = dir.path + "/uploads"
        try FileManager.default.createDirectory(atPath: present, withIntermediateDirectories: true)
        let file = dir.path + "/notes.txt"
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        let link = dir.path + "/current"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: present)
        #expect(try load(["TIDEMARK_FILES_PATHS": present]).files.checkPaths() == [])
        let cases: [(String, String, String)] = [
            (dir.path + "/avatars", "it does not exist; nothing was backed up", "mount or create it"),
            (dir.path + "/avatars/deeper", "it does not exist; nothing was backed up", "mount or create it"),
            (file, "it is not a directory; nothing was backed up", "list the directory that holds it"),
            (link, "it is a symlink (to '\(present)'), not a directory; nothing was backed up", "list the directory it points to"),
        ]
        for (path, problem, fix) in cases {
            let c = try load(["TIDEMARK_FILES_PATHS": present + ":" + path])
            #expect(c.files.paths.count == 2)
            do {
                let warnings = try c.files.checkPaths()
                Issue.record("\(path) passed the check: \(warnings)")
            } catch let e as TidemarkError {
                #expect(e.code == .configuration && e.message == "unable to back up files.paths '\(path)': \(problem)", "\(e)")
                #expect(e.hints.count == 1 && e.hints[0].hasPrefix(fix) && e.hints[0].contains("TIDEMARK_FILES_PATHS"), "\(e.hints)")
            }
        }
    }
}

@Suite("Files repositories")
struct FilesRepositoriesTests {
    func configuration(_ scratch: Scratch, fileBackupDir: String?) throws -> Configuration {
        var env = ["BACKUP_DIR": scratch.path + "/db", "BACKUP_ENCRYPTION_KEY": FilesConfigurationTests.key]
        env["FILE_BACKUP_DIR"] = fileBackupDir
        return try ConfigurationLoader.load(configPath: nil, stanza: nil, environment: env)
    }

    @Test func withoutFileBackupDirTheDatabaseRepositoriesAreTheFilesRepositories() async throws {
        let scratch = try Scratch()
        let c = try configuration(scratch, fileBackupDir: nil)
        let engine = Engine(c)
        _ = try await engine.initialize(parameters: fastKDF)
        let repos = try await engine.filesRepositories()
        #expect(repos.map(\.name) == ["local"] && repos.allSatisfy(\.required))
        let db = try await engine.openRepositories()
        #expect(repos.first?.key.idHex == db.first?.key.idHex, "the same repository, opened once")
    }

    @Test func initCreatesTheFileBackupDirRepositoryWithTheConfiguredKey() async throws {
        let scratch = try Scratch()
        let c = try configuration(scratch, fileBackupDir: scratch.path + "/files")
        let lines = try await Engine(c).initialize(parameters: fastKDF).filter { $0.hasPrefix("initialized") }
        #expect(lines.count == 2 && lines[1].contains("initialized repository 'files' at \(scratch.path)/files"), "\(lines)")
        var st = stat()
        #expect(stat(scratch.path + "/files", &st) == 0 && st.st_mode & 0o777 == 0o700)
        let repos = try await Engine(c).filesRepositories()
        #expect(repos.map(\.name) == ["files"] && repos.first?.store.location.hasSuffix("/files") == true)
        // Opened with the same passphrase in a new engine: the key unwraps.
        let again = try await Engine(c).filesRepositories()
        #expect(again.first?.key.idHex == repos.first?.key.idHex)
    }

    @Test func anUninitializedFileBackupDirSaysHowToCreateIt() async throws {
        let scratch = try Scratch()
        let before = try configuration(scratch, fileBackupDir: nil)
        _ = try await Engine(before).initialize(parameters: fastKDF)
        let c = try configuration(scratch, fileBackupDir: scratch.path + "/files")
        let e = await expectError(.repository) { _ = try await Engine(c).filesRepositories() }
        #expect(e?.message.contains("FILE_BACKUP_DIR") == true, "\(String(describing: e))")
        #expect(e?.hints.first == "create it once with the configured key: tidemark init --repo files")
        #expect(!FileManager.default.fileExists(atPath: scratch.path + "/files"), "nothing is created on first use")
        // `init` of everything refuses (the database repository exists) and names --repo; --repo files works.
        let all = await expectError(.alreadyExists) { _ = try await Engine(c).initialize(parameters: fastKDF) }
        #expect(all?.hints.last?.contains("tidemark init --repo NAME") == true)
        let lines = try await Engine(c).initialize(only: "files", parameters: fastKDF)
        #expect(lines.count == 1 && lines[0].contains("'files'"), "\(lines): no warning about archive_command for the files repository")
        #expect(try await Engine(c).filesRepositories().map(\.name) == ["files"])
    }
}
