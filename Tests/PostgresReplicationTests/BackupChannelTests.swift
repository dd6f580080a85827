import Foundation
@testable import PostgresReplication
import Synchronization
import Testing

@Suite("Backup channel backpressure", .tags(.small), .timeLimit(.minutes(1)))
struct BackupChannelTests {
    /// Runs `body` on a new OS thread (the producer blocks; it must not sit on the cooperative pool).
    static func onThread(_ body: @escaping @Sendable () -> Void) {
        Thread { body() }.start()
    }

    @Test func slowConsumerKeepsTheBufferBoundedAndGetsEverythingInOrder() async throws {
        let cancels = Atomic<Int>(0)
        let channel = BackupChannel(limit: 10_000) { cancels.add(1, ordering: .relaxed) }
        let produced = Atomic<Int>(0)
        Self.onThread {
            for index in 0..<200 {
                guard channel.send(.fileData([UInt8](repeating: UInt8(index % 256), count: 1000))) else { return }
                produced.add(1, ordering: .relaxed)
            }
            channel.finish(nil)
        }
        var received = 0
        while let event = try await channel.next() {
            #expect(event == .fileData([UInt8](repeating: UInt8(received % 256), count: 1000)))
            received += 1
            if received % 20 == 0 {
                try await Task.sleep(for: .milliseconds(20))
                // The producer is stuck at the bound, not racing ahead.
                #expect(produced.load(ordering: .relaxed) - received <= 10_000 / (1000 + BackupChannel.eventOverhead) + 1)
            }
        }
        #expect(received == 200)
        #expect(channel.peakBufferedBytes <= 10_000)
        #expect(channel.peakBufferedBytes >= 5_000, "the slow consumer let the buffer fill")
        #expect(channel.bufferedBytes == 0)
        #expect(cancels.load(ordering: .relaxed) == 0)
        #expect(try await channel.next() == nil, "nil again after the end")
    }

    @Test func cancelUnblocksAProducerWaitingForSpace() async throws {
        let cancels = Atomic<Int>(0)
        let channel = BackupChannel(limit: 1000) { cancels.add(1, ordering: .relaxed) }
        let stopped = Atomic<Bool>(false)
        Self.onThread {
            while channel.send(.fileData([UInt8](repeating: 0, count: 600))) {}
            stopped.store(true, ordering: .releasing)
        }
        try await Task.sleep(for: .milliseconds(100))
        let stoppedEarly = stopped.load(ordering: .acquiring)
        #expect(!stoppedEarly, "the producer is blocked on the full buffer")
        #expect(channel.bufferedBytes <= 1000)
        channel.cancel()
        channel.cancel()
        let deadline = ContinuousClock.now + .seconds(5)
        while !stopped.load(ordering: .acquiring) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        let stoppedAfterCancel = stopped.load(ordering: .acquiring)
        #expect(stoppedAfterCancel)
        #expect(cancels.load(ordering: .relaxed) == 1)
        let error = await #expect(throws: ReplicationError.self) { try await channel.next() }
        #expect(error?.code == .cancelled)
        #expect(try await channel.next() == nil)
    }

    @Test func cancellingTheWaitingTaskEndsNextPromptly() async throws {
        let cancels = Atomic<Int>(0)
        let channel = BackupChannel(limit: 1000) { cancels.add(1, ordering: .relaxed) }
        let consumer = Task { try await channel.next() }
        try await Task.sleep(for: .milliseconds(50))
        let start = ContinuousClock.now
        consumer.cancel()
        let error = await #expect(throws: ReplicationError.self) { try await consumer.value }
        #expect(error?.code == .cancelled)
        #expect(ContinuousClock.now - start < .seconds(1))
        #expect(cancels.load(ordering: .relaxed) == 1)
        #expect(!channel.send(.fileEnded), "the producer learns of the cancellation")
    }

    @Test func producerErrorsArriveAfterTheQueuedEventsThenNil() async throws {
        let channel = BackupChannel(limit: 1 << 20) {}
        #expect(channel.send(.archiveEnded))
        #expect(channel.send(.progress(bytes: 7)))
        channel.finish(ReplicationError(.queryFailed, "boom"))
        #expect(try await channel.next() == .archiveEnded)
        #expect(try await channel.next() == .progress(bytes: 7))
        let error = await #expect(throws: ReplicationError.self) { try await channel.next() }
        #expect(error?.message == "boom")
        #expect(try await channel.next() == nil)
        channel.cancel()
        #expect(try await channel.next() == nil, "cancel after the end changes nothing")
    }

    @Test func anEventLargerThanTheBoundStillPasses() async throws {
        let channel = BackupChannel(limit: 100) {}
        Self.onThread {
            _ = channel.send(.manifest([UInt8](repeating: 1, count: 5000)))
            _ = channel.send(.fileEnded)
            channel.finish(nil)
        }
        #expect(try await channel.next() == .manifest([UInt8](repeating: 1, count: 5000)))
        #expect(try await channel.next() == .fileEnded)
        #expect(try await channel.next() == nil)
    }
}
