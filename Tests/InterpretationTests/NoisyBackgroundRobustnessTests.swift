import Datasets
import Foundation
import Networks
import Testing
import TensorAlgebra
import TestSupport
@testable import Interpretation

/// A method whose map is the noisy input itself on the image's features and 100 on the class
/// columns: its object share is then Σ_O x̃ / Σ_j |x̃_j| over the pixels, a number the test can
/// work out by hand from the masks and the noise, and a share that counted a class column would
/// be off by far more than rounding.
struct EchoInput: AttributionMethod {
    var name: String { "echo" }
    let features: Int
    func attributions(_ stack: LayerStack<Double>, inputs: Tensor<Double>, targets: [Int]) throws(InterpretationError) -> Tensor<Double> {
        var maps = inputs
        let width = stack.inputShape.reduce(1, *)
        maps.withUnsafeMutableBufferPointer { a in
            for i in 0 ..< inputs.count where i % width >= features { a[i] = 100 }
        }
        return maps
    }
}

/// The noisy-background object share against hand-made masks: a 6 × 6 image whose object is the
/// 2 × 2 block at rows 1–2, columns 1–2 (value 0.8; background 0), outline width 1. Worked out
/// by hand from the rules of docs/interpretation.md, "Noisy background":
///
/// * (b) object: the 4 object pixels kept, the other 32 noisy;
/// * (a) object + outline: rows 0–3 × columns 0–3 kept (the object dilated by a 3 × 3 square), 20 noisy;
/// * (c) object + frame: the object and 12 frame pixels — ring 0 row-major: all of row 0, then
///   columns 0 and 5 of rows 1, 2, 3 — kept, 20 noisy.
///
/// Noisy pixels are min(1, max(0, σ·z)), z the N(0, 1) draws of `SeededGenerator(seed ^ n·φ)`
/// for dataset image n, row-major. The share is computed here in a different order than the
/// library sums, so agreement is to rounding: 1e-12 relative.
@Suite struct NoisyBackgroundRobustnessReferenceTests {
    static let side = 6, classes = 3, objectValue: UInt8 = 204   // 204 / 255 = 0.8
    static let object: Set<Int> = [7, 8, 13, 14]
    static var outlineKept: Set<Int> { Set((0 ..< 4).flatMap { r in (0 ..< 4).map { r * 6 + $0 } }) }
    static var frameKept: Set<Int> { object.union([0, 1, 2, 3, 4, 5, 6, 11, 12, 17, 18, 23]) }

    /// The identity classifier's input [x ; 0_C] of 36 + 3 values: its 36 features are the 6 × 6 image.
    let classifier = perturbedClassifier(.hardTanh, features: 36, classes: 3, layers: 2, seed: 11)
    let settings = NoisyBackgroundSettings(sigma: 0.7, threshold: 0, outlineWidth: 1, clip: true, seed: 42)

    /// `count` copies of the image: every image has the same object, so only the noise, keyed
    /// by the image's index, tells their shares apart.
    func data(count: Int) -> LabeledImages {
        var pixels: [UInt8] = []
        for _ in 0 ..< count { pixels += (0 ..< 36).map { Self.object.contains($0) ? Self.objectValue : 0 } }
        return LabeledImages(pixels: pixels, labels: (0 ..< count).map { $0 % Self.classes }, imageShape: [6, 6], classes: Self.classes)
    }

    /// The share by hand: Σ_O 0.8 / (Σ_O 0.8 + Σ_{noisy} clip(σ z)).
    func expectedShare(kept: Set<Int>, index: Int) -> Double {
        var generator = SeededGenerator(seed: settings.seed ^ (UInt64(index) &* 0x9E37_79B9_7F4A_7C15))
        let z = (0 ..< 36).map { _ in generator.nextNormal() }
        let onObject = Double(Self.object.count) * (Double(Self.objectValue) / 255)
        let noise = (0 ..< 36).filter { !kept.contains($0) }.map { min(1, max(0, settings.sigma * z[$0])) }.reduce(0, +)
        return onObject / (onObject + noise)
    }

    @Test func identityMLPSharesMatchTheHandMadeMasks() throws {
        let stack = classifier.stack
        #expect(NoisyBackgroundRobustness<Double>.defaultImageShape(on: stack) == [6, 6])
        let indices = [5, 9, 2]
        var inputs = Tensor<Double>.zeros([3, 39])
        data(count: 10).gather(indices[...], into: &inputs)
        for (noisy, kept) in [(NoisyBackgroundProtocol.objectOnly, Self.object), (.objectAndOutline, Self.outlineKept),
                              (.objectAndFrame, Self.frameKept)] {
            let metric = NoisyBackgroundRobustness<Double>(noisy, settings: settings)
            let scores = try metric.scores(stack, method: EchoInput(features: 36), inputs: inputs, targets: [0, 1, 2],
                                           attributions: inputs, indices: indices)
            for (i, n) in indices.enumerated() {
                let expected = expectedShare(kept: kept, index: n)
                #expect(abs(scores.values[i] - expected) <= 1e-12 * expected, "\(noisy) image \(n): \(scores.values[i]) vs \(expected)")
                // The noise is drawn: a share of 1 would mean no noisy pixel survived the clip.
                #expect(expected < 0.9)
            }
        }
        // Without indices, input i is image firstIndex + i.
        let shifted = NoisyBackgroundRobustness<Double>(.objectOnly, settings: settings, firstIndex: 4)
        let first = try shifted.scores(stack, method: EchoInput(features: 36), inputs: inputs, targets: [0, 1, 2], attributions: inputs)
        #expect(abs(first.values[1] - expectedShare(kept: Self.object, index: 5)) <= 1e-12)
    }

    /// A map equal to 1 on every pixel puts |O| / D of its mass on the object whatever the noise
    /// (4 / 36 for (b)); the convolutional input [1, 6, 6] is its own image shape.
    @Test func uniformMapOnACNNScoresTheObjectsArea() throws {
        var generator = SeededGenerator(seed: 2)
        let stack = try LayerStack<Double>(architecture: "conv2k3,relu,flatten,dense3", inputShape: [1, 6, 6], using: &generator)
        struct Ones: AttributionMethod {
            var name: String { "ones" }
            func attributions(_ stack: LayerStack<Double>, inputs: Tensor<Double>, targets: [Int]) throws(InterpretationError) -> Tensor<Double> {
                Tensor(shape: inputs.shape, scalars: [Double](repeating: 1, count: inputs.count))
            }
        }
        var inputs = Tensor<Double>.zeros([2, 36])
        data(count: 2).gather([0, 1][...], into: &inputs)
        let scores = try NoisyBackgroundRobustness<Double>(.objectOnly, settings: settings)
            .scores(stack, method: Ones(), inputs: inputs.reshaped([2, 1, 6, 6]), targets: [0, 1], attributions: inputs.reshaped([2, 1, 6, 6]))
        #expect(scores.values.allSatisfy { abs($0 - 4.0 / 36) <= 1e-15 })
    }

    /// The comparison hands the metric each batch's dataset indices: in batches of 2 over images
    /// 3, 7, 4, 8, 9 every image gets its own noise (its index's), the same shares as one call
    /// with the indices.
    @Test func comparisonPassesTheImagesIndices() throws {
        let images = [3, 7, 4, 8, 9]
        let metric = NoisyBackgroundRobustness<Double>(.objectAndOutline, settings: settings)
        let comparison = try AttributionComparison(classifier.stack, data: data(count: 10), images: images, methods: [EchoInput(features: 36)],
                                                   metrics: [metric], examples: 0, batchSize: 2)
        let cell = try #require(comparison.cell(method: "echo", metric: "noisy-background-object+outline"))
        #expect(cell.count == 5)
        for (i, n) in images.enumerated() {
            let expected = expectedShare(kept: Self.outlineKept, index: n)
            #expect(abs(comparison.perSample[0][0][i] - expected) <= 1e-12 * expected)
        }
    }

    /// The catalogue builds the three protocols with the settings' noise, and leaves them out of
    /// the default metrics of a network whose inputs are no image; a flat input that is not a
    /// square is refused by name.
    @Test func catalogueAndRefusals() throws {
        var settings = AttributionSettings<Double>()
        settings.noisyBackground.sigma = 0.25
        let metrics = try AttributionCatalogue.metrics(["noisy-background-object", "noisy-background-object+outline", "noisy-background-object+frame"],
                                                       settings: settings)
        let protocols = metrics.compactMap { ($0 as? NoisyBackgroundRobustness<Double>)?.noisyProtocol }
        #expect(protocols == [.objectOnly, .objectAndOutline, .objectAndFrame])
        #expect(metrics.allSatisfy { ($0 as? NoisyBackgroundRobustness<Double>)?.settings.sigma == 0.25 })
        #expect(AttributionCatalogue.defaultMetricNames(for: classifier.stack).contains("noisy-background-object"))

        var generator = SeededGenerator(seed: 1)
        let flat = try LayerStack<Double>(architecture: "dense4,relu,dense3", inputShape: [10], using: &generator)
        #expect(!AttributionCatalogue.defaultMetricNames(for: flat).contains { $0.hasPrefix("noisy-background") })
        let inputs = Tensor<Double>.randomUniform([2, 10], using: &generator)
        #expect(throws: InterpretationError.self) {
            _ = try NoisyBackgroundRobustness<Double>().scores(flat, method: Gradient(), inputs: inputs, targets: [0, 1], attributions: inputs)
        }
        let shaped = NoisyBackgroundRobustness<Double>(imageShape: [2, 5])
        #expect(try shaped.scores(flat, method: Gradient(), inputs: inputs, targets: [0, 1], attributions: inputs).values.count == 2)
    }
}
