import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// SmoothGrad (Smilkov et al. 2017; Captum's `NoiseTunnel` with `nt_type="smoothgrad"`): the
/// mean of an inner method's attributions over `samples` noisy copies x + ε, ε ~ N(0, σ²) per
/// feature — Captum's `nt_samples` and `stdevs` (σ in the inputs' units, not a fraction of
/// their range). The inner method is the signed ``Gradient`` by default (Captum's
/// `Saliency(abs=False)` inside the tunnel); any other method can be smoothed.
///
/// The noise comes from Isometry's `SeededGenerator(seed:)`, drawn sample by sample, copy by
/// copy, feature by feature; ``attributions(_:inputs:targets:noise:)`` takes it explicitly
/// instead (the cross-check feeds the noise Captum drew). The noisy copies of many samples go
/// to the inner method together, in batches of about `batchRows` rows.
public struct SmoothGrad<Scalar: BLASScalar>: AttributionMethod {
    public var name: String { inner.name == "gradient" ? "smoothgrad" : "smoothgrad-\(inner.name)" }
    public var samples: Int
    public var standardDeviation: Double
    public var seed: UInt64
    public var inner: any AttributionMethod<Scalar>
    public var batchRows: Int

    public init(samples: Int = 50, standardDeviation: Double = 0.15, seed: UInt64 = 0, inner: any AttributionMethod<Scalar> = Gradient<Scalar>(),
                batchRows: Int = 512) {
        self.samples = samples
        self.standardDeviation = standardDeviation
        self.seed = seed
        self.inner = inner
        self.batchRows = batchRows
    }

    func checkSettings() throws(InterpretationError) {
        guard samples >= 1 else { throw .invalidAttributionSetting(method: name, setting: "samples", value: "\(samples)", requirement: "at least 1") }
        guard standardDeviation >= 0 && standardDeviation.isFinite else {
            throw .invalidAttributionSetting(method: name, setting: "standard deviation", value: "\(standardDeviation)", requirement: "finite and at least 0")
        }
        guard batchRows >= 1 else { throw .invalidAttributionSetting(method: name, setting: "batch rows", value: "\(batchRows)", requirement: "at least 1") }
    }

    public func attributions(_ stack: LayerStack<Scalar>, inputs: Tensor<Scalar>, targets: [Int]) throws(InterpretationError) -> Tensor<Scalar> {
        try checkSettings()
        let batch = try stack.checkedInputs(inputs)
        let count = batch.shape[0], width = stack.inputShape.reduce(1, *)
        var generator = SeededGenerator(seed: seed)
        var noise = Tensor<Scalar>.zeros([count * samples, width])
        noise.withUnsafeMutableBufferPointer { n in
            for k in n.indices { n[k] = Scalar(standardDeviation * generator.nextNormal()) }
        }
        return try attributions(stack, inputs: inputs, targets: targets, noise: noise)
    }

    /// The mean of the inner method's attributions at x_i + noise[i·samples + k], k < samples:
    /// `noise` is `[count · samples] + inputShape` (or flattened), sample i's copies in rows
    /// i·samples ..< (i + 1)·samples (Captum's `repeat_interleave` order); the standard
    /// deviation and seed are not used. A noise of another shape throws
    /// ``InterpretationError/inputShapeMismatch(found:expected:)``.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func attributions(_ stack: LayerStack<Scalar>, inputs: Tensor<Scalar>, targets: [Int], noise: Tensor<Scalar>) throws(InterpretationError) -> Tensor<Scalar> {
        try checkSettings()
        let batch = try stack.checkedInputs(inputs)
        let count = batch.shape[0], width = stack.inputShape.reduce(1, *)
        require(targets.count == count, "SmoothGrad: \(targets.count) targets for \(count) inputs")
        guard noise.count == count * samples * width, noise.shape.first == count * samples else {
            throw .inputShapeMismatch(found: noise.shape, expected: [count * samples] + stack.inputShape)
        }
        let perBatch = max(1, batchRows / samples)
        var result = Tensor<Scalar>.zeros([count, width])
        let divisor = Scalar(samples)
        // One buffer of noisy copies for the full chunks, another only for a shorter last one.
        var noisy = Tensor<Scalar>.zeros([min(perBatch, count) * samples] + stack.inputShape)
        for first in stride(from: 0, to: count, by: perBatch) {
            let chunk = first ..< min(first + perBatch, count)
            let rows = chunk.count * samples
            if noisy.shape[0] != rows { noisy = .zeros([rows] + stack.inputShape) }
            noisy.withUnsafeMutableBufferPointer { y in
                batch.withUnsafeBufferPointer { x in
                    noise.withUnsafeBufferPointer { n in
                        for (s, i) in chunk.enumerated() {
                            for k in 0 ..< samples {
                                let r = s * samples + k
                                for j in 0 ..< width { y[r * width + j] = x[i * width + j] + n[(i * samples + k) * width + j] }
                            }
                        }
                    }
                }
            }
            let repeated = chunk.flatMap { [Int](repeating: targets[$0], count: samples) }
            let maps = try inner.attributions(stack, inputs: noisy, targets: repeated)
            result.withUnsafeMutableBufferPointer { out in
                maps.withUnsafeBufferPointer { m in
                    for (s, i) in chunk.enumerated() {
                        for j in 0 ..< width {
                            var sum: Scalar = 0
                            for k in 0 ..< samples { sum += m[(s * samples + k) * width + j] }
                            // Captum's `sum * 1 / nt_samples`: a division by the count.
                            out[i * width + j] = sum / divisor
                        }
                    }
                }
            }
        }
        return result.reshaped(inputs.shape)
    }
}
