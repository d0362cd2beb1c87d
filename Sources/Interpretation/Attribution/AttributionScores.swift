import Foundation

/// One metric's per-sample scores, and per-sample curves where the metric has them (deletion
/// and insertion: the target's score after each step).
public struct AttributionScores: Sendable, Codable, Equatable {
    /// One score per sample, in the inputs' order.
    public var values: [Double]
    /// Per sample, the curve the score summarises (nil for metrics without one).
    public var curves: [[Double]]?

    public init(values: [Double], curves: [[Double]]? = nil) {
        self.values = values
        self.curves = curves
    }

    /// The mean over samples.
    public var mean: Double { values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count) }

    /// The standard error of the mean (sample standard deviation / √n; 0 for one sample).
    public var standardError: Double {
        let n = Double(values.count)
        guard values.count > 1 else { return 0 }
        let m = mean
        let variance = values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / (n - 1)
        return (variance / n).squareRoot()
    }
}
