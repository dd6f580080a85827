import Testing
import TidemarkPolicy

@Suite("Failed attempt limiter")
struct FailedAttemptLimiterTests {
    @Test func tenFailuresAMinuteThenWait() {
        var l = FailedAttemptLimiter(limit: 10, window: 60)
        for i in 0..<9 {
            let wait = l.retryAfter("a", now: Double(i))
            let reached = l.recordFailure("a", now: Double(i))
            #expect(wait == nil && !reached)
        }
        let tenth = l.recordFailure("a", now: 9)
        #expect(tenth, "the tenth reaches the limit")
        let wait = l.retryAfter("a", now: 10)
        #expect(wait == 50, "until the oldest failure leaves the window")
        let other = l.retryAfter("b", now: 10)
        #expect(other == nil, "per client")
        let almost = l.retryAfter("a", now: 59.5)
        #expect(almost == 1)
        let later = l.retryAfter("a", now: 60)
        #expect(later == nil, "the oldest left the window at 60")
    }

    @Test func oldFailuresAreForgotten() {
        var l = FailedAttemptLimiter(limit: 3, window: 10)
        l.recordFailure("a", now: 0)
        l.recordFailure("a", now: 1)
        l.recordFailure("a", now: 20)
        let wait = l.retryAfter("a", now: 20)
        #expect(wait == nil)
        #expect(l.failures["a"]?.count == 1)
    }
}
