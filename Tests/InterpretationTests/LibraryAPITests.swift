import Datasets
import Foundation
import Networks
import Testing
import TestSupport
import TensorAlgebra
import Interpretation

/// 3 × 4 images with random pixels and labels for `perturbedClassifier` (12 features, 3 classes).
func randomImages(_ count: Int, seed: UInt64 = 4) -> LabeledImages {
    var generator = SeededGenerator(seed: seed)
    let pixels = (0 ..< count * 12).map { _ in UInt8(generator.next() % 256) }
    let labels = (0 ..< count).map { _ in Int(generator.next() % 3) }
    return LabeledImages(pixels: pixels, labels: labels, imageShape: [3, 4], classes: 3)
}

func withActivation(_ classifier: IdentityClassifier<Double>, _ activation: Activation) -> IdentityClassifier<Double> {
    var network = classifier.network
    network.activation = activation
    return IdentityClassifier(network: network, inputFeatures: classifier.inputFeatures, classes: classifier.classes, sigma: classifier.sigma)
}

@Suite struct InterpretationErrorTests {
    @Test func unsupportedActivationThrowsTheTypedError() {
        for activation in [Activation.tanh, .erf] {
            let classifier = perturbedClassifier(activation)
            let inputs = randomInputs(4, features: 12, classes: 3, seed: 1)
            #expect(throws: InterpretationError.unsupportedActivation(activation)) {
                try InstanceLinearisation(classifier, inputs: inputs)
            }
            #expect(throws: InterpretationError.unsupportedActivation(activation)) {
                try classifier.analyse([Double](repeating: 0.5, count: 12), index: 0, label: 0)
            }
            #expect(throws: InterpretationError.unsupportedActivation(activation)) {
                try DatasetLinearisation(classifier, data: randomImages(5))
            }
            #expect(throws: InterpretationError.unsupportedActivation(activation)) {
                try InterpretationReport(classifier, data: randomImages(5), samples: [0])
            }
            #expect(InterpretationError.unsupportedActivation(activation).description.contains(activation.rawValue))
        }
    }

    @Test func inputsThatDoNotFitThrow() {
        let classifier = perturbedClassifier(.hardTanh)
        let narrow = Tensor<Double>.zeros([5, 11])
        #expect(throws: InterpretationError.inputWidthMismatch(found: 11, expected: 12)) {
            try InstanceLinearisation(classifier, inputs: narrow)
        }
        #expect(throws: InterpretationError.inputNotAMatrix(shape: [15])) {
            try InstanceLinearisation(classifier, inputs: Tensor<Double>.zeros([15]))
        }
        var poisoned = randomInputs(4, features: 12, classes: 3, seed: 1)
        poisoned[2, 7] = .nan
        #expect(throws: InterpretationError.nonFiniteInput(sample: 2)) {
            try InstanceLinearisation(classifier, inputs: poisoned)
        }
        #expect(throws: InterpretationError.inputWidthMismatch(found: 11, expected: 12)) {
            try classifier.analyse([Double](repeating: 0.5, count: 11), index: 0, label: 0)
        }
        #expect(throws: InterpretationError.nonFiniteInput(sample: 9)) {
            try classifier.analyse([Double](repeating: .infinity, count: 12), index: 9, label: 0)
        }
        #expect(throws: InterpretationError.labelOutOfRange(label: 3, classes: 3)) {
            try classifier.analyse([Double](repeating: 0.5, count: 12), index: 0, label: 3)
        }
        let wide = LabeledImages(pixels: [UInt8](repeating: 1, count: 2 * 16), labels: [0, 1], imageShape: [4, 4], classes: 3)
        #expect(throws: InterpretationError.inputWidthMismatch(found: 16, expected: 12)) {
            try DatasetLinearisation(classifier, data: wide)
        }
        #expect(throws: InterpretationError.sampleOutOfRange(index: 5, count: 5)) {
            try DatasetLinearisation(classifier, data: randomImages(5), samples: [0, 5])
        }
        #expect(throws: InterpretationError.emptyData) {
            try DatasetLinearisation(classifier, data: LabeledImages(pixels: [], labels: [], imageShape: [3, 4], classes: 3))
        }
        let badLabels = LabeledImages(pixels: [UInt8](repeating: 1, count: 2 * 12), labels: [0, 7], imageShape: [3, 4], classes: 8)
        #expect(throws: InterpretationError.labelOutOfRange(label: 7, classes: 3)) {
            try InterpretationReport(classifier, data: badLabels, samples: [0])
        }
    }

    @Test func nonFiniteWeightsThrowBeforeAnyWork() {
        var classifier = perturbedClassifier(.relu)
        classifier.network.weights[1][4, 2] = .nan
        #expect(throws: InterpretationError.nonFiniteWeights(layer: 2, tensor: "weight", count: 1)) { try classifier.checkInterpretable() }
        #expect(throws: InterpretationError.nonFiniteWeights(layer: 2, tensor: "weight", count: 1)) {
            try DatasetLinearisation(classifier, data: randomImages(5))
        }
        var biased = perturbedClassifier(.hardTanh)
        biased.network.biases[3]![0] = -.infinity
        biased.network.biases[3]![1] = .nan
        #expect(throws: InterpretationError.nonFiniteWeights(layer: 4, tensor: "bias", count: 2)) {
            try InstanceLinearisation(biased, inputs: randomInputs(2, features: 12, classes: 3, seed: 1))
        }
    }
}

@Suite struct DatasetLinearisationTests {
    @Test func completenessIsAtRoundingLevelAndEqualsThePerBatchResults() throws {
        for activation in [Activation.hardTanh, .relu] {
            let classifier = perturbedClassifier(activation)
            let data = randomImages(50)
            let samples = [3, 0, 49, 17]
            var reference: DatasetLinearisation?
            for batchSize in [1, 7, 50, 1000] {
                var calls: [(Int, Int)] = []
                let linear = try DatasetLinearisation(classifier, data: data, count: 40, samples: samples, batchSize: batchSize) { calls.append(($0, $1)) }
                #expect(linear.count == 40 && linear.batchSize == batchSize)
                #expect(linear.completenessError <= 1e-12, "\(activation), batch \(batchSize): \(linear.completenessError)")
                // The same as linearising the batches one by one.
                var worst = 0.0
                for start in stride(from: 0, to: 40, by: batchSize) {
                    let size = min(batchSize, 40 - start)
                    var inputs = Tensor<Double>.zeros([size, 15])
                    data.gather(Array(start ..< start + size)[...], into: &inputs)
                    worst = max(worst, try InstanceLinearisation(classifier, inputs: inputs).completenessError)
                }
                for start in stride(from: 0, to: samples.count, by: batchSize) {
                    let chosen = samples[start ..< min(start + batchSize, samples.count)]
                    var inputs = Tensor<Double>.zeros([chosen.count, 15])
                    data.gather(chosen, into: &inputs)
                    worst = max(worst, try InstanceLinearisation(classifier, inputs: inputs).completenessError)
                }
                #expect(linear.completenessError == worst)
                // Progress after every batch, ending at every image.
                #expect(calls.last.map { $0 == (44, 44) } ?? false)
                #expect(zip(calls, calls.dropFirst()).allSatisfy { $0.0 < $1.0 })
                // The samples: in the order asked, their shares add up to the logits, which are the network's.
                #expect(linear.samples.map(\.index) == samples)
                var inputs = Tensor<Double>.zeros([samples.count, 15])
                data.gather(samples[...], into: &inputs)
                let logits = classifier.logits(inputs)
                for (row, sample) in linear.samples.enumerated() {
                    for c in 0 ..< 3 {
                        #expect(abs(sample.logits[c] - logits[row, c]) <= 1e-12)
                        let total = sample.attributions[c].reduce(0, +) + sample.biasShares[c]
                        #expect(abs(total - sample.logits[c]) <= 1e-12 * max(1, abs(sample.logits[c])))
                    }
                }
                // Regardless of the batch size, the same maps (to rounding).
                if let reference {
                    #expect(abs(linear.completenessError - reference.completenessError) <= 1e-12)
                    for (a, b) in zip(linear.samples, reference.samples) {
                        #expect(zip(a.attributions.joined(), b.attributions.joined()).allSatisfy { abs($0 - $1) <= 1e-12 })
                        #expect(zip(a.biasShares, b.biasShares).allSatisfy { abs($0 - $1) <= 1e-12 })
                    }
                } else {
                    reference = linear
                }
            }
        }
    }

    @Test func featureRowsAndPaddedRowsGiveTheSameMap() throws {
        let classifier = perturbedClassifier(.hardTanh)
        let padded = randomInputs(6, features: 12, classes: 3, seed: 3)
        let features = Tensor(shape: [6, 12], scalars: (0 ..< 6).flatMap { Array(padded.row($0).scalars[0 ..< 12]) })
        let a = try InstanceLinearisation(classifier, inputs: padded), b = try InstanceLinearisation(classifier, inputs: features)
        #expect(a.weights == b.weights && a.biases == b.biases && a.logits == b.logits)
    }

    @Test func linearNetworksLineariseExactly() throws {
        let classifier = withActivation(perturbedClassifier(.relu), .linear)
        let linear = try InstanceLinearisation(classifier, inputs: randomInputs(10, features: 12, classes: 3, seed: 8))
        #expect(linear.completenessError <= 1e-12)
        // A linear network has the same W(x) at every input: the product of the class rows.
        var product = classifier.network.weights[3].rows(12 ..< 15)
        for l in stride(from: 2, through: 0, by: -1) { product = matmul(product, classifier.network.weights[l]) }
        for k in 0 ..< 3 { for j in 0 ..< 15 { #expect(abs(linear.weights[7, k, j] - product[k, j]) <= 1e-12) } }
    }
}

@Suite struct TemplateAndReportTests {
    @Test func templatesAreTheWeightRows() {
        let classifier = perturbedClassifier(.relu)
        let templates = ClassTemplates(classifier)
        #expect(templates.layers == 4 && templates.classes == 3)
        for l in 0 ..< 4 {
            for c in 0 ..< 3 {
                #expect(templates[layer: l, class: c] == (0 ..< 12).map { classifier.network.weights[l][12 + c, $0] })
            }
        }
    }

    @Test func reportHoldsTheNumbersMapsAndPage() throws {
        let classifier = perturbedClassifier(.hardTanh)
        let data = randomImages(30)
        var stages: [InterpretationReport.Stage] = []
        let report = try InterpretationReport(classifier, data: data, samples: [2, 0], linearise: 20, batchSize: 8, source: "test <net>") { stage, _, _ in
            if stages.last != stage { stages.append(stage) }
        }
        #expect(stages == InterpretationReport.Stage.allCases)
        #expect(report.readout.accuracies == (try classifier.evaluate(data)).layerAccuracies)
        #expect(report.linearisation == (try DatasetLinearisation(classifier, data: data, count: 20, samples: [2, 0], batchSize: 8)))
        #expect(report.analyses.map(\.index) == [2, 0] && report.analyses[0].input.count == 12)
        #expect(report.analyses[0].input == (try classifier.analyse(data.pixels[24 ..< 36].map { Double($0) / 255 }, index: 2, label: data.labels[2])).input)
        #expect(report.templates == ClassTemplates(classifier))
        #expect(report.classNames == ["class 0", "class 1", "class 2"])
        let shapes = Dictionary(uniqueKeysWithValues: report.maps.map { ($0.name, $0.shape) })
        #expect(shapes == ["layer_changes.npy": [2, 4, 3, 4], "cumulative_changes.npy": [2, 4, 3, 4], "class_increments.npy": [2, 4, 3, 3, 4],
                           "insens.npy": [2, 3, 4], "linearisation.npy": [2, 3, 3, 4], "templates.npy": [4, 3, 3, 4]])
        #expect(report.maps.allSatisfy { $0.values.count == $0.shape.reduce(1, *) })
        let json = try JSONSerialization.jsonObject(with: Data(try report.json().utf8)) as! [String: Any]
        #expect(Set(json.keys) == ["checkpoint", "layers", "width", "activation", "readout", "linearisedImages",
                                   "completenessError", "linearisationSeconds", "samples"])
        #expect(json["activation"] as? String == "hard-tanh" && json["linearisedImages"] as? Int == 20)
        #expect((json["samples"] as! [[String: Any]]).map { $0["index"] as! Int } == [2, 0])
        #expect(report.summary.contains("completeness error"))
    }
}
