import Foundation
import TensorAlgebra
import IsometrySupport

/// What a batch's outputs are compared with, in buffers the trainer fills once per step.
public struct LossTargets<Scalar: BLASScalar> {
    /// One class index per row (empty for float targets).
    public internal(set) var labels: [Int]
    /// `[rows] + targetShape` float targets (`[0]` for labels).
    public internal(set) var values: Tensor<Scalar>
    /// Where the class scores are in an output row: every column, or an identity classifier's
    /// class dimensions.
    public internal(set) var classColumns: Range<Int>
    /// The dataset index of every row (the trainer fills it on every step): what a loss whose
    /// targets are computed from the batch's own inputs (``TSNEObjective``) looks them up by.
    public internal(set) var samples: [Int]

    public init(labels: [Int] = [], values: Tensor<Scalar> = .zeros([0]), classColumns: Range<Int>, samples: [Int] = []) {
        self.labels = labels
        self.values = values
        self.classColumns = classColumns
        self.samples = samples
    }
}

/// A loss as a value (MLX's `MLXNN` losses are functions; a value also carries a name for
/// metrics and checkpoints): the mean loss of a batch, with its gradient with respect to the
/// outputs written into a buffer of the outputs' shape, owned by the trainer (no allocation).
///
/// ```swift
/// let huber = Loss<Float>.custom(name: "huber") { outputs, targets, gradient in
///     ... // write ∂loss/∂outputs into gradient, return the mean loss
/// }
/// ```
public struct Loss<Scalar: BLASScalar>: Sendable {
    public typealias Body = @Sendable (_ outputs: Tensor<Scalar>, _ targets: LossTargets<Scalar>, _ gradient: inout Tensor<Scalar>) -> Double

    public let name: String
    /// Whether the loss compares with class labels (else with float targets).
    public let usesLabels: Bool
    /// Whether the loss reads no labels or float targets at all (an unsupervised loss such as
    /// t-SNE's, which reads only ``LossTargets/samples``): the trainer then takes any dataset
    /// whose features the stack reads, labelled or not.
    public let ignoresTargets: Bool
    /// Whether the loss is defined only on the batches of the dataset it was made with (t-SNE's:
    /// its targets are affinities among a training batch's members, looked up by
    /// ``LossTargets/samples``). Such a loss has no value on another split's rows, or on
    /// chunks of another size, so ``StackTrainer/evaluate(_:)`` refuses it.
    public let isBatchScoped: Bool
    let body: Body

    public init(name: String, usesLabels: Bool, ignoresTargets: Bool = false, isBatchScoped: Bool = false, _ body: @escaping Body) {
        self.name = name
        self.usesLabels = usesLabels && !ignoresTargets
        self.ignoresTargets = ignoresTargets
        self.isBatchScoped = isBatchScoped
        self.body = body
    }

    /// The mean loss; `gradient` ← ∂(mean loss)/∂outputs.
    public func callAsFunction(_ outputs: Tensor<Scalar>, _ targets: LossTargets<Scalar>, gradient: inout Tensor<Scalar>) -> Double {
        body(outputs, targets, &gradient)
    }

    /// PyTorch's `CrossEntropyLoss()` on the class columns, averaged over the batch.
    public static var softmaxCrossEntropy: Loss {
        Loss(name: "softmax-cross-entropy", usesLabels: true) { outputs, targets, gradient in
            Training.softmaxCrossEntropy(outputs, labels: targets.labels, classColumns: targets.classColumns, gradient: &gradient)
        }
    }

    /// PyTorch's `MSELoss()`: the mean over every element of (output − target)².
    public static var meanSquaredError: Loss {
        Loss(name: "mean-squared-error", usesLabels: false) { outputs, targets, gradient in
            Training.meanSquaredError(outputs, targets: targets.values, gradient: &gradient)
        }
    }

    /// A loss of your own: `body` returns the batch's loss and writes ∂loss/∂outputs into its
    /// third argument (of the outputs' shape).
    public static func custom(name: String, usesLabels: Bool = true, ignoresTargets: Bool = false, _ body: @escaping Body) -> Loss {
        Loss(name: name, usesLabels: usesLabels, ignoresTargets: ignoresTargets, body)
    }
}

/// Mean softmax cross-entropy of the rows of `logits` (their columns `classColumns`) against
/// `labels`; `gradient` ← (softmax − one-hot)/rows in those columns, 0 in the others. Each row
/// is shifted by its maximum first, so large logits do not overflow.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func softmaxCrossEntropy<Scalar: BLASScalar>(
    _ logits: Tensor<Scalar>, labels: [Int], classColumns: Range<Int>? = nil, gradient: inout Tensor<Scalar>
) -> Double {
    let rows = logits.shape[0], width = logits.count / max(rows, 1)
    let columns = classColumns ?? 0 ..< width
    require(labels.count == rows && gradient.shape == logits.shape && columns.upperBound <= width,
            "softmaxCrossEntropy: logits \(logits.shape), \(labels.count) labels, gradient \(gradient.shape), class columns \(columns)")
    let scale = 1 / Scalar(rows)
    var total = 0.0
    gradient.withUnsafeMutableBufferPointer { g in
        logits.withUnsafeBufferPointer { z in
            for r in 0 ..< rows {
                let row = r * width
                for j in 0 ..< width { g[row + j] = 0 }
                var top = -Scalar.infinity
                for j in columns { top = Swift.max(top, z[row + j]) }
                var sum: Scalar = 0
                for j in columns {
                    let e = Scalar.exp(z[row + j] - top)
                    g[row + j] = e
                    sum += e
                }
                let label = columns.lowerBound + labels[r]
                total += Double(Scalar.log(sum) + top - z[row + label])
                let inverse = scale / sum
                for j in columns { g[row + j] *= inverse }
                g[row + label] -= scale
            }
        }
    }
    return total / Double(rows)
}

/// Mean squared error over every element; `gradient` ← 2(outputs − targets)/elements.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func meanSquaredError<Scalar: BLASScalar>(_ outputs: Tensor<Scalar>, targets: Tensor<Scalar>, gradient: inout Tensor<Scalar>) -> Double {
    require(targets.count == outputs.count && gradient.shape == outputs.shape,
            "meanSquaredError: outputs \(outputs.shape), targets \(targets.shape), gradient \(gradient.shape)")
    let n = outputs.count
    let scale = 2 / Scalar(n)
    var total = 0.0
    gradient.withUnsafeMutableBufferPointer { g in
        outputs.withUnsafeBufferPointer { y in
            targets.withUnsafeBufferPointer { t in
                for i in 0 ..< n {
                    let d = y[i] - t[i]
                    total += Double(d * d)
                    g[i] = scale * d
                }
            }
        }
    }
    return total / Double(n)
}

/// Rows of `outputs` whose largest class column is the label (ties: the first).
func correctPredictions<Scalar: BLASScalar>(_ outputs: Tensor<Scalar>, labels: [Int], classColumns: Range<Int>) -> Int {
    let rows = outputs.shape[0], width = outputs.count / max(rows, 1)
    var correct = 0
    outputs.withUnsafeBufferPointer { z in
        for r in 0 ..< rows {
            var best = classColumns.lowerBound
            for j in classColumns where z[r * width + j] > z[r * width + best] { best = j }
            if best - classColumns.lowerBound == labels[r] { correct += 1 }
        }
    }
    return correct
}
