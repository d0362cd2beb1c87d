import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

/// A robustness score of an attribution method from Szymanski et al.'s noisy-background
/// experiment (docs/interpretation.md, "Noisy background" and "Evaluating attributions"): each
/// image's background is replaced by noise under one ``NoisyBackgroundProtocol``, exactly as
/// ``NoisyBackgroundTable`` does (the same masks, the noise of image `firstIndex + i` from the
/// settings' seed), the method explains the noisy image, and the score is the share of the
/// attributions' magnitude on the clean image's object,
///
///     Σ_{j ∈ O} |a_j(x̃)| / Σ_j |a_j(x̃)|,
///
/// O the object mask of the clean image x. Szymanski et al. say Insens "is more robust (in the
/// presence of noise)": a robust explanation keeps its weight on the object although the noise
/// offers the network other pixels. Higher is better; an all-zero map scores 0 (it puts nothing
/// on the object). The images are in [0, 1], as the protocols' noise and threshold assume.
public struct NoisyBackgroundRobustness<Scalar: BLASScalar>: AttributionMetric {
    public var name: String { "noisy-background-object-share" }
    public var higherIsBetter: Bool { true }
    public var noisyProtocol: NoisyBackgroundProtocol
    public var settings: NoisyBackgroundSettings
    /// The dataset index of the first input: image i's noise is that of index `firstIndex + i`.
    public var firstIndex: Int

    public init(_ noisyProtocol: NoisyBackgroundProtocol = .objectOnly, settings: NoisyBackgroundSettings = .init(), firstIndex: Int = 0) {
        self.noisyProtocol = noisyProtocol
        self.settings = settings
        self.firstIndex = firstIndex
    }

    /// Each sample's score.
    public func scores(
        _ stack: LayerStack<Scalar>, method: any AttributionMethod<Scalar>, inputs: Tensor<Scalar>, targets: [Int],
        attributions: Tensor<Scalar>
    ) throws(InterpretationError) -> AttributionScores {
        guard stack.inputShape.count >= 2 else {
            throw .metricSettingOutOfRange(setting: "input shape", value: "\(stack.inputShape)",
                                           expected: "images [H, W] or [C, H, W]: the protocols need an image's rows and columns")
        }
        guard settings.sigma >= 0 && settings.sigma.isFinite && settings.threshold.isFinite && settings.outlineWidth >= 0 else {
            throw .metricSettingOutOfRange(setting: "noisy-background settings", value: settings.summary, expected: "σ ≥ 0, outline width ≥ 0")
        }
        let batch = try stack.checkedInputs(inputs)
        let n = batch.shape[0], d = stack.inputShape.reduce(1, *)
        let plane = stack.inputShape.suffix(2).reduce(1, *)
        var noisy = Tensor<Scalar>.zeros([n] + stack.inputShape)
        var objects: [PixelMask] = []
        for i in 0 ..< n {
            let image = batch.row(i).converted(to: Double.self)
            let object = NoisyBackground.objectMask(image, threshold: settings.threshold)
            objects.append(object)
            let noise = Tensor<Double>(shape: image.shape, scalars: NoisyBackground.noise(seed: settings.seed, index: firstIndex + i, count: d,
                                                                                        sigma: settings.sigma))
            let kept = NoisyBackground.keptMask(noisyProtocol, object: object, outlineWidth: settings.outlineWidth)
            let replaced = NoisyBackground.replacingBackground(image, kept: kept, noise: noise, clip: settings.clip)
            replaced.withUnsafeBufferPointer { r in
                noisy.withUnsafeMutableBufferPointer { out in
                    for j in 0 ..< d { out[i * d + j] = Scalar(r[j]) }
                }
            }
        }
        let maps = try method.attributions(stack, inputs: noisy, targets: targets)
        var values = [Double](repeating: 0, count: n)
        maps.withUnsafeBufferPointer { a in
            for i in 0 ..< n {
                var (total, onObject) = (0.0, 0.0)
                for j in 0 ..< d {
                    let magnitude = abs(Double(a[i * d + j]))
                    total += magnitude
                    if objects[i].isSet[j % plane] { onObject += magnitude }
                }
                values[i] = total > 0 ? onObject / total : 0
            }
        }
        return AttributionScores(values: values)
    }
}
