import Foundation
import Testing
import TidemarkPolicy

/// The resident archiver's queue: worked examples, then generated event sequences checked
/// against its invariants (never durable before a successful push, at most `workers` in
/// flight, oldest eligible first, one final answer per ask, nothing left behind).
@Suite("ArchiverQueue")
struct ArchiverQueueTests {
    static func seg(_ n: Int) -> String { String(format: "0000000100000000%08X", n) }

    @Test func readyFilesArePushedOldestFirstAtMostWorkersAtOnce() {
        var q = ArchiverQueue(workers: 2)
        let actions = q.readySeen([Self.seg(3), Self.seg(1), "00000002.history", Self.seg(2)], now: 0)
        #expect(actions == [.startPush("00000002.history"), .startPush(Self.seg(1))])
        #expect(q.inFlightCount == 2)
        #expect(q.pushSucceeded(Self.seg(1), now: 1) == [.startPush(Self.seg(2))])
        #expect(q.pushSucceeded("00000002.history", now: 1) == [.startPush(Self.seg(3))])
        #expect(q.backlog == 2)
        _ = q.pushSucceeded(Self.seg(2), now: 2)
        _ = q.pushSucceeded(Self.seg(3), now: 2)
        #expect(q.backlog == 0)
        #expect(q.isIdle)
    }

    @Test func anAskIsAnsweredDurableOnlyAfterThePushSucceeded() {
        var q = ArchiverQueue(workers: 1)
        _ = q.readySeen([Self.seg(1), Self.seg(2)], now: 0)
        // seg 2 waits behind seg 1: pushing, and its push starts when the worker is free.
        #expect(q.ask(client: 7, name: Self.seg(2), now: 0) == [.answer(client: 7, name: Self.seg(2), .pushing)])
        #expect(q.pushSucceeded(Self.seg(1), now: 1) == [.startPush(Self.seg(2))])
        #expect(q.pushSucceeded(Self.seg(2), now: 2) == [.answer(client: 7, name: Self.seg(2), .durable)])
        #expect(q.ask(client: 8, name: Self.seg(2), now: 3) == [.answer(client: 8, name: Self.seg(2), .durable)])
    }

    @Test func anUnknownFileAskedAboutIsHandedOverAndPushed() {
        var q = ArchiverQueue(workers: 2)
        #expect(q.ask(client: 1, name: Self.seg(9), now: 0)
            == [.answer(client: 1, name: Self.seg(9), .pushing), .startPush(Self.seg(9))])
        #expect(q.pushFailed(Self.seg(9), reason: "store down", now: 1)
            == [.answer(client: 1, name: Self.seg(9), .failed("store down"))])
    }

    @Test func aFailureBacksOffAndAnAskDuringTheBackoffFailsAtOnce() {
        var q = ArchiverQueue(workers: 1, retryBaseSeconds: 2, retryMaxSeconds: 5)
        _ = q.readySeen([Self.seg(1)], now: 0)
        _ = q.pushFailed(Self.seg(1), reason: "boom", now: 10)
        #expect(q.state(of: Self.seg(1)) == .failed(attempts: 1, retryAt: 12, reason: "boom"))
        #expect(q.ask(client: 3, name: Self.seg(1), now: 11) == [.answer(client: 3, name: Self.seg(1), .failed("boom"))])
        #expect(q.nextRetry == 12)
        #expect(q.tick(now: 12) == [.startPush(Self.seg(1))])
        _ = q.pushFailed(Self.seg(1), reason: "boom", now: 13)
        #expect(q.state(of: Self.seg(1)) == .failed(attempts: 2, retryAt: 17, reason: "boom"))
        #expect(q.tick(now: 17) == [.startPush(Self.seg(1))])
        _ = q.pushFailed(Self.seg(1), reason: "boom", now: 18)
        #expect(q.state(of: Self.seg(1)) == .failed(attempts: 3, retryAt: 23, reason: "boom"), "capped at 5 s")
        #expect(!q.isIdle)
    }

    @Test func aRescanForgetsWhatPostgreSQLArchivedButKeepsWhatIsInFlightOrAwaited() {
        var q = ArchiverQueue(workers: 1)
        _ = q.readySeen([Self.seg(1), Self.seg(2), Self.seg(3)], now: 0)
        _ = q.ask(client: 5, name: Self.seg(3), now: 0)
        _ = q.rescan(ready: [], now: 1)
        #expect(q.state(of: Self.seg(1)) == .inFlight)
        #expect(q.state(of: Self.seg(2)) == nil)
        #expect(q.state(of: Self.seg(3)) == .ready)
        _ = q.pushSucceeded(Self.seg(1), now: 2)
        _ = q.rescan(ready: [Self.seg(4)], now: 3)
        #expect(q.state(of: Self.seg(1)) == nil, "durable and no longer ready: forgotten")
        #expect(q.state(of: Self.seg(4)) == .ready)
    }

    @Test func anInvalidatedDurableFileIsPushedAgain() {
        var q = ArchiverQueue(workers: 1)
        _ = q.readySeen([Self.seg(1)], now: 0)
        _ = q.pushSucceeded(Self.seg(1), now: 1)
        #expect(q.invalidate(Self.seg(1), now: 2) == [.startPush(Self.seg(1))])
        #expect(q.ask(client: 1, name: Self.seg(1), now: 2) == [.answer(client: 1, name: Self.seg(1), .pushing)])
    }

    @Test func aClientThatLeftHearsNothing() {
        var q = ArchiverQueue(workers: 1)
        _ = q.ask(client: 1, name: Self.seg(1), now: 0)
        q.clientGone(1)
        #expect(q.pushSucceeded(Self.seg(1), now: 1).isEmpty)
    }

    /// Random events against the invariants, replayable from the printed seed.
    @Test(arguments: 0..<40) func generatedSequencesKeepTheInvariants(round: Int) {
        var rng = SplitMix64(seed: 0x5EED_0000 &+ UInt64(round) &* 7919)
        let workers = Int.random(in: 1...4, using: &rng)
        var q = ArchiverQueue(workers: workers, retryBaseSeconds: 1, retryMaxSeconds: 4)
        var now = 0.0
        var inFlight: Set<String> = []
        var succeeded: Set<String> = []          // pushed successfully, not invalidated since
        var pending: [UInt64: String] = [:]      // clients without a final answer
        var nextClient: UInt64 = 1
        var everReady: Set<String> = []
        let context = "seed round \(round), workers \(workers)"

        func apply(_ actions: [ArchiverQueue.Action]) {
            for action in actions {
                switch action {
                case .startPush(let name):
                    #expect(!inFlight.contains(name), "\(context): \(name) started twice")
                    // Oldest eligible first: nothing ready that precedes it was left waiting.
                    for (other, state) in q.states where state == .ready {
                        #expect(!ArchiverQueue.precedes(other, name), "\(context): \(name) started before \(other)")
                    }
                    inFlight.insert(name)
                case .answer(let client, let name, let answer):
                    if answer == .durable { #expect(succeeded.contains(name), "\(context): \(name) acknowledged, never pushed") }
                    if answer.isFinal {
                        if let asked = pending[client] { #expect(asked == name) }
                        pending[client] = nil
                    }
                }
            }
            #expect(inFlight.count <= workers, "\(context): \(inFlight.count) in flight")
            #expect(q.inFlightCount == inFlight.count)
        }

        for _ in 0..<300 {
            now += Double(Int.random(in: 0...2, using: &rng))
            switch Int.random(in: 0..<10, using: &rng) {
            case 0, 1:
                let names = (0..<Int.random(in: 1...3, using: &rng)).map { _ in Self.seg(Int.random(in: 0..<24, using: &rng)) }
                everReady.formUnion(names)
                apply(q.readySeen(names, now: now))
            case 2, 3:
                let client = nextClient
                nextClient += 1
                let name = Self.seg(Int.random(in: 0..<24, using: &rng))
                pending[client] = name
                apply(q.ask(client: client, name: name, now: now))
            case 4, 5, 6:
                guard let name = inFlight.randomElement(using: &rng) else { apply(q.tick(now: now)); continue }
                inFlight.remove(name)
                if Int.random(in: 0..<4, using: &rng) == 0 {
                    succeeded.remove(name)
                    apply(q.pushFailed(name, reason: "x", now: now))
                } else {
                    succeeded.insert(name)
                    apply(q.pushSucceeded(name, now: now))
                }
            case 7:
                let name = Self.seg(Int.random(in: 0..<24, using: &rng))
                succeeded.remove(name)
                apply(q.invalidate(name, now: now))
            case 8:
                let ready = Set(everReady.filter { _ in Bool.random(using: &rng) })
                apply(q.rescan(ready: ready, now: now))
            default:
                if let client = pending.keys.randomElement(using: &rng), Bool.random(using: &rng) {
                    q.clientGone(client)
                    pending[client] = nil
                }
                apply(q.tick(now: now))
            }
        }
        // Drain: every push succeeds from now on; everything known ends durable, every client
        // has its answer.
        var guardCount = 0
        while (!inFlight.isEmpty || q.backlog > 0) && guardCount < 10_000 {
            guardCount += 1
            now += 5
            if let name = inFlight.first {
                inFlight.remove(name)
                succeeded.insert(name)
                apply(q.pushSucceeded(name, now: now))
            } else {
                apply(q.tick(now: now))
            }
        }
        #expect(q.backlog == 0, "\(context): \(q.backlog) left behind")
        #expect(pending.isEmpty, "\(context): \(pending.count) clients never answered")
        #expect(q.isIdle)
    }
}
