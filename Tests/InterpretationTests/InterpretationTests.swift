import Datasets
import Foundation
import Networks
import Testing
import TensorAlgebra
import Training
import TestSupport
@testable import Interpretation

func randomInputs(_ count: Int, features: Int, classes: Int, seed: UInt64) -> Tensor<Double> {
    var generator = SeededGenerator(seed: seed)
    let x = Tensor<Double>.randomUniform([count, features], using: &generator)
    // Append the zero class dimensions.
    return Tensor(shape: [count, features + classes], scalars: (0 ..< count).flatMap { x.row($0).scalars + [Double](repeating: 0, count: classes) })
}

@Suite struct LinearisationTests {
    @Test func completenessIsExactAndMatchesTheJacobian() throws {
        for activation in [Activation.hardTanh, .relu] {
            let classifier = perturbedClassifier(activation)
            let inputs = randomInputs(20, features: 12, classes: 3, seed: 5)
            let linear = try InstanceLinearisation(classifier, inputs: inputs)
            // Exact by construction: rounding level in float64.
            #expect(linear.completenessError <= 1e-12, "\(activation): \(linear.completenessError)")
            // W(x) is the Jacobian of the logits: compare with central differences at one input.
            let x = inputs.row(3)
            for j in [0, 5, 11] {
                var plus = x, minus = x
                plus[j] += 1e-7
                minus[j] -= 1e-7
                let fp = classifier.network.preActivations(plus).last!.scalars
                let fm = classifier.network.preActivations(minus).last!.scalars
                for k in 0 ..< 3 {
                    let numeric = (fp[12 + k] - fm[12 + k]) / 2e-7
                    #expect(abs(numeric - linear.weights[3, k, j]) <= 1e-6 * max(1, abs(numeric)))
                }
            }
            // The attributions plus the bias share add up to the logit.
            let share = linear.attribution(instance: 3, class: 1, input: Array(x.scalars[0 ..< 12]))
            #expect(abs(share.reduce(0, +) + linear.biases[3, 1] - linear.logits[3, 1]) <= 1e-12 * max(1, abs(linear.logits[3, 1])))
        }
    }

    @Test func floatCompletenessStaysAtRoundingLevel() throws {
        let double = perturbedClassifier(.hardTanh)
        let network = MultilayerPerceptron(weights: double.network.weights.map { $0.converted(to: Float.self) },
                                           biases: double.network.biases.map { $0?.converted(to: Float.self) }, activation: .hardTanh)
        let classifier = IdentityClassifier(network: network, inputFeatures: 12, classes: 3, sigma: 1.3)
        let linear = try InstanceLinearisation(classifier, inputs: randomInputs(50, features: 12, classes: 3, seed: 6).converted(to: Float.self))
        #expect(linear.completenessError <= 1e-4, "\(linear.completenessError)")
    }
}

@Suite struct SampleAnalysisTests {
    @Test func projectionsReproduceEveryUnitAndIncrementsAddUp() throws {
        for activation in [Activation.hardTanh, .relu] {
            let classifier = perturbedClassifier(activation)
            let x = randomInputs(1, features: 12, classes: 3, seed: 9).row(0)
            let analysis = try classifier.analyse(Array(x.scalars[0 ..< 12]), index: 0, label: 1)
            #expect(analysis.projectionError <= 1e-12, "\(activation): \(analysis.projectionError)")
            #expect(analysis.incrementError <= 1e-12)
            #expect(analysis.insensUnits > 0, "some units are inactive in this network")
            #expect(analysis.layerChanges.count == 4 && analysis.layerChanges[0].count == 12)
            // The layer changes add up to the change since the input.
            let total = (0 ..< 12).map { j in analysis.layerChanges.reduce(0) { $0 + $1[j] } }
            #expect(zip(total, analysis.cumulativeChanges[3]).allSatisfy { abs($0 - $1) <= 1e-12 })
        }
    }

    @Test func insensStepReachesTheSwitchingHyperplane() throws {
        // One saturated hard-tanh unit in layer 1 of a 2-layer net: ω moves x onto v = ±1.
        let weights = [Tensor<Double>([[2, 0, 0], [0, 1, 0], [0, 0, 1]]), Tensor<Double>.identity(3)]
        let classifier = IdentityClassifier(network: MultilayerPerceptron(weights: weights, activation: .hardTanh),
                                            inputFeatures: 2, classes: 1, sigma: 1)
        let analysis = try classifier.analyse([0.8, 0.3], index: 0, label: 0)
        // Unit 0: v = 1.6, saturated at +1; ŵ = (2, 0); ω = ((1.6 − 1)/4)·(2, 0) = (0.3, 0).
        #expect(analysis.insensUnits == 1)
        #expect(abs(analysis.insens[0] - 0.3) < 1e-15 && analysis.insens[1] == 0)
    }
}

/// Per-layer readouts against the evaluation and an image-by-image reference.
@Suite struct LayerReadoutTests {
    @Test func readoutAgreesWithTheTrainersEvaluation() throws {
        var generator = SeededGenerator(seed: 1)
        let classifier = IdentityClassifier<Float>(inputFeatures: 12, classes: 3, layers: 3, initialization: .gaussian, sigma: 1.2, using: &generator)
        var pixels: [UInt8] = [], labels: [Int] = []
        for i in 0 ..< 60 { labels.append(i % 3); for _ in 0 ..< 12 { pixels.append(UInt8(generator.next() % 256)) } }
        let data = LabeledImages(pixels: pixels, labels: labels, imageShape: [12], classes: 3)
        let readout = try LayerReadout(classifier, data: data, batchSize: 25)
        let evaluation = try classifier.evaluate(data)
        #expect(readout.accuracies == evaluation.layerAccuracies)
        #expect(readout.confusion == evaluation.layerConfusion)
        #expect(readout.trueClassLikelihoods.allSatisfy { $0 > 0 && $0 < 1 })
        // Independently, image by image through the plain network: argmax and softmax of each
        // layer's class dimensions. Float rounding may flip a near-tie, so allow one image.
        var correct = [Int](repeating: 0, count: 3), likelihood = [Double](repeating: 0, count: 3)
        var confusion = [[[Int]]](repeating: [[Int]](repeating: [0, 0, 0], count: 3), count: 3)
        for i in 0 ..< 60 {
            let x = Tensor<Float>(pixels[(i * 12) ..< ((i + 1) * 12)].map { Float($0) / 255 } + [0, 0, 0])
            for (l, h) in classifier.network.preActivations(x).enumerated() {
                let scores = (12 ..< 15).map { Double(h[$0]) }
                let predicted = scores.indices.max(by: { scores[$0] < scores[$1] })!
                confusion[l][labels[i]][predicted] += 1
                if predicted == labels[i] { correct[l] += 1 }
                let top = scores.max()!
                likelihood[l] += exp(scores[labels[i]] - top) / scores.map { exp($0 - top) }.reduce(0, +)
            }
        }
        for l in 0 ..< 3 {
            // One image flipped by a near-tie moves one count between two cells of a row.
            let moved = zip(readout.confusion[l].joined(), confusion[l].joined()).map { abs($0 - $1) }.reduce(0, +)
            #expect(moved <= 2, "layer \(l + 1): \(readout.confusion[l]) vs \(confusion[l])")
            #expect(abs(readout.accuracies[l] - Double(correct[l]) / 60) <= 1.0 / 60 + 1e-12)
            #expect(abs(readout.trueClassLikelihoods[l] - likelihood[l] / 60) <= 1e-5)
        }
    }
}
