import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// A robustness score of an attribution method from Szymanski et al.'s noisy-background
/// experiment (docs/interpretation.md, "Noisy background" and "Evaluating attributions"): each
/// image's background is replaced by noise under one ``NoisyBackgroundProtocol``, exactly as
/// ``NoisyBackgroundTable`` does (the same masks, the noise of the image's dataset index from the
/// settings' seed), the method explains the noisy image, and the score is the share of the
/// attributions' magnitude on the clean image's object,
///
///     Σ_{j ∈ O} |a_j(x̃)| / Σ_j |a_j(x̃)|,
///
/// O the object mask of the clean image x. Szymanski et al. say Insens "is more robust (in the
/// presence of noise)": a robust explanation keeps its weight on the object although the noise
/// offers the network other pixels. Higher is better; an all-zero map scores 0 (it puts nothing
/// on the object). The images are in [0, 1], as the protocols' noise and threshold assume.
///
/// The protocols need an image's rows and columns (``imageShape``): a convolutional stack's
/// input shape, or for a stack with class dimensions (the identity MLP, input [x ; 0_C]) its D
/// features read as a square image — the class columns are neither noised (they stay as given,
/// zero in a dataset's batches) nor counted in the share, as no pixel is there.
public struct NoisyBackgroundRobustness<Scalar: BLASScalar>: DatasetIndexedAttributionMetric {
    /// "noisy-background-object", "noisy-background-object+outline", "noisy-background-object+frame".
    public var name: String { "noisy-background-\(noisyProtocol.rawValue)" }
    public var higherIsBetter: Bool { true }
    public var noisyProtocol: NoisyBackgroundProtocol
    public var settings: NoisyBackgroundSettings
    /// The dataset index of the first input when ``scores(_:method:inputs:targets:attributions:)``
    /// is called without indices: input i's noise is that of index `firstIndex + i`.
    public var firstIndex: Int
    /// The image the features form, `[H, W]` or `[C, H, W]`, laid over the first
    /// `imageShape.reduce(1, *)` input values (row-major); nil: ``defaultImageShape(on:)``.
    public var imageShape: [Int]?

    public init(_ noisyProtocol: NoisyBackgroundProtocol = .objectOnly, settings: NoisyBackgroundSettings = .init(), firstIndex: Int = 0,
                imageShape: [Int]? = nil) {
        self.noisyProtocol = noisyProtocol
        self.settings = settings
        self.firstIndex = firstIndex
        self.imageShape = imageShape
    }

    /// The image the protocols see on `stack` when ``imageShape`` is nil: its input shape when
    /// that has rows and columns; with class dimensions its D features as a √D × √D image (the
    /// identity MLP's 784 features are the 28 × 28 image, row-major, as `LabeledImages` lays
    /// them out); nil when neither applies: a flat input without class dimensions is not taken
    /// for an image because its width is a square (64 tabular features are not 8 × 8 pixels).
    public static func defaultImageShape(on stack: LayerStack<Scalar>) -> [Int]? {
        if stack.inputShape.count >= 2 { return stack.inputShape }
        guard let features = stack.classDimensions?.features else { return nil }
        let side = Int(Double(features).squareRoot().rounded())
        return side * side == features && side >= 2 ? [side, side] : nil
    }

    /// The image shape on `stack`, checked: 2 or 3 positive axes holding at most the stack's
    /// features (the class columns excluded).
    func checkedImageShape(on stack: LayerStack<Scalar>) throws(InterpretationError) -> [Int] {
        let features = stack.classDimensions?.features ?? stack.inputShape.reduce(1, *)
        guard let shape = imageShape ?? Self.defaultImageShape(on: stack) else {
            throw .metricSettingOutOfRange(setting: "image shape", value: "of input \(stack.inputShape)",
                                           expected: "images [H, W] or [C, H, W]: the protocols need an image's rows and columns; give imageShape")
        }
        guard (2 ... 3).contains(shape.count), shape.allSatisfy({ $0 >= 1 }), shape.reduce(1, *) == features else {
            throw .metricSettingOutOfRange(setting: "image shape", value: "\(shape)",
                                           expected: "[H, W] or [C, H, W] holding the stack's \(features) features")
        }
        return shape
    }

    /// Each sample's score, input i taken as image `firstIndex + i` of its dataset.
    public func scores(
        _ stack: LayerStack<Scalar>, method: any AttributionMethod<Scalar>, inputs: Tensor<Scalar>, targets: [Int],
        attributions: Tensor<Scalar>
    ) throws(InterpretationError) -> AttributionScores {
        let n = inputs.rank > stack.inputShape.count ? inputs.shape[0] : 1
        return try scores(stack, method: method, inputs: inputs, targets: targets, attributions: attributions,
                          indices: Array(firstIndex ..< firstIndex + n))
    }

    /// Each sample's score, input i taken as image `indices[i]` of its dataset (its noise is that
    /// index's, as `noisy-background` draws it for the same image).
    public func scores(
        _ stack: LayerStack<Scalar>, method: any AttributionMethod<Scalar>, inputs: Tensor<Scalar>, targets: [Int],
        attributions: Tensor<Scalar>, indices: [Int]
    ) throws(InterpretationError) -> AttributionScores {
        guard settings.sigma >= 0 && settings.sigma.isFinite && settings.threshold.isFinite && settings.outlineWidth >= 0 else {
            throw .metricSettingOutOfRange(setting: "noisy-background settings", value: settings.summary, expected: "σ ≥ 0 and finite, threshold finite, outline width ≥ 0")
        }
        let shape = try checkedImageShape(on: stack)
        let batch = try stack.checkedInputs(inputs)
        let n = batch.shape[0], width = stack.inputShape.reduce(1, *), d = shape.reduce(1, *)
        let plane = shape.suffix(2).reduce(1, *)
        require(indices.count == n, "NoisyBackgroundRobustness: \(indices.count) dataset indices for \(n) inputs")
        // Beyond the image's d values (the class columns) the noisy input keeps the clean one's.
        var noisy = batch
        var objects: [PixelMask] = []
        objects.reserveCapacity(n)
        batch.withUnsafeBufferPointer { x in
            noisy.withUnsafeMutableBufferPointer { out in
                for i in 0 ..< n {
                    let image = Tensor<Double>(shape: shape, scalars: (0 ..< d).map { Double(x[i * width + $0]) })
                    let object = NoisyBackground.objectMask(image, threshold: settings.threshold)
                    objects.append(object)
                    let noise = Tensor<Double>(shape: shape, scalars: NoisyBackground.noise(seed: settings.seed, index: indices[i], count: d,
                                                                                            sigma: settings.sigma))
                    let kept = NoisyBackground.keptMask(noisyProtocol, object: object, outlineWidth: settings.outlineWidth)
                    let replaced = NoisyBackground.replacingBackground(image, kept: kept, noise: noise, clip: settings.clip)
                    replaced.withUnsafeBufferPointer { r in
                        for j in 0 ..< d { out[i * width + j] = Scalar(r[j]) }
                    }
                }
            }
        }
        let maps = try method.attributions(stack, inputs: noisy, targets: targets)
        require(maps.count == batch.count, "NoisyBackgroundRobustness: \(method.name) returned \(maps.shape) for inputs \(batch.shape)")
        var values = [Double](repeating: 0, count: n)
        maps.withUnsafeBufferPointer { a in
            for i in 0 ..< n {
                var (total, onObject) = (0.0, 0.0)
                for j in 0 ..< d {
                    let magnitude = abs(Double(a[i * width + j]))
                    total += magnitude
                    if objects[i].isSet[j % plane] { onObject += magnitude }
                }
                values[i] = total > 0 ? onObject / total : 0
            }
        }
        return AttributionScores(values: values)
    }
}

/// A metric whose per-sample draws are keyed by each sample's index in its dataset (the
/// noisy-background score draws image n's noise from the seed and n), so that a comparison
/// that scores the images batch by batch passes the indices and every image gets its own
/// draws, whatever the batches.
public protocol DatasetIndexedAttributionMetric<Scalar>: AttributionMetric {
    /// Each sample's score, input i being image `indices[i]` of its dataset.
    func scores(
        _ stack: LayerStack<Scalar>, method: any AttributionMethod<Scalar>, inputs: Tensor<Scalar>, targets: [Int],
        attributions: Tensor<Scalar>, indices: [Int]
    ) throws(InterpretationError) -> AttributionScores
}
