import Study
import Testing

/// The study's time-left estimate (issue 23 #14 reported the first ETA of the default study as
/// 5 min against 20 min 45 s): from points of one depth no set-up share is known, so none is guessed.
@Suite struct TimeLeftTests {
    /// Points whose seconds are exactly a + b·L: once two depths are done the fit recovers a and
    /// b, so the estimate is the exact sum (tolerance: rounding of a few sums, 1e-12 relative).
    @Test func linearTimesArePredictedExactlyOnceTwoDepthsAreDone() {
        let seconds = { (depth: Int) in 4.0 + 0.75 * Double(depth) }
        let done = [2, 2, 10].map { (depth: $0, seconds: seconds($0)) }
        let pending = [10, 50, 100, 100]
        let expected = pending.map(seconds).reduce(0, +)
        let estimate = Study.estimatedSecondsLeft(pendingDepths: pending, done: done)!
        #expect(abs(estimate - expected) <= 1e-12 * expected)
    }

    /// With one depth done the set-up share cannot be told from the per-layer cost: no estimate,
    /// unless every pending point has that depth too (then the mean time is exact).
    @Test func oneDepthGivesNoEstimateUnlessTheGridHasOneDepth() {
        let done = [(depth: 2, seconds: 6.0), (depth: 2, seconds: 8.0)]
        #expect(Study.estimatedSecondsLeft(pendingDepths: [20, 100], done: done) == nil)
        #expect(Study.estimatedSecondsLeft(pendingDepths: [2, 2, 2], done: done) == 21)
    }

    /// The fit is least squares under a, b ≥ 0: a negative free intercept gives the line through
    /// the origin, a negative free slope the mean (b = 0); nothing done gives no estimate, nothing
    /// pending 0.
    @Test func edgeCases() {
        let done = [(depth: 10, seconds: 9.0), (depth: 20, seconds: 21.0)]   // intercept −3
        let estimate = Study.estimatedSecondsLeft(pendingDepths: [40], done: done)!
        let slope = (10.0 * 9 + 20 * 21) / (100.0 + 400)
        #expect(abs(estimate - 40 * slope) <= 1e-12 * estimate)
        let falling = [(depth: 2, seconds: 30.0), (depth: 10, seconds: 10.0)]
        #expect(abs(Study.estimatedSecondsLeft(pendingDepths: [50, 100], done: falling)! - 2 * 20) <= 1e-12 * 40)
        #expect(Study.estimatedSecondsLeft(pendingDepths: [40], done: []) == nil)
        #expect(Study.estimatedSecondsLeft(pendingDepths: [], done: done) == 0)
    }
}
