import Datasets
import Foundation
import Networks
import Testing
import TensorAlgebra
@testable import Interpretation

// The per-channel maps of a CNN's convolutions (ChannelMaps) and W(x) averaged per class
// (ClassMeanWeights): against PyTorch on the Fashion-MNIST CNN, and against the exact identities
// that tie them to the whole network's linearisation and Insens.

@Suite struct ChannelMapsTests {
    /// The trained Fashion-MNIST CNN in float64 at test images 0 and 1: each convolution's
    /// ∂F_k/∂h ⊙ h and its Insens per channel are jacrev's (Scripts/make_cnn_interpretation_fixtures.py
    /// --channel-maps), to 1e-10 of the largest entry (the same float64 sums in another order,
    /// ~1e-14); the unit counts are equal, and the maps add up to the score to 1e-12.
    @Test func matchPyTorchOnTheFashionCNN() throws {
        let fixture = CNNFixture.fashion
        let stack = try fixture.stack(Double.self)
        let inputs = try fixture.array("inputs.npy", as: Double.self)
        #expect(stack.channelLayers == [0, 3])
        for i in 0 ..< 2 {
            let projections = try SwitchedLinearProjections(stack, at: inputs.row(i))
            let scores = projections.outputs.last!.scalars
            let predicted = scores.indices.max { scores[$0] < scores[$1] }!
            for l in [0, 3] {
                let maps = try projections.channelMaps(layer: l, unit: predicted)
                let contributions = try fixture.array("channel_contributions64_layer\(l).npy", as: Double.self).row(i).scalars
                let insens = try fixture.array("channel_insens64_layer\(l).npy", as: Double.self).row(i).scalars
                let units = try fixture.array("channel_insens_units_layer\(l).npy", as: Double.self).row(i).scalars.map { Int($0) }
                #expect(maps.shape == stack.shapes[l + 1] && maps.channels == stack.shapes[l + 1][0])
                let error = relativeToLargest(maps.contributions.flatMap { $0 }, contributions)
                #expect(error <= 1e-10, "image \(i), layer \(l): contributions differ from jacrev's by \(error)")
                let insensError = relativeToLargest(maps.insens.flatMap { $0 }, insens)
                #expect(insensError <= 1e-10, "image \(i), layer \(l): Insens per channel differs by \(insensError)")
                #expect(maps.insensUnits == units)
                #expect(maps.completenessError <= 1e-12, "\(maps.completenessError)")
            }
        }
    }

    /// Exact identities on a small random CNN with a hard-tanh (saturated units carry ±1 into
    /// the intercepts), in float64 (rounding ~1e-15, checked at 1e-12):
    /// * the first convolution is affine in x (h = K x + b), so its channel maps add up to
    ///   G·h = W(x)_k·x + the convolution's bias share of b(x)_k (StackLinearisation's slices);
    /// * every layer entering an activation is a channel layer here, so the channels' Insens
    ///   weighted by their unit counts are Ω(x) (insens()), unit counts included;
    /// * the maps add up to the score with the layers' intercepts above.
    @Test func addUpToTheLinearisationAndInsens() throws {
        var generator = SeededGenerator(seed: 11)
        let stack = try LayerStack<Double>(architecture: "conv4k3p1,hard-tanh,maxpool2,conv6k3,relu,flatten,dense5", inputShape: [1, 8, 8],
                                           using: &generator)
        #expect(stack.channelLayers == [0, 3])
        // Pixels in [−2, 2]: enough of both signs that many units are inactive (saturated
        // hard-tanh, ReLU at or below 0) in both convolutions.
        let images = Tensor<Double>.randomUniform([3, 1, 8, 8], using: &generator) * 4 - 2
        let linear = try StackLinearisation(stack, inputs: images)
        for i in 0 ..< 3 {
            let projections = try SwitchedLinearProjections(stack, at: images.row(i))
            let x = images.row(i).scalars
            var weighted = [Double](repeating: 0, count: 64), units = 0
            for k in 0 ..< 5 {
                let first = try projections.channelMaps(layer: 0, unit: k)
                let total = first.channelTotals.reduce(0, +)
                let expected = (0 ..< 64).reduce(0.0) { $0 + linear.weights[i, k, $1] * x[$1] } + linear.layerBiasShares[0, i, k]
                #expect(abs(total - expected) <= 1e-12 * max(1, abs(expected)), "image \(i), unit \(k): \(total) vs \(expected)")
                #expect(abs(first.score - linear.outputs[i, k]) <= 1e-12 * max(1, abs(first.score)))
                #expect(first.completenessError <= 1e-12)
                let second = try projections.channelMaps(layer: 3, unit: k)
                #expect(second.completenessError <= 1e-12)
                if k == 0 {
                    for maps in [first, second] {
                        for c in 0 ..< maps.channels {
                            for j in 0 ..< 64 { weighted[j] += Double(maps.insensUnits[c]) * maps.insens[c][j] }
                            units += maps.insensUnits[c]
                        }
                    }
                }
            }
            let (omega, count) = projections.insens()
            #expect(units == count && count > 20, "\(units) vs \(count) inactive units")
            #expect(relativeToLargest(weighted.map { $0 / Double(units) }, omega) <= 1e-12)
        }
    }

    @Test func refuseLayersAndUnitsOutside() throws {
        var generator = SeededGenerator(seed: 2)
        let stack = try LayerStack<Double>(architecture: "conv2k3,relu,flatten,dense3", inputShape: [1, 5, 5], using: &generator)
        let projections = try SwitchedLinearProjections(stack, at: Tensor<Double>.randomUniform([1, 5, 5], using: &generator))
        #expect(throws: InterpretationError.layerOutOfRange(layer: 3, layers: 3)) { try projections.channelMaps(layer: 3, unit: 0) }
        #expect(throws: InterpretationError.unitOutOfRange(layer: 3, unit: [3], shape: [3])) { try projections.channelMaps(layer: 0, unit: 3) }
    }

    /// W(x)_c averaged over the linearised images of class c is the mean of StackLinearisation's
    /// rows W(x)_label, whatever the batch size (sums in float64: equal to 1e-12).
    @Test func classMeansAreTheMeanRowsOfEachClass() throws {
        var generator = SeededGenerator(seed: 4)
        let stack = try LayerStack<Double>(architecture: "conv3k3,relu,maxpool2,flatten,dense4", inputShape: [1, 6, 6], using: &generator)
        let pixels: [UInt8] = (0 ..< 25 * 36).map { (i: Int) -> UInt8 in UInt8((i * 53 + i / 36 * 7) % 256) }
        let labels: [Int] = (0 ..< 25).map { (i: Int) -> Int in (i * 3) % 4 }
        let data = LabeledImages(pixels: pixels, labels: labels, imageShape: [6, 6], classes: 4)
        var images = Tensor<Double>.zeros([20, 36])
        data.gather(Array(0 ..< 20)[...], into: &images)
        let linear = try StackLinearisation(stack, inputs: images.reshaped([20, 1, 6, 6]))
        var expected = [[Double]](repeating: [Double](repeating: 0, count: 36), count: 4), counts = [0, 0, 0, 0]
        for i in 0 ..< 20 {
            let c = data.labels[i]
            for j in 0 ..< 36 { expected[c][j] += linear.weights[i, c, j] }
            counts[c] += 1
        }
        expected = expected.indices.map { c in expected[c].map { $0 / Double(counts[c]) } }
        for batchSize in [3, 20] {
            let report = try StackInterpretationReport(stack, data: data, samples: [0], linearise: 20, batchSize: batchSize)
            #expect(report.classMeans.counts == counts)
            for c in 0 ..< 4 { #expect(relativeToLargest(report.classMeans.means[c], expected[c]) <= 1e-12, "batch \(batchSize), class \(c)") }
        }
    }
}
