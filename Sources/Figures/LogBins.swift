import Foundation

/// Histogram bins of equal width in log10 λ, for data of any finite positive magnitude.
///
/// The obvious construction (centre a narrow range at √(lo·hi), take `Int(log10(v) − …)`)
/// traps once lo·hi under- or overflows: √0 or √∞ puts ±∞ into the bin arithmetic. Here the
/// centre falls back to log space when the product is not a normal number, the range is
/// clamped to normal doubles (so every edge is finite, positive and exact enough to draw),
/// and ``index(of:)`` answers nil for what has no place on a log axis instead of trapping.
public struct LogBins: Sendable, Equatable {
    /// The number of bins.
    public let count: Int
    /// log10 of the lowest and highest edge.
    package let logLow: Double
    package let logHigh: Double
    /// The `count + 1` edges, increasing, all finite and positive.
    public let edges: [Double]

    /// `count` bins over `low … high`, widened about their geometric centre to a ratio of at
    /// least `minimumRatio`, then padded by `padding` decades at both ends. A `high` that is
    /// not finite and positive is taken as 1, and a `low` that is not (or exceeds `high`) as
    /// `high`.
    public init(low: Double, high: Double, count: Int, minimumRatio: Double = 100, padding: Double = 0.02) {
        let count = max(count, 1)
        let hi = high.isFinite && high > 0 ? high : 1
        let lo = low.isFinite && low > 0 && low <= hi ? low : hi
        let half = max(minimumRatio, 1).squareRoot()
        var (logLo, logHi) = (log10(lo), log10(hi))
        if hi / lo < minimumRatio {
            // The linear form first: it is what the figures always computed for ordinary data.
            let centre = (lo * hi).squareRoot()
            if (lo * hi).isNormal, (centre / half).isNormal, (centre * half).isFinite {
                (logLo, logHi) = (log10(centre / half), log10(centre * half))
            } else {
                let middle = (logLo + logHi) / 2
                (logLo, logHi) = (middle - log10(half), middle + log10(half))
            }
        }
        logLo -= padding
        logHi += padding
        // Normal doubles only: below, pow(10, ·) loses its digits or rounds to 0; above, ∞.
        let (floorLog, ceilingLog) = (log10(Double.leastNormalMagnitude) + 1e-9, log10(Double.greatestFiniteMagnitude) - 1e-9)
        // A range pushed off one end keeps its width, as far as the doubles allow.
        let span = min(max(logHi - logLo, 1e-9), ceilingLog - floorLog)
        if logLo < floorLog { (logLo, logHi) = (floorLog, max(logHi, floorLog + span)) }
        if logHi > ceilingLog { (logLo, logHi) = (max(min(logLo, ceilingLog - span), floorLog), ceilingLog) }
        self.count = count
        (self.logLow, self.logHigh) = (logLo, logHi)
        edges = (0 ... count).map { pow(10, logLo + (logHi - logLo) * Double($0) / Double(count)) }
    }

    /// The bin of `value`: values beyond the edges join the first or last bin; nil for 0,
    /// negative values, infinity and NaN, which have no place on a log axis.
    public func index(of value: Double) -> Int? {
        guard value > 0, value.isFinite else { return nil }
        let position = (log10(value) - logLow) / (logHigh - logLow) * Double(count)
        return Int(min(max(position, 0), Double(count - 1)))
    }
}
