import Foundation
import Testing
import TidemarkTesting

#if canImport(Glibc)
import Glibc
#endif

/// `tidemark key change|add|list|remove` through the real binary (no PostgreSQL needed):
/// docs/keys.md. Generated keys throughout (HKDF), so no test pays for scrypt.
@Suite("key commands", .tags(.walArchive), .timeLimit(.minutes(5)))
struct KeyCommandTests {
    let user = try? SystemUser.serverUser()

    struct Setup {
        let scratch: ScratchDirectory
        let repo: RepositoryFixture
        let tidemark: TidemarkRunner
        let user: SystemUser?

        /// A new generated key file (base64 of 32 random bytes, 0600).
        func newKey(_ name: String) throws -> String {
            let path = scratch.child(name)
            try RepositoryFixture.writeKey(to: path, owner: user)
            return path
        }

        func with(key path: String) -> TidemarkRunner { tidemark.with(environment: ["BACKUP_ENCRYPTION_KEY_FILE": path]) }

        func text(_ path: String) throws -> String {
            String(decoding: try FileManager.default.readFile(path), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    func setUp(_ name: String) async throws -> Setup {
        let scratch = try ScratchDirectory(prefix: "tm-key-\(name)", owner: user)
        let repo = try RepositoryFixture.create(in: scratch, owner: user)
        let tidemark = TidemarkRunner(binary: try TidemarkBinary.install(), environment: repo.environment, user: user, timeout: .seconds(60))
        let initialized = try await tidemark.run("init")
        try #require(initialized.exitCode == 0, "\(initialized)")
        #expect(initialized.stdoutText.contains("hkdf-sha256"), "a generated key is wrapped with HKDF: \(initialized)")
        return Setup(scratch: scratch, repo: repo, tidemark: tidemark, user: user)
    }

    struct Listing: Decodable {
        struct Slot: Decodable { let name: String; let kdf: String; let created: String; let configuredKey: Bool }
        let repository: String
        let slots: [Slot]
    }

    func list(_ runner: TidemarkRunner) async throws -> [Listing.Slot] {
        let result = try await runner.run("key", "list", "--json")
        try #require(result.exitCode == 0, "\(result)")
        return try JSONDecoder().decode([Listing].self, from: result.stdout).flatMap(\.slots)
    }

    @Test func addListRemoveAndChange() async throws {
        let s = try await setUp("slots")
        let main = s.repo.keyFile
        let recovery = try s.newKey("recovery.key")
        var slots = try await list(s.tidemark)
        #expect(slots.map(\.name) == ["default"] && slots[0].kdf == "hkdf-sha256" && slots[0].configuredKey)

        let added = try await s.tidemark.run("--log-level", "info", "key", "add", "--name", "recovery", "--key-file", recovery)
        #expect(added.exitCode == 0 && added.stdoutText.contains("added key slot 'recovery'"), "\(added)")
        let duplicate = try await s.tidemark.run("key", "add", "--name", "recovery", "--key-file", try s.newKey("other.key"))
        #expect(duplicate.exitCode == 9 && duplicate.stderrText.contains("already has a key slot named 'recovery'") && duplicate.stderrText.contains("HINT:"), "\(duplicate)")
        slots = try await list(s.with(key: recovery))
        #expect(slots.map(\.name) == ["default", "recovery"] && slots.map(\.configuredKey) == [false, true])
        #expect(try await s.with(key: recovery).run("info").exitCode == 0, "the recovery key opens the repository")

        // The slot the configured key opens is not removed; the other one is; the last one never.
        let own = try await s.tidemark.run("key", "remove", "--name", "default")
        #expect(own.exitCode == 9 && own.stderrText.contains("the one the configured key opens"), "\(own)")
        let missing = try await s.tidemark.run("key", "remove", "--name", "nonesuch")
        #expect(missing.exitCode == 1, "\(missing)")
        let removed = try await s.with(key: recovery).run("key", "remove", "--name", "default")
        #expect(removed.exitCode == 0 && removed.stdoutText.contains("removed key slot 'default'"), "\(removed)")
        #expect(try await s.tidemark.run("info").exitCode == 4, "the removed slot's key is refused")
        let last = try await s.with(key: recovery).run("key", "remove", "--name", "recovery")
        #expect(last.exitCode == 9 && last.stderrText.contains("last one") && last.stderrText.contains("HINT: add another first"), "\(last)")

        // change: the old key is refused with exit 4 afterwards, the new one opens; a re-run is done.
        let new = try s.newKey("new.key")
        let changed = try await s.with(key: recovery).run("key", "change", "--new-key-file", new)
        #expect(changed.exitCode == 0 && changed.stdoutText.contains("key slot 'recovery' now opens with the new key"), "\(changed)")
        let old = try await s.with(key: recovery).run("info")
        #expect(old.exitCode == 4 && old.stderrText.contains("wrong key"), "\(old)")
        #expect(try await s.with(key: new).run("info").exitCode == 0)
        let again = try await s.with(key: recovery).run("key", "change", "--new-key-file", new)
        #expect(again.exitCode == 0 && again.stdoutText.contains("already changed"), "\(again)")
        let viaVariable = try await s.with(key: new).run("key", "change", environment: ["TIDEMARK_NEW_KEY_FILE": main])
        #expect(viaVariable.exitCode == 0, "TIDEMARK_NEW_KEY_FILE: \(viaVariable)")
        #expect(try await s.with(key: main).run("info").exitCode == 0)

        // No key material anywhere in what the commands printed.
        for result in [added, duplicate, own, removed, last, changed, old, again, viaVariable] {
            for key in [main, recovery, new] {
                let secret = try s.text(key)
                #expect(!result.stdoutText.contains(secret) && !result.stderrText.contains(secret))
            }
        }
    }

    @Test func weakKeysAreRefusedWithTheWayToAGoodOne() async throws {
        let s = try await setUp("weak")
        let hint = "head -c 32 /dev/urandom | base64 > /etc/tidemark/key && chmod 600 /etc/tidemark/key"
        for (name, weak) in [("short", "hunter2"), ("guide", "your-super-secret-encryption-key-here"), ("password", "password1234567890")] {
            let file = s.scratch.child(name)
            try FileManager.default.writeFile(file, Data((weak + "\n").utf8), mode: 0o600, owner: s.user)
            for args in [["key", "change", "--new-key-file", file], ["key", "add", "--name", "r", "--key-file", file]] {
                let refused = try await ChildProcess.run(s.tidemark.command(args))
                #expect(refused.exitCode == 3 && refused.stderrText.contains(hint) && !refused.stderrText.contains(weak), "\(args): \(refused)")
            }
            let initRefused = try await TidemarkRunner(binary: s.tidemark.binary, environment: ["BACKUP_DIR": s.scratch.child("repo-\(name)"), "BACKUP_ENCRYPTION_KEY": weak],
                                                       user: s.user).run("init")
            #expect(initRefused.exitCode == 3 && initRefused.stderrText.contains(hint), "\(initRefused)")
            #expect(!FileManager.default.fileExists(atPath: s.scratch.child("repo-\(name)")))
        }
        #expect(try await list(s.tidemark).count == 1, "nothing was added")
        let noKey = try await s.tidemark.run("key", "change")
        #expect(noKey.exitCode == 3 && noKey.stderrText.contains("--new-key-file"), "without a terminal: \(noKey)")
    }

    /// On a terminal without a key file, the new key is asked for twice with echo off: it never
    /// appears on the terminal, and it is the key that opens the repository afterwards.
    @Test func onATerminalTheNewKeyIsTypedTwiceWithoutEcho() async throws {
        let s = try await setUp("prompt")
        let typed = "a passphrase typed at the terminal"
        let driver = """
            import os, pty, sys
            pid, fd = pty.fork()
            if pid == 0:
                os.execve(sys.argv[1], sys.argv[1:], os.environ)
            seen, answered = b'', 0
            while True:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
                if seen.count(b'key: ') + seen.count(b'again: ') > answered:
                    os.write(fd, os.environ['TM_TYPED'].encode() + b'\\n')
                    answered += 1
            sys.stdout.buffer.write(seen)
            _, status = os.waitpid(pid, 0)
            sys.exit(os.waitstatus_to_exitcode(status))
            """
        let command = s.tidemark.command(["key", "change"], environment: ["TM_TYPED": typed])
        let result = try await ChildProcess.run(Command("/usr/bin/python3", ["-c", driver, command.executable] + command.arguments,
                                                        environment: command.environment, user: command.user, timeout: command.timeout))
        #expect(result.exitCode == 0 && result.stdoutText.contains("New key: ") && result.stdoutText.contains("now opens with the new key"), "\(result)")
        #expect(!result.stdoutText.contains(typed), "the typed key is not echoed: \(result.stdoutText)")
        let file = s.scratch.child("typed.key")
        try FileManager.default.writeFile(file, Data(typed.utf8), mode: 0o600, owner: s.user)
        #expect(try await s.with(key: file).run("info").exitCode == 0)
        #expect(try await s.tidemark.run("info").exitCode == 4)
    }

    /// A busy stanza (a live lease of another host) is exit 13 and leaves the config alone.
    @Test func aLockedStanzaIsBusy() async throws {
        let s = try await setUp("busy")
        let lockDirectory = s.repo.directory + "/main/lock"
        try FileManager.default.makeDirectory(s.repo.directory + "/main", mode: 0o700, owner: s.user)
        try FileManager.default.makeDirectory(lockDirectory, mode: 0o700, owner: s.user)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let holder = """
            {"format": "tidemark-lease", "version": 1, "holder": "0123456789abcdef0123456789abcdef", "host": "db9.example",
             "pid": 4242, "command": "backup", "bootID": "x", "pidNamespace": "pid:[1]",
             "acquiredAt": "2026-01-01T00:00:00Z", "acquiredAtMillis": \(now),
             "expiresAt": "2099-01-01T00:00:00Z", "expiresAtMillis": \(now + 600_000), "released": false}
            """
        try FileManager.default.writeFile(lockDirectory + "/00000000000000000001", Data(holder.utf8), mode: 0o600, owner: s.user)
        let before = try FileManager.default.readFile(s.repo.directory + "/tidemark.repo")
        let busy = try await s.tidemark.run("key", "change", "--new-key-file", try s.newKey("new.key"))
        #expect(busy.exitCode == 13 && busy.stderrText.contains("held by backup pid 4242 on db9.example"), "\(busy)")
        #expect(try FileManager.default.readFile(s.repo.directory + "/tidemark.repo") == before)
    }

    /// Two repositories, the first changed alone (as an interrupted run leaves them): a re-run over
    /// both reports the first as done and finishes the second. Global options before `key`.
    @Test func aRerunAcrossRepositoriesFinishesTheJob() async throws {
        let scratch = try ScratchDirectory(prefix: "tm-key-multi", owner: user)
        let binary = try TidemarkBinary.install()
        let old = scratch.child("old.key"), new = scratch.child("new.key")
        try RepositoryFixture.writeKey(to: old, owner: user)
        try RepositoryFixture.writeKey(to: new, owner: user)
        func config(_ names: [String], key: String) throws -> String {
            let repositories = names.map { "{\"name\": \"\($0)\", \"type\": \"posix\", \"path\": \"\(scratch.child($0))\"}" }
            let path = scratch.child("tidemark-\(names.joined(separator: "-"))-\(URL(fileURLWithPath: key).lastPathComponent).json")
            try FileManager.default.writeFile(path, Data("{\"encryptionKeyFile\": \"\(key)\", \"repositories\": [\(repositories.joined(separator: ", "))]}".utf8),
                                              mode: 0o600, owner: user)
            return path
        }
        let runner = TidemarkRunner(binary: binary, environment: [:], user: user, timeout: .seconds(60))
        let both = try config(["first", "second"], key: old)
        #expect(try await runner.run("--config", both, "init").exitCode == 0)
        let partial = try await runner.run("--config", try config(["first"], key: old), "key", "change", "--new-key-file", new)
        #expect(partial.exitCode == 0, "\(partial)")
        let rerun = try await runner.run("--config", both, "key", "change", "--new-key-file", new)
        #expect(rerun.exitCode == 0, "\(rerun)")
        #expect(rerun.stdoutText.contains("repository 'first': already changed") && rerun.stdoutText.contains("repository 'second': key slot 'default' now opens"),
                "\(rerun)")
        #expect(try await runner.run("--config", try config(["first", "second"], key: new), "info").exitCode == 0)
        #expect(try await runner.run("--config", both, "info").exitCode == 4)
    }
}
