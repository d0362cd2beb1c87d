import Datasets
import IsometrySupport
import TensorAlgebra

/// Why a stack cannot take a dataset's samples, or train on batches of a size: one line naming
/// the layer and the shapes, or the estimate and the limit. Thrown before anything of the size
/// in question is allocated, so a command can refuse the input (exit 2) instead of running
/// out of memory or stopping on a shape check mid-run.
public enum LayerStackInputError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Samples of `sampleShape` (from `source`) do not fit the stack's `inputShape`, which
    /// layer 0 (`firstLayer`, its description) takes.
    case sampleShape(source: String, sampleShape: [Int], inputShape: [Int], firstLayer: String)
    /// Training on batches of `batchSize` (evaluating `evaluationBatchSize` samples at a time)
    /// needs `estimatedBytes`, more than `limitBytes`; the layer whose outputs weigh most per
    /// sample is named with its output shape, and the loss's share (`lossBytes`, t-SNE's
    /// pair-wise matrices) when it has one.
    case exceedsMemory(batchSize: Int, evaluationBatchSize: Int, estimatedBytes: Int, limitBytes: Int,
                       largestLayer: Int, kind: String, outputShape: [Int], lossBytes: Int = 0)

    public var description: String {
        switch self {
        case .sampleShape(let source, let sampleShape, let inputShape, let firstLayer):
            let values = MemoryBudget.product(sampleShape).map { " (\($0) values)" } ?? ""
            return "'\(quotedValue(source))': samples of shape \(sampleShape)\(values), but layer 0 (\(firstLayer)) takes \(inputShape); "
                + "only a stack whose input is a vector flattens its samples"
        case .exceedsMemory(let batchSize, let evaluationBatchSize, let bytes, let limit, let layer, let kind, let shape, let lossBytes):
            let evaluating = evaluationBatchSize > 0 ? ", evaluating \(evaluationBatchSize) at a time," : ""
            let loss = lossBytes > 0 ? "; the loss's buffers take \(lossBytes) bytes of it" : ""
            return "training on batches of \(batchSize)\(evaluating) " + MemoryBudget.explain(bytes: bytes, limit: limit)
                + "; the largest buffers are layer \(layer)'s (\(kind)) outputs, \(shape) per sample" + loss
        }
    }
}

extension LayerStack {
    /// Refuses samples of `sampleShape` (a dataset's per-sample shape, `source` naming it) that
    /// the stack does not take: they fit when they have its input shape, or the same with one
    /// channel in front (`[28, 28]` images for a `[1, 28, 28]` stack, `[40]` sequences for
    /// `[1, 40]`), or when the stack takes a vector of as many values (an MLP flattens its
    /// images) or of the features of its class dimensions. A convolution never reads a
    /// `[28, 28]` image as a `[1, 784]` sequence.
    public func checkSamples(shape sampleShape: [Int], source: String) throws(LayerStackInputError) {
        if sampleShape == inputShape || [1] + sampleShape == inputShape { return }
        let count = MemoryBudget.product(sampleShape)
        if inputShape.count == 1 && count == inputShape[0] { return }
        if let classDimensions, count == classDimensions.features { return }
        throw .sampleShape(source: source, sampleShape: sampleShape, inputShape: inputShape, firstLayer: layers[0].layerDescription.description)
    }

    /// ``checkSamples(shape:source:)`` for a dataset's samples.
    public func checkSamples(of data: TensorDataset) throws(LayerStackInputError) {
        try checkSamples(shape: data.sampleShape, source: data.source)
    }

    /// Bytes that training this stack on batches of `batchSize` holds, evaluating
    /// `evaluationBatchSize` samples at a time beside it: the parameters four times (weights,
    /// gradients, up to two optimizer moments), every layer's scratch, and the workspaces'
    /// buffers — per training sample every activation and cotangent and every pattern, per
    /// evaluated sample every activation and pattern — plus `lossBytes`, what the loss holds
    /// beside them (t-SNE's B × B matrices and cache of P: `TSNEObjective.estimatedBytes`). An
    /// estimate from the shapes alone, made before any of it is allocated.
    public func estimatedTrainingBytes(batchSize: Int, evaluationBatchSize: Int = 0, lossBytes: Double = 0) -> Double {
        func values(_ shape: [Int]?) -> Double { shape.map { $0.reduce(1.0) { $0 * Double($1) } } ?? 0 }
        let activations = shapes.reduce(0.0) { $0 + values($1) }
        let patterns = layers.indices.reduce(0.0) { $0 + values(layers[$1].patternShape(forInput: shapes[$1])) }
        let scratch = layers.indices.reduce(0.0) { $0 + values(layers[$1].scratchShape(forInput: shapes[$1])) }
        let perTrainingSample = 2 * activations + patterns, perEvaluatedSample = activations + patterns
        return Double(MemoryLayout<Scalar>.stride) * (4 * Double(parameterCount) + scratch
            + Double(batchSize) * perTrainingSample + Double(evaluationBatchSize) * perEvaluatedSample) + lossBytes
    }

    /// Refuses batch sizes whose ``estimatedTrainingBytes(batchSize:evaluationBatchSize:lossBytes:)``
    /// `MemoryBudget` does not allow within `limit`, naming the estimate, the limit, the
    /// layer with the largest outputs and the loss's share.
    public func checkTrainingMemory(batchSize: Int, evaluationBatchSize: Int = 0, lossBytes: Double = 0,
                                    limit: Int = MemoryBudget.defaultLimit) throws(LayerStackInputError) {
        let bytes = estimatedTrainingBytes(batchSize: batchSize, evaluationBatchSize: evaluationBatchSize, lossBytes: lossBytes)
        guard !MemoryBudget.allows(bytes, limit: limit) else { return }
        let sizes = shapes.dropFirst().map { $0.reduce(1.0) { $0 * Double($1) } }
        let largest = sizes.indices.max { sizes[$0] < sizes[$1] } ?? 0
        throw .exceedsMemory(batchSize: batchSize, evaluationBatchSize: evaluationBatchSize, estimatedBytes: bytes < 9e18 ? Int(bytes) : .max,
                             limitBytes: limit, largestLayer: largest, kind: layers[largest].layerDescription.description,
                             outputShape: shapes[largest + 1], lossBytes: lossBytes < 9e18 ? Int(lossBytes) : .max)
    }
}
