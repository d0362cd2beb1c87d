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
/// copy, feature by feature (only the D features of a stack with class dimensions: its class
/// columns, 0 by construction, stay 0); ``attributions(_:inputs:targets:noise:)`` takes it explicitly
/// instead (the cross-check feeds the noise Captum drew). The noisy copies of many samples go
/// to the inner method together, in batches of about `batchRows` rows.
public struct SmoothGrad<Scalar: BLASScalar>: AttributionMethod {
    public var name: String { inner.name == "gradient" ? "smoothgrad" : "smoothgrad-\(inner.name)" }
    public var summary: String { "\(name) (\(samples) copies, σ \(standardDeviation), seed \(seed), of \(inner.summary))" }
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
        let features = stack.classDimensions?.features ?? stack.inputShape.reduce(1, *)
        var generator = SeededGenerator(seed: seed)
        let sigma = standardDeviation
        // Drawn chunk by chunk in sample, copy, feature order: the numbers of one draw of the
        // whole [count · samples, features] noise, without holding it.
        return try smoothed(stack, batch: batch, targets: targets) { row, _, _ in
            for j in 0 ..< features { row[j] += Scalar(sigma * generator.nextNormal()) }
        }.reshaped(inputs.shape)
    }

    /// The mean of the inner method's attributions at x_i + noise[i·samples + k], k < samples:
    /// `noise` is `[count · samples] + inputShape` (or flattened), sample i's copies in rows
    /// i·samples ..< (i + 1)·samples (Captum's `repeat_interleave` order); the standard
    /// deviation and seed are not used. With class dimensions only the D feature columns are
    /// noised (`[count · samples, D]` is accepted too; the class columns of a full-width noise
    /// are not read), so the class columns stay 0. A noise of another shape throws
    /// ``InterpretationError/invalidAttributionSetting(method:setting:value:requirement:)``
    /// naming its shape.
    public func attributions(_ stack: LayerStack<Scalar>, inputs: Tensor<Scalar>, targets: [Int], noise: Tensor<Scalar>) throws(InterpretationError) -> Tensor<Scalar> {
        try checkSettings()
        let batch = try stack.checkedInputs(inputs)
        let count = batch.shape[0], width = stack.inputShape.reduce(1, *)
        let features = stack.classDimensions?.features ?? width
        let rows = count * samples
        let noiseWidth: Int
        if noise.shape == [rows] + stack.inputShape || noise.shape == [rows, width] {
            noiseWidth = width
        } else if stack.classDimensions != nil && noise.shape == [rows, features] {
            noiseWidth = features
        } else {
            let accepted = stack.classDimensions != nil ? "\([rows] + stack.inputShape) or \([rows, features])" : "\([rows] + stack.inputShape) or \([rows, width])"
            throw .invalidAttributionSetting(method: name, setting: "noise", value: "of shape \(noise.shape)",
                                             requirement: "of shape \(accepted): \(samples) copies of each of the \(count) inputs")
        }
        let bad = noise.nonFiniteCount
        if bad > 0 { throw .invalidAttributionSetting(method: name, setting: "noise", value: "with \(bad) NaN or infinite values", requirement: "finite") }
        var result: Result<Tensor<Scalar>, InterpretationError> = .failure(.emptyData)
        noise.withUnsafeBufferPointer { n in
            result = Result { () throws(InterpretationError) in
                try smoothed(stack, batch: batch, targets: targets) { row, i, k in
                    let source = n.baseAddress! + (i * samples + k) * noiseWidth
                    for j in 0 ..< features { row[j] += source[j] }
                }
            }
        }
        return try result.get().reshaped(inputs.shape)
    }

    /// The mean over copies of the inner method's maps, the copies of several samples per
    /// chunk: `addNoise(row, i, k)` adds copy k's noise to the row holding sample i's features,
    /// called in sample, copy order.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func smoothed(_ stack: LayerStack<Scalar>, batch: Tensor<Scalar>, targets: [Int],
                  addNoise: (UnsafeMutablePointer<Scalar>, Int, Int) -> Void) throws(InterpretationError) -> Tensor<Scalar> {
        let count = batch.shape[0], width = stack.inputShape.reduce(1, *)
        try stack.checkTargets(targets, count: count)
        let perBatch = max(1, batchRows / samples)
        // The gradient methods go straight to the stack's gradients through one engine for every
        // chunk (one workspace; inputs already checked, the noise finite); other inner methods
        // get the noisy copies as any caller's inputs.
        let gradientOnly = inner is Gradient<Scalar>, timesInput = inner is GradientTimesInput<Scalar>
        let engine = gradientOnly || timesInput ? GeneratedBatches(stack, rows: min(perBatch, count) * samples) : nil
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
                    for (s, i) in chunk.enumerated() {
                        for k in 0 ..< samples {
                            let row = y.baseAddress! + (s * samples + k) * width
                            row.update(from: x.baseAddress! + i * width, count: width)
                            addNoise(row, i, k)
                        }
                    }
                }
            }
            let repeated = chunk.flatMap { [Int](repeating: targets[$0], count: samples) }
            let maps: Tensor<Scalar>
            if let engine {
                let gradients = stack.targetGradients(noisy, targets: repeated, engine: engine)
                maps = timesInput ? GradientTimesInput.times(noisy, gradients) : gradients
            } else {
                maps = try inner.attributions(stack, inputs: noisy, targets: repeated)
            }
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
        return result
    }
}
