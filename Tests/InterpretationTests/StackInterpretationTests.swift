import Datasets
import Foundation
import Networks
import Testing
import TensorAlgebra
import TestSupport
@testable import Interpretation

/// The fixtures of Scripts/make_pytorch_mlp.py: a 784-1000-300-10 ReLU MLP saved by PyTorch.
let pytorchMLP = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/PyTorchMLP")

/// A float64 stack with every piecewise-linear kind: a [3, 4] input flattened, leaky ReLU,
/// hard-tanh with weights large enough that many units saturate (so b(x) carries ±1s),
/// identity, ReLU, and a linear last layer.
func mixedStack(seed: UInt64 = 3) -> LayerStack<Double> {
    var generator = SeededGenerator(seed: seed)
    func dense(_ inputs: Int, _ outputs: Int, scale: Double) -> Dense<Double> {
        Dense(weight: Tensor<Double>.randomNormal([outputs, inputs], standardDeviation: scale, using: &generator),
              bias: Tensor<Double>.randomNormal([outputs], standardDeviation: 0.3, using: &generator))
    }
    return LayerStack<Double>(inputShape: [3, 4]) {
        Flatten()
        dense(12, 20, scale: 0.5)
        ActivationLayer(.leakyReLU(slope: 0.1))
        dense(20, 16, scale: 0.9)
        ActivationLayer(.hardTanh)
        dense(16, 16, scale: 0.4)
        ActivationLayer(.identity)
        dense(16, 9, scale: 0.4)
        ActivationLayer(.relu)
        dense(9, 4, scale: 0.5)
    }
}

/// The largest |a − b| over the largest |b| (1 at least): the relative error of a whole map.
func relativeError(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count, "\(a.count) vs \(b.count) values")
    return zip(a, b).map { abs($0 - $1) }.max()! / max(1, b.map(abs).max()!)
}

/// A layer the interpreter does not know: y = 2x, as a user's module might write.
struct Doubling: Layer {
    typealias Scalar = Double
    var layerDescription: LayerDescription { LayerDescription(kind: "doubling") }
    func outputShape(forInput shape: [Int]) throws(LayerShapeMismatch) -> [Int] { shape }
    func forward(_ input: Tensor<Double>, into output: inout Tensor<Double>, pattern: inout Tensor<Double>) { output = input * 2 }
    func jvp(_ tangent: Tensor<Double>, pattern: Tensor<Double>, into output: inout Tensor<Double>) { output = tangent * 2 }
    func vjp(_ cotangent: Tensor<Double>, pattern: Tensor<Double>, into inputCotangent: inout Tensor<Double>) { inputCotangent = cotangent * 2 }
}

@Suite struct StackLinearisationTests {
    /// The PyTorch network, float32: W(x) is torch.func.jacrev's Jacobian at the 8 fixture
    /// images to 1e-5 relative to its largest entry (float32 sums of up to 1000 products in
    /// another order: a few ulps of the partial sums), and completeness holds to 1e-5.
    @Test func pytorchNetworkMatchesJacrevAndIsComplete() throws {
        let stack = try LayerStack<Float>(pytorchStateDict: pytorchMLP.appendingPathComponent("model.safetensors"), activation: .relu)
        let inputs = try Tensor<Float>(contentsOfNumpyFile: pytorchMLP.appendingPathComponent("inputs.npy"))
        let jacobians = try Tensor<Float>(contentsOfNumpyFile: pytorchMLP.appendingPathComponent("jacobians.npy"))
        let logits = try Tensor<Float>(contentsOfNumpyFile: pytorchMLP.appendingPathComponent("logits.npy"))
        let linear = try StackLinearisation(stack, inputs: inputs)
        #expect(linear.units == 0 ..< 10 && linear.weights.shape == [8, 10, 784])
        #expect(linear.completenessError <= 1e-5, "\(linear.completenessError)")
        for i in 0 ..< 8 {
            let error = relativeError(linear.weights.row(i).scalars.map(Double.init), jacobians.row(i).scalars.map(Double.init))
            #expect(error <= 1e-5, "image \(i): W(x) differs from jacrev by \(error)")
            // F(x) is PyTorch's logits (logits.npy holds the first 100 test images; inputs.npy the first 8).
            let output = relativeError(linear.outputs.row(i).scalars.map(Double.init), logits.row(i).scalars.map(Double.init))
            #expect(output <= 1e-5, "image \(i): logits differ by \(output)")
        }
    }

    /// Float64 with leaky ReLU, hard-tanh (saturated units), identity, ReLU and a flatten:
    /// completeness to 1e-12, W(x) equal to the stack's own Jacobian (J·e_i through the
    /// layers' jvp, an independent path) to 1e-12, b(x) to `linearization(at:)`'s intercept.
    @Test func mixedStackIsExactInDouble() throws {
        let stack = mixedStack()
        var generator = SeededGenerator(seed: 11)
        let inputs = Tensor<Double>.randomNormal([16, 3, 4], using: &generator)
        let linear = try StackLinearisation(stack, inputs: inputs)
        #expect(linear.completenessError <= 1e-12, "\(linear.completenessError)")
        var saturated = 0
        for i in 0 ..< 16 {
            let x = inputs.row(i)
            let jacobian = stack.jacobian(at: x)
            #expect(relativeError(linear.weights.row(i).scalars, jacobian.scalars) <= 1e-12, "image \(i)")
            let (_, intercept) = stack.linearization(at: x)
            #expect(relativeError(linear.biases.row(i).scalars, intercept.scalars) <= 1e-12, "image \(i)")
            let workspace = stack.makeWorkspace(batchSize: 1)
            stack.forward(x.reshaped([1, 3, 4]), in: workspace)
            saturated += workspace.patterns[4].scalars.filter { $0 == 0 }.count
        }
        #expect(saturated > 20, "the hard-tanh layer saturates (\(saturated) units), so b(x) carries its ±1s")
        // Flattened rows give the same map.
        let flat = try StackLinearisation(stack, inputs: inputs.reshaped([16, 12]))
        #expect(flat.weights == linear.weights && flat.biases == linear.biases)
    }

    /// Every unit of every layer is ŵ·x + b̂ exactly, checked against a forward pass of its own;
    /// the last layer's projections are W(x) and b(x).
    @Test func switchedProjectionsReproduceEveryUnit() throws {
        let stack = mixedStack()
        var generator = SeededGenerator(seed: 12)
        let x = Tensor<Double>.randomNormal([3, 4], using: &generator)
        let projections = try SwitchedLinearProjections(stack, at: x)
        #expect(projections.biases.count == stack.layerCount && projections.reproductionError() <= 1e-12)
        let workspace = stack.makeWorkspace(batchSize: 1)
        stack.forward(x.reshaped([1, 3, 4]), in: workspace)
        for l in 0 ..< stack.layerCount {
            let h = workspace.activations[l + 1].scalars
            let weights = try projections.weights(layer: l)
            let reproduced = (matvec(weights, x.reshaped([12])) + projections.biases[l]).scalars
            #expect(relativeError(reproduced, h) <= 1e-12, "layer \(l)")
            // Backward rows of every unit give the forward mode's rows.
            let units = try projections.projections(layer: l, units: Array(0 ..< h.count))
            #expect(relativeError(units.weights.scalars, weights.scalars) <= 1e-12, "layer \(l)")
            #expect(relativeError(units.biases.scalars, projections.biases[l].scalars) <= 1e-12, "layer \(l)")
            #expect(units.reproductionError <= 1e-12, "layer \(l)")
        }
        let linear = try StackLinearisation(stack, inputs: x.reshaped([1, 12]))
        #expect(relativeError(try projections.weights(layer: stack.layerCount - 1).scalars, linear.weights.scalars) <= 1e-12)
        #expect(relativeError(projections.biases.last!.scalars, linear.biases.scalars) <= 1e-12)
        let (map, units) = projections.insens()
        #expect(map.count == 12 && units > 0)
    }

    /// The identity classifier as a stack gives the classic linearisation, Insens, readout,
    /// templates and contribution maps (float64, 1e-12).
    @Test func identityClassifierStackEqualsTheClassicInterpreter() throws {
        for activation in [Activation.hardTanh, .relu] {
            let classifier = perturbedClassifier(activation)
            let stack = classifier.stack
            let inputs = randomInputs(20, features: 12, classes: 3, seed: 5)
            let classic = try InstanceLinearisation(classifier, inputs: inputs)
            let linear = try StackLinearisation(stack, inputs: inputs)
            #expect(linear.units == 12 ..< 15)
            #expect(relativeError(linear.weights.scalars, classic.weights.scalars) <= 1e-12, "\(activation)")
            #expect(relativeError(linear.biases.scalars, classic.biases.scalars) <= 1e-12, "\(activation)")
            #expect(relativeError(linear.outputs.scalars, classic.logits.scalars) <= 1e-12, "\(activation)")
            #expect(linear.completenessError <= 1e-12)

            let x = inputs.row(3)
            let analysis = try classifier.analyse(Array(x.scalars[0 ..< 12]), index: 0, label: 1)
            let projections = try SwitchedLinearProjections(stack, at: x)
            let (insens, units) = projections.insens()
            #expect(units == analysis.insensUnits, "\(activation)")
            #expect(relativeError(insens, analysis.insens) <= 1e-12, "\(activation)")
        }
        let classifier = perturbedClassifier(.hardTanh)
        let data = LabeledImages(pixels: (0 ..< 30 * 12).map { UInt8(($0 * 37) % 256) }, labels: (0 ..< 30).map { $0 % 3 },
                                 imageShape: [3, 4], classes: 3)
        let classic = try LayerReadout(classifier, data: data)
        let readout = try LayerReadout(classifier.stack, data: data, sigma: classifier.sigma)
        #expect(readout.accuracies == classic.accuracies && readout.confusion == classic.confusion)
        #expect(relativeError(readout.trueClassLikelihoods, classic.trueClassLikelihoods) <= 1e-12)
        #expect(relativeError(readout.distanceFromIdentity, classic.distanceFromIdentity) <= 1e-12)
        #expect(try ClassTemplates(classifier.stack) == ClassTemplates(classifier))
        let sample = try classifier.stack.analyse(data, index: 4)
        let features = data.pixels[48 ..< 60].map { Double($0) / 255 }
        let reference = try classifier.analyse(features, index: 4, label: data.labels[4])
        // Every layer but the last, whose φ the classifier applies and the stack (output = the
        // last pre-activation) does not.
        for l in 0 ..< classifier.layers - 1 {
            #expect(relativeError(sample.cumulativeChanges![l], reference.cumulativeChanges[l]) <= 1e-12, "layer \(l)")
            #expect(relativeError(sample.layerChanges![l], reference.layerChanges[l]) <= 1e-12, "layer \(l)")
        }
        #expect(sample.prediction == reference.prediction)
    }

    /// What a stack cannot give, and inputs that do not fit it, are typed errors with one line.
    @Test func errorsNameTheLayerAndTheMissingPiece() throws {
        var generator = SeededGenerator(seed: 4)
        let smooth = LayerStack<Double> {
            Dense(inputs: 4, outputs: 5, using: &generator)
            ActivationLayer(.tanh)
            Dense(inputs: 5, outputs: 3, using: &generator)
        }
        let x = Tensor<Double>.zeros([2, 4])
        #expect(throws: InterpretationError.smoothLayer(layer: 1, kind: "tanh")) { try StackLinearisation(smooth, inputs: x) }
        #expect(InterpretationError.smoothLayer(layer: 1, kind: "tanh").description
            == "layer 1 (tanh) is smooth and has no exact linearisation; the interpreter needs ReLU, leaky ReLU, hard-tanh or identity activations")
        let custom = LayerStack<Double>(inputShape: [4], layers: [Dense(inputs: 4, outputs: 4, using: &generator), Doubling()])
        #expect(throws: InterpretationError.unsupportedLayer(layer: 1, kind: "doubling")) { try SwitchedLinearProjections(custom, at: Tensor.zeros([4])) }
        #expect(InterpretationError.unsupportedLayer(layer: 1, kind: "doubling").description
            == "layer 1 (doubling) cannot be linearised by the interpreter; it takes dense, convolution, max, average and global average pooling, flatten and ReLU, leaky ReLU, hard-tanh or identity activation layers")

        let plain = LayerStack<Double>.multilayerPerceptron(widths: [12, 8, 3], activation: .relu, using: &generator)
        let data = LabeledImages(pixels: [UInt8](repeating: 9, count: 5 * 12), labels: [0, 1, 2, 0, 1], imageShape: [3, 4], classes: 3)
        #expect(throws: InterpretationError.needsClassDimensions(analysis: "per-layer readout")) { try LayerReadout(plain, data: data) }
        #expect(throws: InterpretationError.needsClassDimensions(analysis: "class templates")) { try ClassTemplates(plain) }
        #expect(InterpretationError.needsClassDimensions(analysis: "per-layer readout").description
            == "per-layer readout needs class dimensions; this network has none")
        #expect(InterpretationError.needsClassDimensions(analysis: "class templates").description
            == "class templates need class dimensions; this network has none")
        #expect(throws: InterpretationError.inputShapeMismatch(found: [2, 11], expected: [12])) {
            try StackLinearisation(plain, inputs: Tensor<Double>.zeros([2, 11]))
        }
        #expect(InterpretationError.inputShapeMismatch(found: [2, 11], expected: [12]).description
            == "the inputs have shape [2, 11], but the network takes [count] + [12] or [count, 12]")
        var bad = Tensor<Double>.zeros([3, 12])
        bad[2, 5] = .nan
        #expect(throws: InterpretationError.nonFiniteInput(sample: 2)) { try StackLinearisation(plain, inputs: bad) }
        let four = LabeledImages(pixels: [UInt8](repeating: 9, count: 5 * 12), labels: [0, 1, 2, 3, 1], imageShape: [3, 4], classes: 4)
        #expect(throws: InterpretationError.outputsDoNotFitClasses(outputs: 3, classes: 4)) { try StackEvaluation(plain, data: four) }
        #expect(InterpretationError.outputsDoNotFitClasses(outputs: 3, classes: 4).description
            == "the network has 3 outputs but the data has 4 classes: its outputs cannot be their scores")
        // A dataset's declared class count is not the stack's business (IDX files declare none); the labels are.
        let wide = LabeledImages(pixels: data.pixels, labels: data.labels, imageShape: [3, 4], classes: 10)
        #expect(try StackEvaluation(plain, data: wide).confusion.count == 3)
        #expect(throws: InterpretationError.inputWidthMismatch(found: 12, expected: 5)) {
            try StackInterpretationReport(LayerStack<Double>.multilayerPerceptron(widths: [5, 3], activation: .relu, using: &generator),
                                          data: data, samples: [0])
        }
        var poisoned = plain
        poisoned.updateParameters { l, i, p in if l == 2 && i == 0 { p[1, 1] = .infinity } }
        #expect(throws: InterpretationError.nonFiniteParameter(name: "2.weight", count: 1)) { try StackLinearisation(poisoned, inputs: Tensor.zeros([1, 12])) }
        #expect(InterpretationError.nonFiniteParameter(name: "2.weight", count: 1).description == "'2.weight' holds 1 NaN or infinite values")
        #expect(throws: InterpretationError.sampleOutOfRange(index: 5, count: 5)) { try StackInterpretationReport(plain, data: data, samples: [5]) }
    }
}

@Suite struct StackReportTests {
    /// A network without class dimensions: the report holds what applies and names what not.
    @Test func reportWithoutClassDimensionsSaysWhatItLeavesOut() throws {
        var generator = SeededGenerator(seed: 8)
        let stack = LayerStack<Double>.multilayerPerceptron(widths: [12, 10, 3], activation: .leakyReLU(slope: 0.05), using: &generator)
        let data = LabeledImages(pixels: (0 ..< 40 * 12).map { _ in UInt8(generator.next() % 256) }, labels: (0 ..< 40).map { $0 % 3 },
                                 imageShape: [3, 4], classes: 3)
        let report = try StackInterpretationReport(stack, data: data, samples: [0, 7], linearise: 25, batchSize: 10)
        #expect(report.readout == nil && report.templates == nil)
        #expect(report.notShown["readout"] == "per-layer readout needs class dimensions; this network has none")
        #expect(Set(report.notShown.keys) == ["readout", "contribution maps", "class templates"])
        #expect(report.maps.map(\.name) == ["linearisation.npy", "insens.npy", "class_mean_weights.npy"])
        #expect(report.maps[0].shape == [2, 3, 3, 4] && report.maps[1].shape == [2, 3, 4])
        #expect(report.linearisation.count == 25 && report.linearisation.completenessError <= 1e-12)
        // Predictions agree with the forward pass.
        let outputs = stack(stack.batch(data, Array(0 ..< 40)[...]))
        #expect(report.evaluation.predictions == outputs.argmax(alongAxis: 1))
        let sample = report.linearisation.samples[1]
        #expect(abs(sample.attributions[2].reduce(0, +) + sample.biasShares[2] - sample.logits[2]) <= 1e-12 * max(1, abs(sample.logits[2])))
        let json = try JSONSerialization.jsonObject(with: Data(try report.json().utf8)) as! [String: Any]
        #expect(json["readout"] == nil && (json["notShown"] as! [String: String]).count == 3)
        #expect((json["samples"] as! [[String: Any]]).count == 2 && json["correct"] as? Int == report.evaluation.correct)
    }

    /// A stack with class dimensions (the identity classifier's) gets readout, maps and templates.
    @Test func reportWithClassDimensionsHasEverything() throws {
        let classifier = perturbedClassifier(.relu)
        let data = LabeledImages(pixels: (0 ..< 30 * 12).map { UInt8(($0 * 53) % 256) }, labels: (0 ..< 30).map { $0 % 3 },
                                 imageShape: [3, 4], classes: 3)
        let report = try StackInterpretationReport(classifier.stack, data: data, samples: [1, 2])
        #expect(report.notShown.isEmpty && report.readoutLayers == classifier.layers)
        #expect(report.maps.map(\.name) == ["linearisation.npy", "insens.npy", "layer_changes.npy", "cumulative_changes.npy", "class_mean_weights.npy", "templates.npy"])
        #expect(report.evaluation.accuracy == (try LayerReadout(classifier, data: data)).accuracies.last!)
    }
}

@Suite struct StackSampleShapeTests {
    /// Images with the stack's pixel count in a shape its first layer does not read (a 1-D
    /// convolution over 12 positions given 3 × 4 images) are refused by the stack's own shape
    /// check, by the interpreter and by the noisy-background table (whose masks follow the
    /// stack's input shape), not read as if they were sequences.
    @Test func imagesOfAnotherShapeWithTheSamePixelCountAreRefused() throws {
        var generator = SeededGenerator(seed: 3)
        let sequence = try LayerStack<Double>(architecture: "conv2k3p1,relu,flatten,dense3", inputShape: [1, 12], using: &generator)
        let images = LabeledImages(pixels: [UInt8](repeating: 9, count: 2 * 12), labels: [0, 1], imageShape: [3, 4], classes: 3)
        let expected = InterpretationError.sampleShape(.sampleShape(source: "the images", sampleShape: [3, 4], inputShape: [1, 12],
                                                                    firstLayer: sequence.layers[0].layerDescription.description))
        #expect(throws: expected) { try sequence.check(data: images) }
        #expect(throws: expected) { try NoisyBackgroundTable.check(sequence, data: images) }
        #expect(expected.description.contains("samples of shape [3, 4] (12 values), but layer 0"))
        // The same pixels as 12-value rows are what the stack reads.
        let rows = LabeledImages(pixels: images.pixels, labels: images.labels, imageShape: [12], classes: 3)
        try sequence.check(data: rows)
    }
}
