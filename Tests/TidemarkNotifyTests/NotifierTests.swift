import AsyncHTTPClient
import Foundation
import Testing
import TidemarkCore
import TidemarkTesting
@testable import TidemarkNotify

/// Delivery with retry, against the HTTP receiver and scripted channels.
@Suite("Notify: delivery with retry", .timeLimit(.minutes(2)))
struct NotifierTests {
    static let noWait: Notifier.Sleep = { _ in }

    @Test(.tags(.large)) func retriesAfter500sThenDelivers() async throws {
        let receiver = try await HTTPReceiverFixture.start(failFirst: 2)
        let log = RecordingLog()
        let backoffs = Collected<Int>()
        let notifier = Notifier(
            channels: [SlackChannel(url: SecretURL(receiver.baseURL + HTTPChannelTests.secretPath), httpClient: .shared)], logger: log.logger,
            sleep: Self.noWait, backoff: { backoffs.append($0); return .milliseconds(1) }, maxAttempts: 5)
        notifier.post(sampleNotification())
        await notifier.drain(timeout: .seconds(30))
        let requests = try receiver.requests()
        #expect(requests.map(\.answered) == [500, 500, 200])
        #expect(Set(requests.map(\.bodyText)).count == 1)  // the same message each time
        #expect(backoffs.values == [1, 2])
        #expect(await notifier.failures.isEmpty)
        #expect(await notifier.delivered == ["slack": 1])
        #expect(!log.lines.contains { $0.level >= .error })
    }

    @Test(.tags(.large)) func givesUpAfterMaxAttemptsAndCountsIt() async throws {
        let receiver = try await HTTPReceiverFixture.start(failFirst: 1000)
        let log = RecordingLog()
        let failed = Collected<String>()
        let url = SecretURL(receiver.baseURL + HTTPChannelTests.secretPath)
        let notifier = Notifier(
            channels: [WebhookChannel(url: url, httpClient: .shared)], logger: log.logger, sleep: Self.noWait, backoff: { _ in .zero },
            maxAttempts: 3, onChannelFailure: { failed.append($0) })
        notifier.post(sampleNotification())
        notifier.post(sampleNotification(kind: .resolved, title: "resolved"))
        await notifier.drain(timeout: .seconds(30))
        #expect(try receiver.requests().count == 6)
        #expect(await notifier.failures == ["webhook": 2])
        #expect(failed.values == ["webhook", "webhook"])
        let errors = log.lines.filter { $0.level == .error }
        #expect(errors.count == 2)  // one line per notification given up
        #expect(errors.first?.metadata["notify.channel"] == "webhook")
        #expect(errors.first?.metadata["notify.attempts"] == "3")
        #expect(errors.first?.metadata["notify.reason"]?.contains("HTTP 500") == true)
        #expect(!log.allText.contains("SECRET"))
        #expect(!log.allText.contains(url.value))
    }

    @Test(.tags(.small)) func aPermanentErrorIsNotRetried() async {
        let revoked = ScriptedChannel(name: "slack", failures: 10, error: TidemarkError(.configuration, "slack: HTTP 404"))
        let notifier = Notifier(channels: [revoked], logger: RecordingLog().logger, sleep: Self.noWait, backoff: { _ in .zero }, maxAttempts: 5)
        notifier.post(sampleNotification())
        await notifier.drain(timeout: .seconds(10))
        #expect(revoked.attemptCount == 1)
        #expect(await notifier.failures == ["slack": 1])
    }

    @Test(.tags(.small)) func eachChannelDeliversInOrderAndABrokenOneDelaysNoOther() async {
        let good = ScriptedChannel(name: "good")
        let flaky = ScriptedChannel(name: "flaky", failures: 2)
        let notifier = Notifier(channels: [good, flaky], logger: RecordingLog().logger, sleep: Self.noWait, backoff: { _ in .zero }, maxAttempts: 3)
        for i in 0..<5 { notifier.post(sampleNotification(title: "n\(i)")) }
        await notifier.drain(timeout: .seconds(10))
        #expect(good.sentTitles == ["n0", "n1", "n2", "n3", "n4"])
        #expect(flaky.sentTitles == ["n0", "n1", "n2", "n3", "n4"])
        #expect(flaky.attemptCount == 7)
        #expect(await notifier.failures.isEmpty)
    }

    @Test(.tags(.small)) func postReturnsAtOnceAndDrainHasATimeLimit() async {
        let slow = ScriptedChannel(name: "slow", delay: .seconds(30))
        let log = RecordingLog()
        let notifier = Notifier(channels: [slow], logger: log.logger)
        let started = ContinuousClock.now
        for _ in 0..<3 { notifier.post(sampleNotification()) }
        #expect(ContinuousClock.now - started < .milliseconds(200))
        await notifier.drain(timeout: .milliseconds(300))
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(slow.sentTitles.isEmpty)
        #expect(log.lines.contains { $0.message.contains("undelivered at shutdown") })
        // After drain nothing more is taken.
        notifier.post(sampleNotification())
    }

    @Test(.tags(.large)) func sendNowReportsEachChannel() async throws {
        let ok = try await HTTPReceiverFixture.start()
        let broken = try await HTTPReceiverFixture.start(failFirst: 100, failStatus: 503)
        let notifier = Notifier(channels: [
            SlackChannel(url: SecretURL(ok.baseURL + "/slack"), httpClient: .shared),
            WebhookChannel(url: SecretURL(broken.baseURL + HTTPChannelTests.secretPath), httpClient: .shared),
        ], logger: RecordingLog().logger, sleep: Self.noWait)
        let results = await notifier.sendNow(sampleNotification(kind: .test))
        #expect(results.map(\.channel) == ["slack", "webhook"])
        #expect(results[0].succeeded)
        #expect(results[1].error?.contains("HTTP 503") == true)
        #expect(results[1].error?.contains("SECRET") == false)
        #expect(results.allSatisfy { $0.milliseconds >= 0 && $0.milliseconds < 10_000 })
        #expect(try broken.requests().count == 1)  // no retry for a test message

        let only = await notifier.sendNow(sampleNotification(kind: .test), only: "slack")
        #expect(only.map(\.channel) == ["slack"])
        let unknown = await notifier.sendNow(sampleNotification(kind: .test), only: "pager")
        #expect(unknown.first?.error?.contains("configured: slack, webhook") == true)
        #expect(await notifier.failures.isEmpty)  // sendNow counts nothing
    }
}
