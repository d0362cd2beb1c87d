import TensorAlgebra

/// W(x)_c averaged over the linearised images of class c (their label): what a network's exact
/// linearisation weighs, class by class, over the images of that class — the map a CNN, which
/// has no class templates, shows per class. Sums are kept in float64 so that the mean does not
/// depend on the batch size.
public struct ClassMeanWeights: Sendable, Codable, Equatable {
    /// sums[c]: Σ W(x)_c over the images of class c, over the input features.
    public var sums: [[Double]]
    /// counts[c]: how many linearised images have label c.
    public var counts: [Int]

    public init(classes: Int, features: Int) {
        sums = [[Double]](repeating: [Double](repeating: 0, count: features), count: classes)
        counts = [Int](repeating: 0, count: classes)
    }

    /// means[c]: sums[c] / counts[c] (zeros for a class with no image).
    public var means: [[Double]] {
        zip(sums, counts).map { sum, n in n == 0 ? sum : sum.map { $0 / Double(n) } }
    }

    /// Adds instance `i` of `linear` (whose units are the classes) with label `label`: row
    /// W(x)_label over the first `features` inputs.
    mutating func add<Scalar: BLASScalar>(_ linear: StackLinearisation<Scalar>, instance i: Int, label: Int) {
        let (classes, inputs) = (linear.weights.shape[1], linear.weights.shape[2])
        let features = sums[label].count
        linear.weights.withUnsafeBufferPointer { w in
            let row = w.baseAddress! + (i * classes + label) * inputs
            for j in 0 ..< features { sums[label][j] += Double(row[j]) }
        }
        counts[label] += 1
    }
}
