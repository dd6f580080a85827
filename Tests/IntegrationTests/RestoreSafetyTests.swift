import Foundation
import Testing
import TidemarkTesting

#if canImport(Glibc)
import Glibc
#endif

extension PostgreSQLIntegration {
    /// `tidemark restore` never destroys what is not its own and never says it worked when the
    /// restored server could not recover: issue 10, items 1, 2 and 4, through the binary.
    @Suite("Restore safety")
    struct RestoreSafetyTests {
        /// A small cluster with a tablespace and one full backup.
        static func cluster() async throws -> (BackupTestCluster, tablespace: String, oid: String, backup: String) {
            let cluster = try await BackupTestCluster(prefix: "tidemark-it-restore-safety")
            let tablespace = try cluster.makeServerDirectory("ts-live")
            try await cluster.server.psql("create tablespace ts_live location '\(tablespace)'")
            let oid = try await cluster.server.psql("select oid from pg_tablespace where spcname = 'ts_live'")
            try await cluster.server.psql("create table ts_rows tablespace ts_live as select g as id from generate_series(1, 500) g")
            let (backup, _) = try await cluster.backup("full")
            return (cluster, tablespace, oid, backup.id)
        }

        func restore(_ cluster: BackupTestCluster, _ backup: String, to: String, _ extra: [String] = []) async throws -> ProcessResult {
            try await ChildProcess.run(cluster.tidemark.command(
                ["restore", "--to", to, "--backup", backup, "--target-immediate", "--target-action", "promote"] + extra))
        }

        func entries(_ path: String) -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() }

        /// A directory owned by the server user holding `files` (name → content).
        func directory(_ cluster: BackupTestCluster, _ name: String, files: [String: String] = [:], directories: [String] = [])
            throws -> String
        {
            let path = try cluster.makeServerDirectory(name)
            for d in directories { try FileManager.default.makeDirectory(path + "/" + d, mode: 0o700, owner: cluster.user) }
            for (file, content) in files {
                try FileManager.default.writeFile(path + "/" + file, Data(content.utf8), mode: 0o600, owner: cluster.user)
            }
            return path
        }

        @Test("--force never empties a repository, a key file, the live tablespace or a directory that is not a tablespace",
              .timeLimit(.minutes(10)))
        func forceStaysInsideTheTarget() async throws {
            let (cluster, live, oid, backup) = try await Self.cluster()
            defer { cluster.stop() }
            let repository = cluster.repository.directory
            let objectsBefore = try repositoryDataObjects(repository)
            let mapped = cluster.scratch.child("ts-mapped")

            // The target contains the repository; lies inside it; is the key file.
            for (to, mentions) in [(cluster.scratch.path, "repository 'local'"), (repository + "/restore", "repository 'local'"),
                                   (cluster.repository.keyFile, "the key file")] {
                let run = try await restore(cluster, backup, to: to, ["--force", "--tablespace-map", "\(live)=\(mapped)"])
                #expect(run.exitCode == 9 && run.stderrText.contains(mentions) && run.stderrText.contains("HINT:"), "\(to): \(run)")
            }
            #expect(try repositoryDataObjects(repository) == objectsBefore, "the repository lost objects")
            #expect(try await cluster.list().backups.map(\.id) == [backup])

            // The tablespace mapped onto a parent of the target.
            let parent = try directory(cluster, "parent")
            let nested = parent + "/data"
            let run1 = try await restore(cluster, backup, to: nested, ["--force", "--tablespace-map", "\(live)=\(parent)"])
            #expect(run1.exitCode == 9 && run1.stderrText.contains("--tablespace-map"), "\(run1)")

            // No map: the tablespace would go back to its original location, the live one.
            let liveBefore = entries(live)
            let target = try directory(cluster, "target", files: ["precious.txt": "keep me unless --force"])
            let run2 = try await restore(cluster, backup, to: target, ["--force"])
            #expect(run2.exitCode == 9 && run2.stderrText.contains("original location") && run2.stderrText.contains("--tablespace-map \(live)="),
                    "\(run2)")
            #expect(entries(live) == liveBefore && !liveBefore.isEmpty, "the live tablespace changed: \(entries(live))")
            #expect(try await cluster.server.psql("select count(*) from ts_rows") == "500")
            #expect(entries(target) == ["precious.txt"], "nothing was deleted yet: \(entries(target))")

            // Mapped onto a directory holding something that is not a PostgreSQL tablespace.
            let unrelated = try directory(cluster, "unrelated", files: ["invoice.pdf": "not a tablespace"])
            let run3 = try await restore(cluster, backup, to: target, ["--force", "--tablespace-map", "\(oid)=\(unrelated)"])
            #expect(run3.exitCode == 9 && run3.stderrText.contains("invoice.pdf"), "\(run3)")
            #expect(entries(unrelated) == ["invoice.pdf"] && entries(target) == ["precious.txt"])

            // Mapped onto an old copy of this tablespace beside another version's directory: only
            // this version's directory is replaced, and the target is emptied.
            let version = try #require(liveBefore.first { $0.hasPrefix("PG_15_") })
            let oldCopy = try directory(cluster, "old-copy", files: [version + "/stale": "old"], directories: [version, "PG_14_201909212"])
            let run4 = try await restore(cluster, backup, to: target, ["--force", "--tablespace-map", "\(oid)=\(oldCopy)"])
            try #require(run4.exitCode == 0, "\(run4)")
            #expect(entries(oldCopy) == ["PG_14_201909212", version].sorted(), "\(entries(oldCopy))")
            #expect(!FileManager.default.fileExists(atPath: oldCopy + "/" + version + "/stale"))
            #expect(!entries(target).contains("precious.txt") && entries(target).contains("PG_VERSION"))
            #expect(entries(live) == liveBefore)

            // Archive mode off by default: the copy never archives into the stanza.
            let autoConf = try String(contentsOfFile: target + "/postgresql.auto.conf", encoding: .utf8)
            #expect(autoConf.contains("archive_mode = 'off'"), "\(autoConf)")
            #expect(run4.stdoutText.contains("--archive-mode off"), "\(run4.stdoutText)")
            let restored = try await cluster.startRestored(target, name: "target", keepArchiveSettings: true)
            #expect(try await restored.psql("select count(*) from ts_rows") == "500")
            #expect(try await restored.psql("show archive_mode") == "off")
            restored.stop()

            // --archive-mode preserve keeps the backup's settings.
            let preserved = cluster.scratch.child("preserved")
            let run5 = try await restore(cluster, backup, to: preserved,
                                         ["--archive-mode", "preserve", "--tablespace-map", "\(oid)=\(cluster.scratch.child("ts-preserved"))"])
            try #require(run5.exitCode == 0, "\(run5)")
            let preservedConf = try String(contentsOfFile: preserved + "/postgresql.auto.conf", encoding: .utf8)
            #expect(!preservedConf.contains("archive_mode"), "\(preservedConf)")
        }

        @Test("restore --dry-run refuses every target restore refuses, with the same exit code, and writes nothing",
              .timeLimit(.minutes(10)))
        func dryRunChecksTheTargets() async throws {
            let (cluster, live, oid, backup) = try await Self.cluster()
            defer { cluster.stop() }
            let repository = cluster.repository.directory
            let objectsBefore = try repositoryDataObjects(repository)
            let parent = try directory(cluster, "parent")
            let target = try directory(cluster, "target", files: ["precious.txt": "keep me"])
            let unrelated = try directory(cluster, "unrelated", files: ["invoice.pdf": "not a tablespace"])
            let mapped = cluster.scratch.child("ts-mapped")
            let cases: [(to: String, extra: [String], says: String)] = [
                (cluster.scratch.path, ["--force", "--tablespace-map", "\(live)=\(mapped)"], "repository 'local'"),
                (cluster.repository.keyFile, ["--force", "--tablespace-map", "\(live)=\(mapped)"], "the key file"),
                (parent + "/data", ["--force", "--tablespace-map", "\(live)=\(parent)"], "--tablespace-map"),
                (target, ["--force"], "original location"),
                (target, ["--force", "--tablespace-map", "\(oid)=\(unrelated)"], "invoice.pdf"),
                (target, ["--tablespace-map", "\(live)=\(mapped)"], "is not empty"),
            ]
            for c in cases {
                let dry = try await restore(cluster, backup, to: c.to, c.extra + ["--dry-run"])
                let real = try await restore(cluster, backup, to: c.to, c.extra)
                #expect(real.exitCode == 9 && real.stderrText.contains(c.says), "restore \(c): \(real)")
                #expect(dry.exitCode == real.exitCode && dry.stderrText.contains(c.says) && dry.stderrText.contains("HINT:"),
                        "restore --dry-run \(c) must refuse as restore does: \(dry)")
                #expect(!dry.stdoutText.contains("nothing was written"), "a refused dry run does not print the plan as if it would work: \(dry.stdoutText)")
            }
            #expect(try repositoryDataObjects(repository) == objectsBefore)
            #expect(entries(target) == ["precious.txt"] && entries(unrelated) == ["invoice.pdf"] && entries(parent).isEmpty)
            #expect(!FileManager.default.fileExists(atPath: mapped))

            // A restore that would work: the dry run says what --force would delete and deletes nothing.
            let ok = try await restore(cluster, backup, to: target, ["--force", "--tablespace-map", "\(live)=\(mapped)", "--dry-run"])
            #expect(ok.exitCode == 0 && ok.stdoutText.contains("--force would first delete 1 entry: ") && ok.stdoutText.contains("precious.txt"), "\(ok)")
            #expect(entries(target) == ["precious.txt"] && !FileManager.default.fileExists(atPath: mapped))
        }

        @Test("a failed restore leaves its targets as it found them; a restore_command that cannot work fails the restore first",
              .timeLimit(.minutes(10)))
        func failuresLeaveNothingBehind() async throws {
            let (cluster, _, oid, backup) = try await Self.cluster()
            defer { cluster.stop() }

            // The key only in the environment: refused before anything is written.
            let keyText = try String(contentsOfFile: cluster.repository.keyFile, encoding: .utf8)
            let envKey = cluster.tidemark.with(environment: ["BACKUP_ENCRYPTION_KEY_FILE": "", "BACKUP_ENCRYPTION_KEY": keyText])
            let fresh = cluster.scratch.child("fresh")
            let refused = try await ChildProcess.run(envKey.command(
                ["restore", "--to", fresh, "--backup", backup, "--target-immediate", "--tablespace-map", "\(oid)=\(cluster.scratch.child("ts-fresh"))"]))
            #expect(refused.exitCode == 3 && refused.stderrText.contains("BACKUP_ENCRYPTION_KEY_FILE"), "\(refused)")
            #expect(!refused.stderrText.contains(keyText.trimmingCharacters(in: .whitespacesAndNewlines)))
            #expect(!FileManager.default.fileExists(atPath: fresh))

            // A damaged pack: the restore fails and removes what it wrote, in the target and in
            // the mapped tablespace (whose other version's directory stays).
            let backupDirectory = cluster.repository.directory + "/main/backup/" + backup
            let pack = try #require(try FileManager.default.contentsOfDirectory(atPath: backupDirectory)
                .map { backupDirectory + "/" + $0 }
                .max { (try? FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int) ?? 0 < (try? FileManager.default.attributesOfItem(atPath: $1)[.size] as? Int) ?? 0 })
            let original = try Data(contentsOf: URL(fileURLWithPath: pack))
            var damaged = original
            damaged[damaged.count / 2] ^= 0x01
            try damaged.write(to: URL(fileURLWithPath: pack))
            let target = try directory(cluster, "target")
            let tablespace = try directory(cluster, "ts-target", directories: ["PG_14_201909212"])
            let failed = try await restore(cluster, backup, to: target, ["--tablespace-map", "\(oid)=\(tablespace)"])
            #expect(failed.exitCode == 8, "\(failed)")
            #expect(entries(target).isEmpty, "a failed restore left \(entries(target))")
            #expect(entries(tablespace) == ["PG_14_201909212"], "\(entries(tablespace))")
            try original.write(to: URL(fileURLWithPath: pack))

            // The first WAL segment recovery needs is damaged: the restore_command proof fails
            // before any data is written, and restore exits non-zero saying so.
            let list = try await cluster.list()
            let startLSN = try #require(list.backups.first?.startLSN)
            let segment = try await cluster.server.psql("select pg_walfile_name('\(startLSN)')")
            let walObject = try #require(FileManager.default.enumerator(atPath: cluster.repository.directory + "/main/wal")?
                .compactMap { $0 as? String }.first { $0.hasSuffix(segment) })
            let walPath = cluster.repository.directory + "/main/wal/" + walObject
            var wal = try Data(contentsOf: URL(fileURLWithPath: walPath))
            wal[wal.count / 2] ^= 0x01
            try wal.write(to: URL(fileURLWithPath: walPath))
            let unproven = try await restore(cluster, backup, to: target, ["--tablespace-map", "\(oid)=\(tablespace)"])
            #expect(unproven.exitCode == 3 && unproven.stderrText.contains("restore_command") && unproven.stderrText.contains(segment),
                    "\(unproven)")
            #expect(entries(target).isEmpty, "\(entries(target))")
            #expect(entries(tablespace) == ["PG_14_201909212"])
        }

        @Test("--force on a terminal lists what it will delete and proceeds only on yes", .timeLimit(.minutes(10)))
        func forceAsksOnATerminal() async throws {
            let (cluster, _, oid, backup) = try await Self.cluster()
            defer { cluster.stop() }
            let target = try directory(cluster, "target", files: ["precious.txt": "keep"])
            let arguments = ["restore", "--to", target, "--backup", backup, "--target-immediate", "--force",
                             "--tablespace-map", "\(oid)=\(cluster.scratch.child("ts-target"))"]
            for answer in ["no", "yes"] {
                let run = try await ChildProcess.run(Self.onTerminal(cluster.tidemark.command(arguments), answer: answer))
                if answer == "no" {
                    #expect(run.exitCode == 9, "\(run)")
                    #expect(run.stdoutText.contains(target + "/precious.txt") && run.stdoutText.contains("Type yes"), "\(run)")
                    #expect(entries(target) == ["precious.txt"])
                } else {
                    #expect(run.exitCode == 0, "\(run)")
                    #expect(run.stdoutText.contains(" MiB"), "a terminal shows the restore's progress: \(run.stdoutText)")
                    #expect(entries(target).contains("PG_VERSION") && !entries(target).contains("precious.txt"))
                }
            }
        }

        /// Runs `command` on a pseudo-terminal (Python's pty), typing `answer` once the
        /// prompt appears; the terminal's output is stdout, the command's exit status the exit.
        static func onTerminal(_ command: Command, answer: String) -> Command {
            let driver = """
                import os, pty, sys
                pid, fd = pty.fork()
                if pid == 0:
                    os.execve(sys.argv[1], sys.argv[1:], os.environ)
                seen = b''
                answered = False
                while True:
                    try:
                        chunk = os.read(fd, 4096)
                    except OSError:
                        break
                    if not chunk:
                        break
                    seen += chunk
                    if not answered and b'Type yes' in seen:
                        os.write(fd, os.environ['TM_ANSWER'].encode() + b'\\n')
                        answered = True
                sys.stdout.buffer.write(seen)
                _, status = os.waitpid(pid, 0)
                sys.exit(os.waitstatus_to_exitcode(status))
                """
            var environment = command.environment
            environment["TM_ANSWER"] = answer
            return Command("/usr/bin/python3", ["-c", driver, command.executable] + command.arguments, environment: environment,
                           user: command.user, timeout: command.timeout)
        }
    }
}

/// The repository's objects without its audit log, which records every restore, refused ones
/// included (docs/audit.md).
func repositoryDataObjects(_ repository: String) throws -> Int {
    try FileManager.default.subpathsOfDirectory(atPath: repository).filter { !$0.split(separator: "/").dropFirst().starts(with: ["audit"]) }.count
}
