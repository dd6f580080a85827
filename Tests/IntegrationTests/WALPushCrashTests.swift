import Foundation
import Testing
import TidemarkTesting

#if canImport(Glibc)
import Glibc
#endif

extension PostgreSQLIntegration {
    /// `wal-push` killed at any moment (SIGKILL: no cleanup, no atexit) must leave either
    /// nothing or the whole, authentic segment visible — never a partial or corrupt object — and
    /// the next push (PostgreSQL's retry) must succeed.
    @Suite("wal-push under SIGKILL", .tags(.walArchive))
    struct WALPushCrashTests {
        /// Pushes actually killed mid-way (not finished before the signal) on repositories whose
        /// stanza exists; attempts alternate between fresh names and re-pushes.
        static let requiredKills = 50
        /// Kills of the very first push into a brand-new repository (stanza not yet recorded).
        static let requiredFirstPushKills = 8

        @Test("SIGKILL at a random moment of wal-push leaves nothing or everything", .timeLimit(.minutes(30)))
        func killedPushesLeaveNothingOrEverything() async throws {
            let user = try SystemUser.serverUser()
            let scratch = try ScratchDirectory(prefix: "tidemark-it-crash", mode: 0o755)
            let segmentDirectory = scratch.child("segments")
            try FileManager.default.makeDirectory(segmentDirectory, mode: 0o755, owner: user)
            let samples = try await WALSamples.generate(count: 12, scale: 5, into: segmentDirectory, owner: user)
            let segments = samples.paths
            try #require(segments.count >= 12, "only \(segments.count) sample segments")
            let binary = try TidemarkBinary.install()
            let fetchDirectory = scratch.child("fetched")
            try FileManager.default.makeDirectory(fetchDirectory, mode: 0o700, owner: user)
            var random = SeededGenerator.fromEnvironment()
            let seed = "TIDEMARK_TEST_SEED=\(random.seed)"
            print("wal-push crash test: \(seed)")

            var generation = 0
            func freshRepository() async throws -> TidemarkRunner {
                generation += 1
                return try await initializedRepository(in: scratch, name: "repository-\(generation)", binary: binary, user: user).1
            }

            // Calibrate: how long does an uninterrupted push take, fresh and repeated?
            var tidemark = try await freshRepository()
            var pushed: Set<String> = []
            var freshDurations: [Duration] = []
            var repeatDurations: [Duration] = []
            for segment in segments.prefix(3) {
                let first = try await tidemark.run("wal-push", segment)
                try #require(first.exitCode == 0, "wal-push failed without any kill: \(first)")
                let again = try await tidemark.run("wal-push", segment)
                try #require(again.exitCode == 0, "re-push failed without any kill: \(again)")
                freshDurations.append(first.duration)
                repeatDurations.append(again.duration)
                pushed.insert(baseName(segment))
            }
            // The kill window adapts as the test runs (see `KillWindow`): a one-off calibration
            // is skewed by the first, cold push and by the machine's load at that moment.
            var freshWindow = KillWindow(start: median(freshDurations))
            var repeatWindow = KillWindow(start: median(repeatDurations))
            print("wal-push takes \(freshDurations) (fresh), \(repeatDurations) (already archived)")

            var killedFresh = 0
            var killedRepeat = 0
            var finishedBeforeKill = 0
            var killsMidWrite = 0
            var iteration = 0
            // Random delays sometimes land after the push has finished; keep going until enough
            // pushes were really interrupted, fresh ones and re-pushes each (a fresh push is now
            // much shorter than a re-push, which reads back the archived copy, so fewer of its
            // random delays land in time). Bounded, so a too-fast push cannot loop forever.
            func enoughKills() -> Bool {
                killedFresh + killedRepeat >= Self.requiredKills
                    && killedFresh >= Self.requiredKills / 4 && killedRepeat >= Self.requiredKills / 4
            }
            while !enoughKills() || iteration < 60, iteration < 4 * Self.requiredKills {
                defer { iteration += 1 }
                let wantFresh = iteration % 2 == 0
                var candidates = segments.filter { pushed.contains(baseName($0)) != wantFresh }
                if candidates.isEmpty {
                    if wantFresh {
                        tidemark = try await freshRepository()
                        let seeded = try await tidemark.run("wal-push", segments[0])
                        try #require(seeded.exitCode == 0, "\(seeded)")
                        pushed = [baseName(segments[0])]
                    }
                    candidates = segments.filter { pushed.contains(baseName($0)) != wantFresh }
                }
                let segment = try #require(candidates.randomElement(using: &random))
                let name = baseName(segment)
                let wasArchived = pushed.contains(name)
                let window = wasArchived ? repeatWindow.current : freshWindow.current
                let delay = Duration.microseconds(
                    Int64.random(in: 0...max(1_000, window.microseconds), using: &random))
                let context = "iteration \(iteration), \(name) (\(wasArchived ? "already archived" : "fresh")), kill after \(delay), \(seed)"

                let killed = try await killDuringPush(tidemark, segment, after: delay)
                if wasArchived {
                    repeatWindow.record(killed: killed.signal == SIGKILL)
                } else {
                    freshWindow.record(killed: killed.signal == SIGKILL)
                }
                if killed.signal == SIGKILL {
                    if wasArchived { killedRepeat += 1 } else { killedFresh += 1 }
                    // Observation only (the store's temporary-name scheme is not an interface):
                    // did this kill land while the object was being written?
                    if let directory = tidemark.environment["BACKUP_DIR"], !temporaryFiles(under: directory).isEmpty {
                        killsMidWrite += 1
                    }
                } else {
                    finishedBeforeKill += 1
                    #expect(killed.exitCode == 0, "push finished before the kill but failed: \(killed); \(context)")
                }

                // The invariant: not there (only if it never was), or exactly there.
                let destination = fetchDirectory + "/" + name
                let fetch = try await tidemark.run("wal-fetch", name, destination)
                switch fetch.exitCode {
                case 0:
                    try expectSameBytes(destination, segment, context)
                case 1:
                    #expect(!wasArchived, "an archived segment disappeared after a killed re-push; \(context)")
                    #expect(killed.exitCode != 0, "wal-push exited 0 but the segment is not archived; \(context)")
                    #expect(!FileManager.default.fileExists(atPath: destination), "exit 1 left \(destination); \(context)")
                default:
                    Issue.record("wal-fetch after a killed push: a damaged object is visible: \(fetch); \(context)")
                }
                try? FileManager.default.removeItem(atPath: destination)

                // PostgreSQL's retry.
                let retry = try await tidemark.run("wal-push", segment)
                #expect(retry.exitCode == 0, "the retry after a killed push failed: \(retry); \(context)")
                let refetch = try await tidemark.run("wal-fetch", name, destination)
                #expect(refetch.exitCode == 0, "wal-fetch after the retry: \(refetch); \(context)")
                if refetch.exitCode == 0 { try expectSameBytes(destination, segment, context) }
                try? FileManager.default.removeItem(atPath: destination)
                if retry.exitCode == 0 { pushed.insert(name) }
            }

            let info = try await InfoJSON.read(with: tidemark)
            #expect(try info.stanza("main").wal.segments == pushed.count, "info counts what was pushed; \(seed)")
            let leftovers = temporaryFiles(under: scratch.path)
            print(
                """
                wal-push crash test: \(killedFresh) kills of fresh pushes, \(killedRepeat) of re-pushes, \
                \(killsMidWrite) of them left a temporary file (killed mid-write), \(finishedBeforeKill) finished first \
                (\(iteration) attempts), \(generation) repositories, \(leftovers.count) temporary files left at the end; \
                kill windows at the end: fresh \(freshWindow.current), re-push \(repeatWindow.current)
                """)
            #expect(killedFresh + killedRepeat >= Self.requiredKills, "too few pushes were actually killed mid-way; \(seed)")
            #expect(killedFresh >= Self.requiredKills / 4, "too few fresh pushes were killed mid-way; \(seed)")
            #expect(killedRepeat >= Self.requiredKills / 4, "too few re-pushes were killed mid-way; \(seed)")
        }

        @Test("SIGKILL of the first push into a new repository does not wedge it", .timeLimit(.minutes(15)))
        func killedFirstPushDoesNotWedgeTheRepository() async throws {
            let user = try SystemUser.serverUser()
            let scratch = try ScratchDirectory(prefix: "tidemark-it-crash-first", mode: 0o755)
            let segmentDirectory = scratch.child("segments")
            try FileManager.default.makeDirectory(segmentDirectory, mode: 0o755, owner: user)
            let segment = try #require(
                try await WALSamples.generate(count: 3, scale: 1, into: segmentDirectory, owner: user).paths.last)
            let name = baseName(segment)
            let binary = try TidemarkBinary.install()
            var random = SeededGenerator.fromEnvironment()
            let seed = "TIDEMARK_TEST_SEED=\(random.seed)"
            let fetchDirectory = scratch.child("fetched")
            try FileManager.default.makeDirectory(fetchDirectory, mode: 0o700, owner: user)

            let calibration = try await initializedRepository(in: scratch, name: "calibration", binary: binary, user: user).1
            let first = try await calibration.run("wal-push", segment)
            try #require(first.exitCode == 0, "\(first)")
            var window = KillWindow(start: first.duration)

            var killed = 0
            var iteration = 0
            while killed < Self.requiredFirstPushKills, iteration < 4 * Self.requiredFirstPushKills {
                defer { iteration += 1 }
                let tidemark = try await initializedRepository(
                    in: scratch, name: "repository-\(iteration)", binary: binary, user: user
                ).1
                let delay = Duration.microseconds(
                    Int64.random(in: 0...max(1_000, window.current.microseconds), using: &random))
                let context = "iteration \(iteration), kill after \(delay), \(seed)"
                let result = try await killDuringPush(tidemark, segment, after: delay)
                window.record(killed: result.signal == SIGKILL)
                if result.signal == SIGKILL { killed += 1 }
                let retry = try await tidemark.run("wal-push", segment)
                #expect(retry.exitCode == 0, "the retry after a killed first push failed: \(retry); \(context)")
                let destination = fetchDirectory + "/" + name
                let fetch = try await tidemark.run("wal-fetch", name, destination)
                #expect(fetch.exitCode == 0, "\(fetch); \(context)")
                if fetch.exitCode == 0 { try expectSameBytes(destination, segment, context) }
                try? FileManager.default.removeItem(atPath: destination)
            }
            #expect(killed >= Self.requiredFirstPushKills, "too few first pushes were actually killed mid-way (\(iteration) attempts); \(seed)")
        }

        /// The upper bound of the random kill delay, adapted as the test runs: a push that
        /// finished before its kill shrinks it by 10 %, a kill grows it by 5 %. It settles where
        /// about two kills in three land while the push still runs (p·ln 1.05 = (1−p)·ln(1/0.9)),
        /// on a fast machine as on a slow or loaded one, and the delays still cover the whole
        /// push, its end included.
        struct KillWindow {
            private(set) var current: Duration
            init(start: Duration) { current = start }
            mutating func record(killed: Bool) {
                current = killed ? current * 1.05 : current * 0.9
            }
        }

        private func median(_ durations: [Duration]) -> Duration {
            let sorted = durations.sorted()
            return sorted.isEmpty ? .milliseconds(150) : sorted[sorted.count / 2]
        }

        /// Starts `wal-push segment`, sleeps `delay`, sends SIGKILL, and returns how it ended.
        private func killDuringPush(_ tidemark: TidemarkRunner, _ segment: String, after delay: Duration) async throws -> ProcessResult {
            let push = try tidemark.launch("wal-push", segment)
            try await Task.sleep(for: delay)
            push.send(SIGKILL)
            return try await push.wait()
        }
    }
}

extension Duration {
    /// Whole microseconds.
    var microseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000 + attoseconds / 1_000_000_000_000
    }
}
