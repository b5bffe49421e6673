import Queue
import Testing

@Suite(.timeLimit(.minutes(5))) struct RetryPolicyTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var policy: RetryPolicy
        var attempt: Int
        var unit: Double
        var expected: Duration
        var testDescription: String { "attempt \(attempt), unit \(unit), base \(policy.base), cap \(policy.cap), jitter \(policy.jitter) → \(expected)" }
    }

    static let standard = RetryPolicy()   // 1 s base, 1 h cap, 10 % jitter
    static let small = RetryPolicy(base: .milliseconds(50), cap: .milliseconds(200), jitter: 0)

    static let cases: [Case] = [
        // Exponential growth; unit 0.5 means no jitter.
        Case(policy: standard, attempt: 1, unit: 0.5, expected: .seconds(1)),
        Case(policy: standard, attempt: 2, unit: 0.5, expected: .seconds(2)),
        Case(policy: standard, attempt: 3, unit: 0.5, expected: .seconds(4)),
        Case(policy: standard, attempt: 10, unit: 0.5, expected: .seconds(512)),
        // The cap: 2^12 s = 4096 s > 3600 s, and absurd attempt numbers do not overflow.
        Case(policy: standard, attempt: 13, unit: 0.5, expected: .seconds(3600)),
        Case(policy: standard, attempt: 1_000, unit: 0.5, expected: .seconds(3600)),
        // Jitter bounds: unit 0 takes 10 % off, unit 1 adds 10 % (of the capped delay, as documented).
        Case(policy: standard, attempt: 1, unit: 0, expected: .milliseconds(900)),
        Case(policy: standard, attempt: 1, unit: 1, expected: .milliseconds(1_100)),
        Case(policy: standard, attempt: 3, unit: 0, expected: .milliseconds(3_600)),
        Case(policy: standard, attempt: 3, unit: 1, expected: .milliseconds(4_400)),
        Case(policy: standard, attempt: 20, unit: 0, expected: .seconds(3_240)),
        Case(policy: standard, attempt: 20, unit: 1, expected: .seconds(3_960)),
        // A small policy without jitter: the unit does not matter.
        Case(policy: small, attempt: 1, unit: 0, expected: .milliseconds(50)),
        Case(policy: small, attempt: 2, unit: 1, expected: .milliseconds(100)),
        Case(policy: small, attempt: 3, unit: 0.3, expected: .milliseconds(200)),
        Case(policy: small, attempt: 4, unit: 0.9, expected: .milliseconds(200)),
        Case(policy: small, attempt: 10, unit: 0.5, expected: .milliseconds(200)),
    ]

    @Test(arguments: cases)
    func delay(_ testCase: Case) {
        #expect(testCase.policy.delay(afterAttempt: testCase.attempt, unit: testCase.unit) == testCase.expected)
    }

    @Test func randomJitterStaysWithinBounds() {
        let policy = RetryPolicy(base: .seconds(1), cap: .seconds(3600), jitter: 0.1)
        for attempt in [1, 2, 3, 10, 13] {
            let center = policy.delay(afterAttempt: attempt, unit: 0.5)
            let low = policy.delay(afterAttempt: attempt, unit: 0)
            let high = policy.delay(afterAttempt: attempt, unit: 1)
            #expect(low < center && center < high)
            for _ in 0..<200 {
                let delay = policy.delay(afterAttempt: attempt)
                #expect(delay >= low && delay <= high, "attempt \(attempt): \(delay) outside \(low)...\(high)")
            }
        }
    }

    @Test func jitterIsClampedToZeroThroughOne() {
        #expect(RetryPolicy(jitter: 2).jitter == 1)
        #expect(RetryPolicy(jitter: -1).jitter == 0)
        let full = RetryPolicy(base: .seconds(1), cap: .seconds(10), jitter: 5)
        #expect(full.delay(afterAttempt: 1, unit: 0) == .zero)
        #expect(full.delay(afterAttempt: 1, unit: 1) == .seconds(2))
    }
}
