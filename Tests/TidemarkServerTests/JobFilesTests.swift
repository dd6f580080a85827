import Foundation
import Testing
import Tidemark
import TidemarkCore
import TidemarkTesting
@testable import TidemarkServer

/// `includeFiles` on backup jobs: resolved from the schedule (on by default when file storage
/// is configured), and run by the job runner after the database backup, with /bin/sh standing
/// in for `tidemark` (it records the file backup's command line).
@Suite("Backup jobs with files")
struct JobFilesTests {
    /// `backup` prints its complete line; `files` records its arguments and exits `filesStatus`.
    func runner(in dir: ScratchDirectory, backupLine: String = "backup 20261202-030000F (full) complete: 1 MiB", filesStatus: Int = 0) -> JobRunner {
        let script = """
        case "$1" in
          backup) echo '\(backupLine)'; exit 0 ;;
          files) echo "$@" > '\(dir.child("files-args"))'
                 if [ \(filesStatus) -ne 0 ]; then echo 'tidemark files backup: ERROR: unable to read /srv/u' >&2; echo 'HINT: fix the permissions' >&2; fi
                 echo 'files snapshot 0123abcd complete'; exit \(filesStatus) ;;
        esac
        exit 9
        """
        return JobRunner(executable: "/bin/sh", globalArguments: ["-c", script, "sh"], environment: ["PATH": "/usr/bin:/bin"],
                         stateDirectory: dir.child("state"), stanza: "main", temporaryDirectory: dir.path)
    }

    func run(_ r: JobRunner, files: FilesFollowUp?) async -> JobResult {
        await r.run(job: "nightly", arguments: ["backup", "--type", "full"], scheduledFor: Date(), late: false,
                    deadline: ContinuousClock.now + .seconds(30), stop: StopFlag(), files: files)
    }

    func filesArguments(_ dir: ScratchDirectory) -> String? {
        FileManager.default.contents(atPath: dir.child("files-args")).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func theFileBackupFollowsTheDatabaseBackupWithItsID() async throws {
        let dir = try ScratchDirectory(prefix: "tidemark-files-job")
        let r = await run(runner(in: dir), files: FilesFollowUp(full: true))
        #expect(r.outcome == .succeeded && r.exitCode == 0 && r.backupID == "20261202-030000F")
        #expect(filesArguments(dir) == "files backup --type full --database-backup 20261202-030000F\n")
        #expect(r.output.contains("backup 20261202-030000F (full) complete") && r.output.contains("files snapshot 0123abcd complete"), "\(r.output)")
    }

    @Test func aFailingFileBackupFailsTheJobWithItsHint() async throws {
        let dir = try ScratchDirectory(prefix: "tidemark-files-job")
        let r = await run(runner(in: dir, filesStatus: 3), files: FilesFollowUp(full: false))
        #expect(r.outcome == .failed && r.exitCode == 3)
        #expect(r.error == "database backup 20261202-030000F succeeded; the file backup failed: unable to read /srv/u")
        #expect(r.hints == ["fix the permissions"])
        #expect(r.backupID == "20261202-030000F", "the database backup stands")
        #expect(filesArguments(dir) == "files backup --type incremental --database-backup 20261202-030000F\n")
    }

    @Test func noBackupIDMeansNoFileBackupAndAFailure() async throws {
        let dir = try ScratchDirectory(prefix: "tidemark-files-job")
        let r = await run(runner(in: dir, backupLine: "nothing to see"), files: FilesFollowUp(full: false))
        #expect(r.outcome == .failed)
        #expect(r.error?.contains("the file backup (includeFiles) did not run") == true)
        #expect(filesArguments(dir) == nil)
        let plain = await run(runner(in: dir), files: nil)
        #expect(plain.outcome == .succeeded && filesArguments(dir) == nil, "without includeFiles only the database is backed up")
    }

    @Test func backupJobsIncludeTheFilesWhenFileStorageIsConfigured() throws {
        let off = try ScheduleSettings.resolve(nil)
        #expect(off.jobs.allSatisfy { !$0.includeFiles })
        let on = try ScheduleSettings.resolve(nil, filesConfigured: true)
        #expect(on.jobs.filter(\.includeFiles).map(\.name) == ["incremental", "full", "monthly"])
        #expect(try on.job(named: "incremental").filesFollowUp == FilesFollowUp(full: false))
        #expect(try on.job(named: "full").filesFollowUp == FilesFollowUp(full: true))
        #expect(try on.job(named: "expire").filesFollowUp == nil)
        #expect(try on.job(named: "incremental").typeDescription == "backup (incremental, with files)")
        var section = ScheduleSection()
        var monthly = JobSection()
        monthly.name = "monthly"
        monthly.includeFiles = false
        section.jobs = [monthly]
        #expect(try ScheduleSettings.resolve(section, filesConfigured: true).job(named: "monthly").includeFiles == false)
    }

    @Test func includeFilesMistakesAreConfigurationErrors() throws {
        func message(_ job: JobSection, filesConfigured: Bool) -> String {
            var section = ScheduleSection()
            section.jobs = [job]
            do {
                _ = try ScheduleSettings.resolve(section, filesConfigured: filesConfigured)
                return "no error"
            } catch let e as TidemarkError {
                return e.message + " | " + e.hints.joined()
            } catch {
                return "\(error)"
            }
        }
        var nightly = JobSection()
        nightly.name = "nightly"
        nightly.type = "backup"
        nightly.backupType = "incremental"
        nightly.cron = "0 3 * * *"
        nightly.includeFiles = true
        #expect(message(nightly, filesConfigured: false).contains("includeFiles is set but no file storage is configured | list the directories in files.paths"))
        #expect(message(nightly, filesConfigured: true) == "no error")
        var verify = JobSection()
        verify.name = "verify"
        verify.includeFiles = true
        #expect(message(verify, filesConfigured: true).contains("includeFiles is for backup jobs, not verify"))
    }
}
