import Datasets
import Foundation
import Networks
import Testing
@_spi(RawBLAS) import TensorAlgebra
@testable import Training
import IsometrySupport
import FileFormats

/// Random labelled "images" with D features, C classes; the class shifts the mean of a few
/// features so a classifier can learn it.
func syntheticImages(count: Int, features: Int, classes: Int, seed: UInt64) -> LabeledImages {
    var generator = SeededGenerator(seed: seed)
    var pixels: [UInt8] = []
    var labels: [Int] = []
    for _ in 0 ..< count {
        let label = Int(generator.next() % UInt64(classes))
        labels.append(label)
        for j in 0 ..< features {
            let base = generator.nextUniform() * 120
            pixels.append(UInt8(min(255, base + (j % classes == label ? 130 : 0))))
        }
    }
    return LabeledImages(pixels: pixels, labels: labels, imageShape: [features], classes: classes)
}

/// A small classifier with random weights and biases, so every code path is exercised.
func randomClassifier(_ activation: Activation, features: Int = 6, classes: Int = 3, layers: Int = 3, seed: UInt64 = 1) -> IdentityClassifier<Double> {
    var generator = SeededGenerator(seed: seed)
    let n = features + classes
    let weights = (0 ..< layers).map { _ in Tensor<Double>.identity(n) + Tensor<Double>.randomNormal([n, n], standardDeviation: 0.3, using: &generator) }
    let biases = (0 ..< layers).map { _ in Optional(Tensor<Double>.randomNormal([n], standardDeviation: 0.1, using: &generator)) }
    return IdentityClassifier(network: MultilayerPerceptron(weights: weights, biases: biases, activation: activation),
                              inputFeatures: features, classes: classes, sigma: 1)
}

func batchLoss(_ classifier: IdentityClassifier<Double>, _ data: LabeledImages, _ rows: [Int]) -> Double {
    let workspace = BatchWorkspace<Double>(batchSize: rows.count, width: classifier.width, layers: classifier.layers,
                                           classStart: classifier.inputFeatures)
    data.gather(rows[...], into: workspace.input, width: classifier.width)
    for (r, i) in rows.enumerated() { workspace.labels[r] = data.labels[i] }
    workspace.forward(classifier.network)
    return workspace.loss(gradient: false).loss
}

@Suite struct BackpropagationTests {
    @Test func gradientsMatchCentralFiniteDifferences() {
        // Double precision, step 1e-6: truncation ~1e-12, rounding ~1e-16/1e-6 = 1e-10.
        // 1e-6 relative to the largest gradient entry leaves a wide margin. Inputs are kept
        // away from hard-tanh and ReLU kinks by the random weights (checked: no |h| within 1e-4 of a kink).
        let data = syntheticImages(count: 5, features: 6, classes: 3, seed: 3)
        let rows = Array(0 ..< 5)
        for activation in [Activation.tanh, .hardTanh, .relu] {
            let classifier = randomClassifier(activation)
            let workspace = BatchWorkspace<Double>(batchSize: 5, width: 9, layers: 3, classStart: 6)
            data.gather(rows[...], into: workspace.input, width: 9)
            for r in rows { workspace.labels[r] = data.labels[r] }
            workspace.forward(classifier.network)
            _ = workspace.loss(gradient: true)
            workspace.backward(classifier.network)
            var worst = 0.0, scale = 0.0
            for l in 0 ..< 3 {
                let analytic = workspace.weightGradient(l + 1)
                let analyticBias = workspace.biasGradient(l + 1)
                for i in 0 ..< 9 {
                    for j in 0 ..< 9 {
                        var plus = classifier, minus = classifier
                        plus.network.weights[l][i, j] += 1e-6
                        minus.network.weights[l][i, j] -= 1e-6
                        let numeric = (batchLoss(plus, data, rows) - batchLoss(minus, data, rows)) / 2e-6
                        worst = max(worst, abs(numeric - analytic[i, j]))
                        scale = max(scale, abs(numeric))
                    }
                    var plus = classifier, minus = classifier
                    plus.network.biases[l]![i] += 1e-6
                    minus.network.biases[l]![i] -= 1e-6
                    let numeric = (batchLoss(plus, data, rows) - batchLoss(minus, data, rows)) / 2e-6
                    worst = max(worst, abs(numeric - analyticBias[i]))
                }
            }
            #expect(scale > 1e-3, "\(activation): gradients should not vanish here")
            #expect(worst <= 1e-6 * scale, "\(activation): worst difference \(worst), largest gradient \(scale)")
        }
    }

    @Test func fusedSGDEqualsGradientThenUpdate() {
        let data = syntheticImages(count: 8, features: 6, classes: 3, seed: 4)
        let rows = Array(0 ..< 8)
        for decay in [0.0, 0.01] {
            let start = randomClassifier(.hardTanh, seed: 9)
            let workspace = BatchWorkspace<Double>(batchSize: 8, width: 9, layers: 3, classStart: 6)
            data.gather(rows[...], into: workspace.input, width: 9)
            for r in rows { workspace.labels[r] = data.labels[r] }
            workspace.forward(start.network)
            _ = workspace.loss(gradient: true)
            workspace.backward(start.network)
            // Reference: w ← w − η(g + λw), from the gradients.
            var expected = start.network
            for l in 0 ..< 3 {
                expected.weights[l] = expected.weights[l] - 0.1 * (workspace.weightGradient(l + 1) + decay * expected.weights[l])
                expected.biases[l] = expected.biases[l]! - 0.1 * (workspace.biasGradient(l + 1) + decay * expected.biases[l]!)
            }
            // Fused: the same step through the weight-gradient GEMMs.
            var fused = start.network
            workspace.forward(fused)
            _ = workspace.loss(gradient: true)
            workspace.backwardWithSGD(&fused, learningRate: 0.1, weightDecay: decay)
            for l in 0 ..< 3 {
                let difference = zip(fused.weights[l].scalars, expected.weights[l].scalars).map { abs($0 - $1) }.max()!
                #expect(difference <= 1e-14, "layer \(l + 1), decay \(decay): \(difference)")
                let biasDifference = zip(fused.biases[l]!.scalars, expected.biases[l]!.scalars).map { abs($0 - $1) }.max()!
                #expect(biasDifference <= 1e-14)
            }
            // The starting network was not touched (copy-on-write through the fused update).
            #expect(start.network.weights[0] == randomClassifier(.hardTanh, seed: 9).network.weights[0])
        }
    }

    @Test func forwardMatchesTheNetworkAndTheBatchedForward() {
        let data = syntheticImages(count: 40, features: 6, classes: 3, seed: 5)
        let classifier = randomClassifier(.tanh)
        let rows = Array(0 ..< 40)
        do {
            let workspace = BatchWorkspace<Double>(batchSize: 40, width: 9, layers: 3, classStart: 6)
            data.gather(rows[...], into: workspace.input, width: 9)
            workspace.forward(classifier.network)
            let logits = workspace.preActivation(3)
            // The classifier's batched logits: the same numbers (same GEMMs, up to rounding).
            let batched = classifier.logits(workspace.activation(0))
            for r in 0 ..< 40 { for c in 0 ..< 3 { #expect(abs(batched[r, c] - logits[r, 6 + c]) <= 1e-13) } }
            // Row 7 against the plain network's pre-activations.
            let x = workspace.activation(0).row(7)
            let reference = classifier.network.preActivations(x)
            for l in 0 ..< 2 {
                let h = workspace.preActivation(l + 1).row(7)
                #expect(zip(h.scalars, reference[l].scalars).allSatisfy { abs($0 - $1) <= 1e-13 })
            }
            for c in 6 ..< 9 { #expect(abs(logits[7, c] - reference[2][c]) <= 1e-13) }
        }
    }
}

@Suite struct OptimizerTests {
    @Test func sgdWithMomentumAndAdamByHand() {
        // One parameter, gradient 2, learning rate 0.1.
        var w = Tensor<Double>([1])
        let g = Tensor<Double>([2])
        let sgd = OptimizerState<Double>(.sgd(momentum: 0.9, weightDecay: 0.5))
        sgd.prepare(shapes: [[1]])
        sgd.update(&w, gradient: g, index: 0, learningRate: 0.1)
        // v = 0·0.9 + 2 + 0.5·1 = 2.5, w = 1 − 0.25 = 0.75
        #expect(abs(w[0] - 0.75) < 1e-15)
        sgd.update(&w, gradient: g, index: 0, learningRate: 0.1)
        // v = 0.9·2.5 + 2 + 0.5·0.75 = 4.625, w = 0.75 − 0.4625 = 0.2875
        #expect(abs(w[0] - 0.2875) < 1e-15)

        var u = Tensor<Double>([1])
        let adam = OptimizerState<Double>(.adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0))
        adam.prepare(shapes: [[1]])
        adam.update(&u, gradient: g, index: 0, learningRate: 0.1)
        // First step: m̂ = g, v̂ = g², so the step is η·g/(|g| + ε) ≈ 0.1.
        #expect(abs(u[0] - (1 - 0.1 * 2 / (2 + 1e-8))) < 1e-15)
    }

    @Test func cosineScheduleEndsAtZero() {
        #expect(LearningRateSchedule.cosine.rate(base: 0.1, step: 0, totalSteps: 100) == 0.1)
        #expect(abs(LearningRateSchedule.cosine.rate(base: 0.1, step: 50, totalSteps: 100) - 0.05) < 1e-15)
        #expect(abs(LearningRateSchedule.cosine.rate(base: 0.1, step: 100, totalSteps: 100)) < 1e-15)
        #expect(LearningRateSchedule.constant.rate(base: 0.1, step: 70, totalSteps: 100) == 0.1)
    }
}

@Suite struct TrainerTests {
    func configuration(epochs: Int, optimizer: OptimizerConfiguration) -> TrainingConfiguration {
        TrainingConfiguration(batchSize: 16, epochs: epochs, learningRate: 0.05, optimizer: optimizer, threads: 1)
    }

    @Test func learnsASeparableProblem() throws {
        let train = syntheticImages(count: 480, features: 12, classes: 4, seed: 1)
        let test = syntheticImages(count: 200, features: 12, classes: 4, seed: 2)
        for optimizer in [OptimizerConfiguration.sgd(momentum: 0, weightDecay: 0), .sgd(momentum: 0.9, weightDecay: 1e-4),
                          .adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0)] {
            var generator = SeededGenerator(seed: 0)
            let classifier = IdentityClassifier<Float>(inputFeatures: 12, classes: 4, layers: 3, using: &generator)
            var c = configuration(epochs: 4, optimizer: optimizer)
            if case .adam = optimizer { c.learningRate = 0.003 }
            let trainer = Trainer(classifier: classifier, configuration: c)
            var epochs: [EpochRecord] = []
            trainer.onEpoch = { record, _ in epochs.append(record) }
            try trainer.train(train, test: test)
            #expect(epochs.count == 4)
            #expect(epochs.last!.testAccuracy > 0.9, "\(optimizer): \(epochs.map(\.testAccuracy))")
            #expect(epochs.last!.trainLoss < epochs.first!.trainLoss)
            // The weights moved away from the identity.
            #expect(trainer.classifier.distanceFromIdentity().allSatisfy { $0 > 0 })
        }
    }

    @Test func distanceFromIdentityIsTheRelativeFrobeniusNorm() {
        // W¹ = σI + E with E = 0.5 at k = 7 places (on and off the diagonal): ‖E‖_F = 0.5·√7, so
        // the distance is 0.5·√7 / (σ·√N); W² = σI is at distance 0, W³ = 0 at distance 1.
        let (n, sigma) = (15, 2.0)
        var moved = Tensor<Double>.identity(n, scale: sigma)
        let places = [(0, 0), (1, 4), (4, 1), (7, 7), (14, 0), (3, 12), (9, 9)]
        moved.withUnsafeMutableBufferPointer { w in for (i, j) in places { w[i * n + j] += 0.5 } }
        let network = MultilayerPerceptron(weights: [moved, .identity(n, scale: sigma), .zeros([n, n])], activation: .hardTanh)
        let classifier = IdentityClassifier(network: network, inputFeatures: 12, classes: 3, sigma: sigma)
        let expected = [0.5 * 7.0.squareRoot() / (sigma * Double(n).squareRoot()), 0, 1]
        for (got, want) in zip(classifier.distanceFromIdentity(), expected) { #expect(abs(got - want) <= 1e-15) }
        // The same in float32: σ = 2 and 0.5 are exact, so only the sums round.
        let floatNetwork = MultilayerPerceptron(weights: network.weights.map { $0.converted(to: Float.self) }, activation: .hardTanh)
        let single = IdentityClassifier(network: floatNetwork, inputFeatures: 12, classes: 3, sigma: sigma)
        for (got, want) in zip(single.distanceFromIdentity(), expected) { #expect(abs(got - want) <= 1e-12) }
    }

    @Test func resumingGivesTheSameWeightsAsAnUninterruptedRun() throws {
        let train = syntheticImages(count: 200, features: 8, classes: 3, seed: 7)
        let test = syntheticImages(count: 50, features: 8, classes: 3, seed: 8)
        for optimizer in [OptimizerConfiguration.sgd(momentum: 0.9, weightDecay: 0), .adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0)] {
            var generator = SeededGenerator(seed: 3)
            let start = IdentityClassifier<Double>(inputFeatures: 8, classes: 3, layers: 3, bias: true, using: &generator)
            let straight = Trainer(classifier: start, configuration: configuration(epochs: 2, optimizer: optimizer))
            try straight.train(train, test: test)

            // Stop after 1 epoch and 3 steps, save, reload, continue.
            let first = Trainer(classifier: start, configuration: configuration(epochs: 2, optimizer: optimizer))
            var steps = 0
            let finished = try first.train(train, test: test, shouldStop: {
                steps += 1
                return steps > 12 + 3  // 12 steps per epoch (200 / 16)
            })
            #expect(!finished && first.epoch == 1 && first.stepInEpoch == 3)
            let bytes = try first.checkpointFile().encoded()
            let resumed = try Trainer<Double>(resumingFrom: SafetensorsFile(data: bytes), path: "memory")
            #expect(resumed.epoch == 1 && resumed.stepInEpoch == 3 && resumed.history.count == 1)
            try resumed.train(train, test: test)
            for l in 0 ..< 3 {
                #expect(resumed.classifier.network.weights[l] == straight.classifier.network.weights[l], "\(optimizer), layer \(l + 1)")
                #expect(resumed.classifier.network.biases[l] == straight.classifier.network.biases[l])
            }
        }
    }

    @Test func nonFiniteLossStopsWithAClearError() {
        let train = syntheticImages(count: 64, features: 6, classes: 3, seed: 1)
        var generator = SeededGenerator(seed: 0)
        let classifier = IdentityClassifier<Float>(inputFeatures: 6, classes: 3, layers: 3, activation: .relu,
                                                   initialization: .gaussian, sigma: 40, using: &generator)
        var c = configuration(epochs: 3, optimizer: .sgd(momentum: 0, weightDecay: 0))
        c.learningRate = 1e30
        let trainer = Trainer(classifier: classifier, configuration: c)
        do {
            try trainer.train(train, test: train)
            Issue.record("expected a non-finite loss")
        } catch let error as TrainingError {
            guard case .diverged(let divergence) = error else { Issue.record("\(error)"); return }
            #expect(divergence.quantity == "the loss" && divergence.lastGood == .unknown)
            #expect(divergence.globalStep == divergence.step + 4 * (divergence.epoch - 1) && !divergence.beforeAnyUpdate)
            #expect(error.description.hasPrefix("the loss became") && error.description.hasSuffix("lower the learning rate"))
        } catch { Issue.record("\(error)") }
    }

    @Test func batchLargerThanTheDataIsRefused() {
        let train = syntheticImages(count: 10, features: 6, classes: 3, seed: 1)
        var generator = SeededGenerator(seed: 0)
        let classifier = IdentityClassifier<Float>(inputFeatures: 6, classes: 3, layers: 2, using: &generator)
        #expect(throws: TrainingError.self) { try Trainer(classifier: classifier, configuration: configuration(epochs: 1, optimizer: .sgd(momentum: 0, weightDecay: 0))).train(train, test: train) }
    }
}

@Suite struct CheckpointTests {
    @Test func readsAFileWrittenByPythonSafetensors() throws {
        let url = Bundle.module.url(forResource: "python", withExtension: "safetensors", subdirectory: "Fixtures")!
        let classifier = try IdentityClassifier<Double>(contentsOf: url)
        #expect(classifier.layers == 2 && classifier.inputFeatures == 2 && classifier.classes == 2 && classifier.sigma == 1.5)
        #expect(classifier.activation == .relu)
        #expect(classifier.network.weights[0][1, 2] == 6.0 / 8)  // np.arange(16).reshape(4, 4) / 8
        #expect(classifier.network.weights[1] == Tensor<Double>.identity(4, scale: 1.5))
        #expect(classifier.network.biases[0] == Tensor([0.5, -0.5, 0.25, 0]))
        // Written back and read again, identical.
        let again: IdentityClassifier<Double> = try Checkpoint.classifier(
            from: SafetensorsFile(data: Checkpoint.file(classifier).encoded()), path: "memory")
        #expect(again.network.weights == classifier.network.weights && again.network.biases == classifier.network.biases)
    }

    @Test func wrongShapesListExpectedAndFound() throws {
        var file = SafetensorsFile()
        file.set("layers.0.weight", Tensor<Float>.identity(5))
        file.set("layers.1.weight", Tensor<Float>.zeros([5, 4]))
        #expect(throws: ModelFileError.layersDoNotChain(path: "bad.safetensors", layer: 2, shape: [5, 4], previousOutputs: 5)) {
            let _: IdentityClassifier<Float> = try Checkpoint.classifier(from: file, path: "bad.safetensors")
        }
        file.set("layers.1.weight", Tensor<Float>.zeros([4, 5]))
        #expect(throws: ModelFileError.wrongShape(path: "bad.safetensors", tensor: "layers.1.weight", shape: [4, 5],
                                                  expected: "[5, 5] (a classifier's layers are square)")) {
            let _: IdentityClassifier<Float> = try Checkpoint.classifier(from: file, path: "bad.safetensors")
        }
        file.set("layers.1.weight", Tensor<Float>.identity(5))
        #expect(throws: ModelFileError.architectureMismatch(path: "x", found: "2 layers of width 5", expected: "3 layers of width 794")) {
            let _: IdentityClassifier<Float> = try Checkpoint.classifier(from: file, path: "x", expecting: (3, 794))
        }
        #expect(throws: ModelFileError.noLayers(path: "empty", found: [])) {
            let _: IdentityClassifier<Float> = try Checkpoint.classifier(from: SafetensorsFile(), path: "empty")
        }
        file.set("layers.0.bias", Tensor<Float>.zeros([5]))
        #expect(throws: ModelFileError.inconsistentBiases(path: "b", layersWithBias: [1])) {
            let _: IdentityClassifier<Float> = try Checkpoint.classifier(from: file, path: "b")
        }
    }

    @Test func metadataValuesAreCheckedAtLoadTime() throws {
        var file = Checkpoint.file(IdentityClassifier<Float>(
            network: .identity(width: 5, layers: 2, sigma: 1, activation: .hardTanh), inputFeatures: 3, classes: 2, sigma: 1))
        for (key, value, expected) in [("sigma", "nan", "a finite number > 0"), ("sigma", "0", "a finite number > 0"),
                                       ("sigma", "inf", "a finite number > 0"), ("classes", "-1", "a whole number ≥ 1"),
                                       ("input_features", "4", "3 (the layers are 5 wide and there are 2 classes)")] {
            var bad = file
            bad.metadata[key] = value
            #expect(throws: ModelFileError.invalidMetadata(path: "m", key: key, value: value, expected: expected)) {
                let _: IdentityClassifier<Float> = try Checkpoint.classifier(from: bad, path: "m")
            }
        }
        file.metadata["activation"] = "swish"
        #expect(throws: ModelFileError.unknownActivation(path: "m", name: "swish")) {
            let _: IdentityClassifier<Float> = try Checkpoint.classifier(from: file, path: "m")
        }
    }

    /// Fuzzer finding: a default feature or class count below 1 (metadata `classes` ≥ the
    /// width without `input_features`, or a 1×1 weight without metadata) reached the
    /// classifier's fatalError; now a typed error at load, for interpret, spectrum and train.
    @Test func classifiersWithNoRoomForFeaturesAndClassesAreRefusedAtLoad() throws {
        var narrow = SafetensorsFile()
        for l in 0 ..< 2 { narrow.set("layers.\(l).weight", Tensor<Float>.identity(10)) }
        for classes in ["10", "12"] {
            var file = narrow
            file.metadata["classes"] = classes
            let expected = ModelFileError.invalidMetadata(
                path: "m", key: "classes", value: classes, expected: "a whole number below the layers' width 10 (they hold the input features and the classes)")
            #expect(throws: expected) { let _: IdentityClassifier<Float> = try Checkpoint.classifier(from: file, path: "m") }
            #expect(expected.description == "m: metadata classes = '\(classes)', expected a whole number below the layers' width 10 (they hold the input features and the classes)")
        }
        var single = SafetensorsFile()
        single.set("layers.0.weight", Tensor<Float>.identity(1))
        let expected = ModelFileError.wrongShape(path: "one", tensor: "layers.0.weight", shape: [1, 1],
                                                 expected: "[N, N] with N ≥ 2 (a classifier's layers hold at least one input feature and one class)")
        #expect(throws: expected) { let _: IdentityClassifier<Double> = try Checkpoint.classifier(from: single, path: "one") }
        // The fuzzer's corpus entries, read from bytes as the commands read them.
        let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Fuzz/safetensors/corpus")
        for name in ["classifier-classes-equal-width.safetensors", "classifier-1x1-no-metadata.safetensors"] {
            let url = corpus.appendingPathComponent(name).standardizedFileURL
            #expect(throws: ModelFileError.self, "\(name)") { let _: IdentityClassifier<Float> = try IdentityClassifier(contentsOf: url) }
        }
        // Two wide is the narrowest classifier: one feature, one class.
        var two = SafetensorsFile()
        two.set("layers.0.weight", Tensor<Float>.identity(2))
        let smallest: IdentityClassifier<Float> = try Checkpoint.classifier(from: two, path: "two")
        #expect(smallest.inputFeatures == 1 && smallest.classes == 1)
    }

    /// Issue: W1.npy and W3.npy without W2.npy loaded as one layer, and W0.npy was ignored.
    /// The folder rule (docs/spectrum.md) is checked as a whole, naming the file that breaks it.
    @Test func numpyFoldersFollowTheLayerNamingRule() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("npy-rule-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        func folder(_ names: [String]) throws -> URL {
            let url = root.appendingPathComponent(UUID().uuidString)
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            for name in names {
                let tensor: Tensor<Double> = name.hasPrefix("W") ? .identity(3) : .zeros([3])
                try tensor.writeNumpyFile(to: url.appendingPathComponent(name))
            }
            return url
        }
        for (names, problem) in [
            (["W1.npy", "W3.npy"], "W3.npy found but W2.npy missing"),
            (["W1.npy", "W2.npy", "W4.npy", "W5.npy"], "W4.npy found but W3.npy missing"),
            (["W2.npy"], "W2.npy found but W1.npy missing"),
            (["W0.npy", "W1.npy"], "W0.npy: layers are numbered from 1"),
            (["b0.npy", "W1.npy"], "b0.npy: layers are numbered from 1"),
            (["W1.npy", "W02.npy"], "W02.npy: a layer number is written without leading zeros, from 1 to the layer count"),
            (["W1.npy", "b1.npy", "b2.npy"], "b2.npy found but W2.npy missing"),
        ] {
            let url = try folder(names)
            let expected = ModelFileError.layerFiles(path: url.path, problem: problem)
            #expect(throws: expected, "\(names)") { _ = try MultilayerPerceptron<Double>(numpyFolder: url, activation: .relu) }
            #expect(expected.description == "\(url.path): \(problem)")
        }
        // Consecutive weights, biases for some layers, and other files beside them: loaded.
        let valid = try folder(["W1.npy", "W2.npy", "W3.npy", "b2.npy"])
        for other in ["notes.txt", "W1.npy.bak", "Wx.npy", "W.npy", "w4.npy", "B4.npy"] {
            try Data("x".utf8).write(to: valid.appendingPathComponent(other))
        }
        let network = try MultilayerPerceptron<Double>(numpyFolder: valid, activation: .relu)
        #expect(network.layerCount == 3 && network.biases.map { $0 != nil } == [false, true, false])
    }

    /// Metadata values and paths are quoted through `quotedValue`: no escape sequence, newline
    /// or megabyte of metadata reaches the one-line error.
    @Test func modelFileErrorsQuoteHostileValues() throws {
        var file = Checkpoint.file(IdentityClassifier<Float>(
            network: .identity(width: 5, layers: 2, sigma: 1, activation: .hardTanh), inputFeatures: 3, classes: 2, sigma: 1))
        file.metadata["activation"] = "\u{1B}[2J\u{1B}[31mrelu"
        #expect(throws: ModelFileError.self) { let _: IdentityClassifier<Float> = try Checkpoint.classifier(from: file, path: "m") }
        let error = ModelFileError.unknownActivation(path: "dir\nname/m.safetensors", name: "\u{1B}[2J\u{1B}[31mrelu")
        #expect(error.description.hasPrefix("dir\\nname/m.safetensors: unknown activation '\\e[2J\\e[31mrelu' in metadata"))
        let long = ModelFileError.invalidMetadata(path: "m", key: "sigma", value: String(repeating: "9", count: 20_000_000), expected: "a finite number > 0")
        #expect(long.description == "m: metadata sigma = '\(String(repeating: "9", count: 200))… (20000000 bytes)', expected a finite number > 0")
    }

    @Test func truncatedAndHostileFilesAreRefused() throws {
        var file = SafetensorsFile()
        file.set("layers.0.weight", Tensor<Double>.identity(3))
        let bytes = try file.encoded()
        for length in [0, 4, 8, 20, bytes.count - 1] {
            #expect(throws: SafetensorsError.self) { try SafetensorsFile(data: Array(bytes[..<length])) }
        }
        var hostile = bytes
        hostile[0] = 0xFF; hostile[7] = 0x7F  // an absurd header length
        #expect(throws: SafetensorsError.self) { try SafetensorsFile(data: hostile) }
    }
}

@Suite struct IDXTests {
    @Test func gzippedRoundTripAndErrors() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("isometry-idx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let images = try IDXFile(shape: [3, 2, 2], bytes: Array(0 ..< 12))
        let url = folder.appendingPathComponent("images.gz")
        try images.writeGzipped(to: url)
        let back = try IDXFile(contentsOf: url)
        #expect(back.shape == [3, 2, 2] && back.bytes == Array(0 ..< 12))

        func problem(_ bytes: [UInt8]) -> String? {
            do { _ = try IDXFile(data: bytes, path: "f"); return nil } catch let error as IDXError { return error.problem } catch { return nil }
        }
        #expect(problem([0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3]) == nil)
        #expect(problem([1, 0, 8, 1])?.contains("bad magic") == true)
        #expect(problem([0, 0, 9, 1])?.contains("not unsigned byte") == true)
        #expect(problem([0, 0, 8, 1, 0, 0, 0, 5, 1, 2])?.contains("truncated") == true)
        #expect(problem([0, 0, 8, 1, 0, 0, 0, 1, 1, 2])?.contains("unexpected bytes") == true)
        #expect(problem([0, 0, 8, 2, 0, 0])?.contains("truncated") == true)

        // A gzip stream cut short is an error, not a silently short file.
        let gz = try Data(contentsOf: url)
        let cut = folder.appendingPathComponent("cut.gz")
        try gz.prefix(gz.count - 6).write(to: cut)
        #expect(throws: IDXError.self) { try IDXFile(contentsOf: cut) }
        #expect(throws: IDXError.self) { try IDXFile(contentsOf: folder.appendingPathComponent("missing.gz")) }
    }

    @Test func missingDatasetFolderNamesTheDebianPackage() {
        do {
            _ = try ImageDataset(folder: "/nonexistent/fashion")
            Issue.record("expected an error")
        } catch let error as IDXError {
            #expect(error.description.contains("/nonexistent/fashion") && error.description.contains("dataset-fashion-mnist"))
        } catch { Issue.record("\(error)") }
    }

    @Test func shufflingIsDeterministicAndAPermutation() {
        var a = SeededGenerator(seed: 4), b = SeededGenerator(seed: 4)
        let first = shuffledIndices(1000, using: &a)
        #expect(first == shuffledIndices(1000, using: &b))
        #expect(first.sorted() == Array(0 ..< 1000) && first != Array(0 ..< 1000))
    }
}

@Suite struct LibraryStepTests {
    @Test func theTrainerObeysTrainLimit() throws {
        let train = syntheticImages(count: 200, features: 6, classes: 3, seed: 11)
        let test = syntheticImages(count: 30, features: 6, classes: 3, seed: 12)
        var generator = SeededGenerator(seed: 0)
        let classifier = IdentityClassifier<Float>(inputFeatures: 6, classes: 3, layers: 2, using: &generator)
        let trainer = Trainer(classifier: classifier, configuration: TrainingConfiguration(batchSize: 16, epochs: 1, trainLimit: 50, threads: 1))
        var steps = 0
        trainer.onStep = { _ in steps += 1 }
        try trainer.train(train, test: test)
        // 50 images in full batches of 16: 3 steps, not the 12 of all 200.
        #expect(steps == 3 && trainer.stepsPerEpoch(train) == 3 && trainer.globalStep == 3)
    }

    @Test func aCheckpointRecordsTheArchitectureItHas() throws {
        var generator = SeededGenerator(seed: 2)
        let model = ClassifierConfiguration(layers: 2, activation: .relu, initialization: .orthogonal, sigma: 1.3, bias: true)
        let classifier = IdentityClassifier<Double>(inputFeatures: 5, classes: 3, configuration: model, using: &generator)
        #expect(classifier.configuration == model)
        let again: IdentityClassifier<Double> = try Checkpoint.classifier(
            from: SafetensorsFile(data: Checkpoint.file(classifier).encoded()), path: "memory")
        #expect(again.configuration == model)
        #expect(again.network.weights == classifier.network.weights)
    }

    @Test func batchedForwardEqualsRowByRow() {
        var generator = SeededGenerator(seed: 5)
        let network = MultilayerPerceptron<Double>.gaussian(width: 4, layers: 3, sigmaW: 1.5, sigmaB: 0.1, activation: .tanh, using: &generator)
        let batch = Tensor<Double>.randomNormal([3, 4], using: &generator)
        let outputs = network(batch)
        #expect(outputs.shape == [3, 4])
        for r in 0 ..< 3 {
            let single = network(batch.row(r))
            for j in 0 ..< 4 { #expect(abs(outputs[r, j] - single[j]) <= 1e-14 * max(1, abs(single[j]))) }
        }
        // The classifier's logits: the class dimensions of the last pre-activation, from D features.
        let classifier = IdentityClassifier(network: network, inputFeatures: 2, classes: 2, sigma: 1.5)
        let logits = classifier.logits(batch.map { $0 }.rows(0 ..< 3))
        let padded = classifier.padded(Tensor(shape: [1, 2], scalars: [batch[0, 0], batch[0, 1]]))
        #expect(padded.scalars == [batch[0, 0], batch[0, 1], 0, 0])
        let h = network.preActivations(batch.row(0)).last!
        #expect(abs(logits[0, 0] - h[2]) <= 1e-14 && abs(logits[0, 1] - h[3]) <= 1e-14)
    }

    @Test func evaluationRefusesDataThatDoesNotFit() {
        var generator = SeededGenerator(seed: 0)
        let classifier = IdentityClassifier<Float>(inputFeatures: 6, classes: 3, layers: 2, using: &generator)
        #expect(throws: EvaluationError.featureMismatch(dataFeatures: 5, networkFeatures: 6)) {
            try classifier.evaluate(syntheticImages(count: 10, features: 5, classes: 3, seed: 1))
        }
        #expect(throws: EvaluationError.empty) {
            try classifier.evaluate(LabeledImages(pixels: [], labels: [], imageShape: [6], classes: 3))
        }
        #expect(throws: EvaluationError.labelOutOfRange(label: 3, classes: 3)) {
            try classifier.evaluate(syntheticImages(count: 10, features: 6, classes: 4, seed: 1))
        }
    }

    @Test func aSessionWritesItsFilesAndResumesWhereItStopped() throws {
        let data = ImageDataset(train: syntheticImages(count: 96, features: 6, classes: 3, seed: 21),
                                test: syntheticImages(count: 30, features: 6, classes: 3, seed: 22))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("session-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let training = TrainingConfiguration(batchSize: 16, epochs: 2, learningRate: 0.05, threads: 1)
        let session = try TrainingSession<Double>(model: ClassifierConfiguration(layers: 3), training: training, data: data, folder: folder)
        var seen = 0
        let evaluation = try session.run(shouldStop: { seen += 1; return seen > 8 })
        #expect(evaluation == nil)  // stopped after 8 of the 12 steps
        for name in ["checkpoint.safetensors", "metrics.json", "metrics.csv"] {
            #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent(name).path), "\(name)")
        }
        let resumed = try TrainingSession<Double>(resuming: session.checkpointURL!, layers: 3, data: data, folder: folder)
        #expect(resumed.trainer.epoch == 1 && resumed.trainer.stepInEpoch == 2)
        let final = try #require(try resumed.run())
        let straight = try TrainingSession<Double>(model: ClassifierConfiguration(layers: 3), training: training, data: data)
        let reference = try #require(try straight.run())
        #expect(resumed.trainer.classifier.network.weights == straight.trainer.classifier.network.weights)
        #expect(final.accuracy == reference.accuracy)
        // The science floor draws nothing: figures are the report floor's (ReportsTests).
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("layers.svg").path))
        // A checkpoint of another depth is refused, naming both.
        #expect(throws: TrainingError.checkpoint(.architectureMismatch(path: session.checkpointURL!.path, found: "3 layers of width 9",
                                                                        expected: "4 layers of width 9"))) {
            try TrainingSession<Double>(resuming: session.checkpointURL!, layers: 4, data: data)
        }
    }
}

@Suite struct HostileCheckpointTests {
    /// A training checkpoint of a 2-layer classifier after 1 epoch, as bytes to tamper with.
    func trainingCheckpoint() throws -> SafetensorsFile {
        let data = syntheticImages(count: 32, features: 6, classes: 3, seed: 1)
        var generator = SeededGenerator(seed: 0)
        let classifier = IdentityClassifier<Float>(inputFeatures: 6, classes: 3, layers: 2, using: &generator)
        let trainer = Trainer(classifier: classifier, configuration: TrainingConfiguration(batchSize: 8, epochs: 1, threads: 1))
        try trainer.train(data, test: data)
        return try SafetensorsFile(data: trainer.checkpointFile().encoded())
    }

    @Test func progressMetadataOutOfRangeIsRefusedAtLoad() throws {
        let file = try trainingCheckpoint()
        for (key, value) in [("epoch", "-1"), ("epoch", "9223372036854775807"), ("step_in_epoch", "-5"),
                             ("global_step", "x"), ("optimizer_steps", "1e3")] {
            var bad = file
            bad.metadata[key] = value
            #expect(throws: TrainingError.invalidProgress(path: "c", key: key, value: value, expected: "a whole number from 0 to 2147483646")) {
                try Trainer<Float>(resumingFrom: bad, path: "c")
            }
        }
        for value in ["nan", "inf", "0", "-1"] {
            var bad = file
            bad.metadata["sigma"] = value
            #expect(throws: TrainingError.checkpoint(.invalidMetadata(path: "c", key: "sigma", value: value, expected: "a finite number > 0"))) {
                try Trainer<Float>(resumingFrom: bad, path: "c")
            }
        }
        // A step past the end of the epoch is refused when training starts, before any step.
        var late = file
        late.metadata["step_in_epoch"] = "50"
        late.metadata["epoch"] = "0"
        let trainer = try Trainer<Float>(resumingFrom: late, path: "c")
        let data = syntheticImages(count: 32, features: 6, classes: 3, seed: 1)
        #expect(throws: TrainingError.invalidProgress(path: "trainer", key: "step_in_epoch", value: "50", expected: "at most the 4 steps of an epoch")) {
            try trainer.train(data, test: data)
        }
    }

    @Test func nonFiniteWeightsAreRefusedAtLoad() throws {
        var file = try trainingCheckpoint()
        var w = try #require(file.tensor("layers.1.weight", as: Float.self))
        w[0, 0] = .nan
        w[1, 1] = .infinity
        file.set("layers.1.weight", w)
        #expect(throws: ModelFileError.nonFiniteValues(path: "c", tensor: "layers.1.weight", count: 2)) {
            let _: IdentityClassifier<Float> = try Checkpoint.classifier(from: file, path: "c")
        }
    }

    @Test func aNetworkThatCannotFitIsRefusedBeforeAllocation() {
        // Two 3000×3000 images: width 9,000,010, so one weight matrix alone is 324 TB.
        let huge = LabeledImages(pixels: [UInt8](repeating: 0, count: 2 * 9_000_000), labels: [0, 1], imageShape: [3000, 3000], classes: 10)
        let data = ImageDataset(train: huge, test: huge)
        #expect(throws: TrainingError.self) {
            try TrainingSession<Float>(model: ClassifierConfiguration(layers: 10), training: TrainingConfiguration(batchSize: 1), data: data)
        }
        do {
            _ = try TrainingSession<Float>(model: ClassifierConfiguration(layers: 10), training: TrainingConfiguration(batchSize: 1), data: data)
        } catch {
            guard case .tooLarge(let bytes, _) = error else { Issue.record("\(error)"); return }
            #expect(bytes > 3e15)
        }
    }
}

@Suite struct ReviewFindingTests {
    @Test func aBatchSizeOfZeroIsAnErrorNotACrash() {
        let data = ImageDataset(train: syntheticImages(count: 20, features: 6, classes: 3, seed: 1),
                                test: syntheticImages(count: 5, features: 6, classes: 3, seed: 2))
        #expect(throws: TrainingError.batchSizeOutOfRange(batchSize: 0, images: 20)) {
            try TrainingSession<Float>(model: ClassifierConfiguration(layers: 2), training: TrainingConfiguration(batchSize: 0), data: data)
        }
    }

    @Test func nanWeightsInNumpyLayersAreRefusedAtLoad() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("npy-nan-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Tensor<Double>.identity(3).writeNumpyFile(to: folder.appendingPathComponent("W1.npy"))
        try Tensor<Double>(shape: [3, 3], scalars: [1, 0, 0, 0, .nan, 0, 0, 0, .infinity]).writeNumpyFile(to: folder.appendingPathComponent("W2.npy"))
        #expect(throws: ModelFileError.nonFiniteValues(path: folder.appendingPathComponent("W2.npy").path, tensor: "W2", count: 2)) {
            _ = try MultilayerPerceptron<Double>(numpyFolder: folder, activation: .relu)
        }
    }
}

/// Deep networks (issue 13): one batch of activations per layer, no copy of the weights per
/// step, the hard-tanh and ReLU derivatives read from the activations exactly as from h.
@Suite struct DeepNetworkTests {
    /// The plain-tensor reference of one SGD step: forward through `preActivations`, δ through
    /// `Activation.derivative(h)`, W ← W − η·δᵀx.
    func referenceStep(_ network: MultilayerPerceptron<Double>, inputs: Tensor<Double>, labels: [Int], classStart: Int,
                       learningRate: Double) -> MultilayerPerceptron<Double> {
        let (rows, n, layers) = (inputs.shape[0], inputs.shape[1], network.layerCount)
        var xs = [inputs], hs: [Tensor<Double>] = []
        for l in 0 ..< layers {
            var h = matmul(xs[l], network.weights[l], transposeB: true)
            if let b = network.biases[l] { for r in 0 ..< rows { for j in 0 ..< n { h[r, j] += b[j] } } }
            hs.append(h)
            xs.append(h.map { network.activation($0) })
        }
        var delta = Tensor<Double>.zeros([rows, n])
        for r in 0 ..< rows {
            let logits = (classStart ..< n).map { hs[layers - 1][r, $0] }
            let largest = logits.max()!
            let total = logits.reduce(0) { $0 + exp($1 - largest) }
            for (c, z) in logits.enumerated() {
                delta[r, classStart + c] = (exp(z - largest) / total - (c == labels[r] ? 1 : 0)) / Double(rows)
            }
        }
        var result = network
        for l in stride(from: layers - 1, through: 0, by: -1) {
            let gradient = matmul(delta, xs[l], transposeA: true)
            if l > 0 {
                var next = matmul(delta, network.weights[l])
                for r in 0 ..< rows { for j in 0 ..< n { next[r, j] *= network.activation.derivative(hs[l - 1][r, j]) } }
                delta = next
            }
            result.weights[l] = network.weights[l] - learningRate * gradient
        }
        return result
    }

    @Test func hardTanhAndReLUUnitsExactlyAtTheirKinksGetTheDerivativeOfH() {
        // Identity weights and inputs of exactly 0 and 1 (pixels 0 and 255) put h on the kinks
        // of hard-tanh (|h| = 1) and ReLU (h = 0); the derivative read from x = φ(h) must be the
        // one `Activation.derivative(h)` gives there (0 at both).
        let (features, classes, rows) = (6, 3, 4)
        let n = features + classes
        var pixels: [UInt8] = []
        for r in 0 ..< rows { for j in 0 ..< features { pixels.append((r + j) % 2 == 0 ? 255 : 0) } }
        let data = LabeledImages(pixels: pixels, labels: [0, 1, 2, 1], imageShape: [features], classes: classes)
        for activation in [Activation.hardTanh, .relu, .linear] {
            var generator = SeededGenerator(seed: 7)
            var weights = [Tensor<Double>.identity(n), Tensor<Double>.identity(n)]
            weights.append(Tensor<Double>.identity(n) + Tensor<Double>.randomNormal([n, n], standardDeviation: 0.2, using: &generator))
            let network = MultilayerPerceptron(weights: weights, biases: [nil, nil, nil], activation: activation)
            let workspace = BatchWorkspace<Double>(batchSize: rows, width: n, layers: 3, classStart: features)
            data.gather(Array(0 ..< rows)[...], into: workspace.input, width: n)
            for r in 0 ..< rows { workspace.labels[r] = data.labels[r] }
            let inputs = workspace.activation(0)
            var fused = network
            workspace.forward(fused)
            _ = workspace.loss(gradient: true)
            workspace.backwardWithSGD(&fused, learningRate: 0.5, weightDecay: 0)
            let expected = referenceStep(network, inputs: inputs, labels: data.labels, classStart: features, learningRate: 0.5)
            for l in 0 ..< 3 {
                let difference = zip(fused.weights[l].scalars, expected.weights[l].scalars).map { abs($0 - $1) }.max()!
                #expect(difference <= 1e-14, "\(activation), layer \(l + 1): \(difference)")
            }
        }
    }

    @Test func aDeepFusedStepMatchesTheReference() {
        let data = syntheticImages(count: 6, features: 5, classes: 2, seed: 11)
        let n = 7
        for activation in [Activation.hardTanh, .tanh] {
            var generator = SeededGenerator(seed: 12)
            let weights = (0 ..< 60).map { _ in
                Tensor<Double>.identity(n) + Tensor<Double>.randomNormal([n, n], standardDeviation: 0.05, using: &generator)
            }
            let network = MultilayerPerceptron(weights: weights, biases: Array(repeating: nil, count: 60), activation: activation)
            let workspace = BatchWorkspace<Double>(batchSize: 6, width: n, layers: 60, classStart: 5)
            data.gather(Array(0 ..< 6)[...], into: workspace.input, width: n)
            for r in 0 ..< 6 { workspace.labels[r] = data.labels[r] }
            let inputs = workspace.activation(0)
            var fused = network
            workspace.forward(fused)
            _ = workspace.loss(gradient: true)
            workspace.backwardWithSGD(&fused, learningRate: 0.1, weightDecay: 0)
            let expected = referenceStep(network, inputs: inputs, labels: data.labels, classStart: 5, learningRate: 0.1)
            let worst = (0 ..< 60).map { l in zip(fused.weights[l].scalars, expected.weights[l].scalars).map { abs($0 - $1) }.max()! }.max()!
            #expect(worst <= 1e-13, "\(activation): \(worst)")
        }
    }

    @Test func oneBatchOfActivationsPerLayer() {
        let (batch, n, layers) = (5, 9, 4)
        let data = syntheticImages(count: batch, features: 6, classes: 3, seed: 13)
        let batchBytes = batch * n * MemoryLayout<Double>.stride
        for activation in [Activation.hardTanh, .relu, .linear, .tanh] {
            var network = randomClassifier(activation, layers: layers).network
            let workspace = BatchWorkspace<Double>(batchSize: batch, width: n, layers: layers, classStart: 6)
            // x^0 … x^L, the logits, two δ buffers.
            #expect(workspace.allocatedBytes == (layers + 4) * batchBytes)
            data.gather(Array(0 ..< batch)[...], into: workspace.input, width: n)
            for r in 0 ..< batch { workspace.labels[r] = data.labels[r] }
            workspace.forward(network)
            _ = workspace.loss(gradient: true)
            workspace.backwardWithSGD(&network, learningRate: 0.1, weightDecay: 0)
            // tanh keeps h^1 … h^{L−1} as well; the fused step never allocates gradients.
            let hidden = activation == .tanh ? layers - 1 : 0
            #expect(workspace.allocatedBytes == (layers + 4 + hidden) * batchBytes, "\(activation)")
        }
    }

    @Test func stepsWriteTheWeightsInPlace() throws {
        // No copy-on-write copy per step: every weight keeps its storage while the trainer owns
        // it alone; a copy held outside is copied once, on the next step, and stays as it was.
        let data = syntheticImages(count: 64, features: 6, classes: 3, seed: 14)
        var generator = SeededGenerator(seed: 0)
        let trainer = Trainer(classifier: IdentityClassifier<Float>(inputFeatures: 6, classes: 3, layers: 5, using: &generator),
                              configuration: TrainingConfiguration(batchSize: 8, epochs: 1, threads: 1))
        func addresses() -> [UnsafePointer<Float>] { trainer.classifier.network.weights.map(\.unsafeReadAddress) }
        try trainer.step(data, Array(0 ..< 8)[...], learningRate: 0.01)
        let owned = addresses()
        for s in 1 ..< 8 { try trainer.step(data, Array(8 * s ..< 8 * s + 8)[...], learningRate: 0.01) }
        #expect(addresses() == owned)
        let snapshot = trainer.classifier
        let before = snapshot.network.weights.map(\.scalars)
        try trainer.step(data, Array(0 ..< 8)[...], learningRate: 0.01)
        #expect(snapshot.network.weights.map(\.scalars) == before)
        #expect(trainer.classifier.network.weights.map(\.scalars) != before)
        let copied = addresses()
        #expect(copied != owned)
        try trainer.step(data, Array(8 ..< 16)[...], learningRate: 0.01)
        #expect(addresses() == copied)
    }
}

@Suite struct StreamedCheckpointTests {
    @Test func theStreamedCheckpointIsByteForByteTheInMemoryOne() throws {
        let data = syntheticImages(count: 48, features: 6, classes: 3, seed: 3)
        var generator = SeededGenerator(seed: 1)
        let classifier = IdentityClassifier<Double>(inputFeatures: 6, classes: 3, layers: 3, bias: true, using: &generator)
        let trainer = Trainer(classifier: classifier, configuration: TrainingConfiguration(
            batchSize: 16, epochs: 1, optimizer: .adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0), threads: 1))
        try trainer.train(data, test: data)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("stream-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try trainer.writeCheckpoint(to: url)
        #expect(try Array(Data(contentsOf: url)) == trainer.checkpointFile().encoded())
        // It reads back, checksums verified.
        let resumed = try Trainer<Double>(resumingFrom: url)
        #expect(resumed.classifier.network.weights == trainer.classifier.network.weights)
        // And the classifier alone.
        try trainer.classifier.write(to: url)
        #expect(try Array(Data(contentsOf: url)) == Checkpoint.file(trainer.classifier).encoded())
    }
}

/// What a session leaves behind when a run diverges or is interrupted.
@Suite struct RunGuaranteeTests {
    let data = ImageDataset(train: syntheticImages(count: 96, features: 6, classes: 3, seed: 31),
                            test: syntheticImages(count: 30, features: 6, classes: 3, seed: 32))

    func folder() -> URL { FileManager.default.temporaryDirectory.appendingPathComponent("guarantee-\(UUID().uuidString)") }

    /// The figures an epoch record has apart from its timing.
    func figures(_ r: EpochRecord) -> EpochRecord {
        var copy = r
        (copy.samplesPerSecond, copy.seconds) = (0, 0)
        return copy
    }

    @Test func weightsTurnedNonFiniteAtAnEpochsLastStepKeepTheGoodCheckpoint() throws {
        let folder = folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let training = TrainingConfiguration(batchSize: 16, epochs: 3, learningRate: 0.05, threads: 1)
        let session = try TrainingSession<Double>(model: ClassifierConfiguration(layers: 3), training: training, data: data, folder: folder)
        var afterEpoch1: Data?
        session.onEpoch = { _ in if afterEpoch1 == nil { afterEpoch1 = try? Data(contentsOf: session.checkpointURL!) } }
        // A step that overflows the weights, as the last of epoch 2 (6 steps an epoch): its loss,
        // computed before the update, is finite.
        session.onStep = { event in
            if event.globalStep == 12 { session.trainer.classifier.network.weights[1][2, 2] = .infinity }
        }
        #expect(throws: TrainingError.diverged(Divergence(
            quantity: "the weights of layer 2", value: .infinity, epoch: 2, step: 6, globalStep: 12, beforeAnyUpdate: false,
            lastGood: .kept(path: session.checkpointURL!.path, epochsDone: 1, stepInEpoch: 0)))) {
            try session.run()
        }
        #expect(try Data(contentsOf: session.checkpointURL!) == afterEpoch1)
        #expect(session.trainer.history.count == 1)
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("metrics.json"))) as! [String: Any]
        #expect((metrics["epochs"] as! [Any]).count == 1)
        #expect((metrics["diverged"] as? String)?.contains("the weights of layer 2 became inf at epoch 2, step 6") == true)
        #expect(metrics["testAccuracy"] == nil)
    }

    @Test func anInterruptionWithNonFiniteWeightsWritesNoCheckpoint() throws {
        let folder = folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let training = TrainingConfiguration(batchSize: 16, epochs: 2, learningRate: 0.05, threads: 1)
        let session = try TrainingSession<Double>(model: ClassifierConfiguration(layers: 3), training: training, data: data, folder: folder)
        session.onStep = { event in if event.globalStep == 3 { session.trainer.classifier.network.weights[0][0, 0] = -.infinity } }
        var steps = 0
        #expect(throws: TrainingError.diverged(Divergence(quantity: "the weights of layer 1", value: -.infinity, epoch: 1, step: 3, globalStep: 3,
                                                          beforeAnyUpdate: false, lastGood: .none))) {
            try session.run(shouldStop: { steps += 1; return steps > 3 })
        }
        #expect(!FileManager.default.fileExists(atPath: session.checkpointURL!.path))
        #expect(throws: TrainingError.self) { try session.writeCheckpoint() }
        #expect(!FileManager.default.fileExists(atPath: session.checkpointURL!.path))
    }

    @Test func aLossOverflowingBeforeAnyUpdateBlamesTheInitialisation() throws {
        var generator = SeededGenerator(seed: 0)
        let classifier = IdentityClassifier<Float>(inputFeatures: 6, classes: 3, layers: 8, activation: .relu, sigma: 1e30, using: &generator)
        let session = try TrainingSession(trainer: Trainer(classifier: classifier, configuration: TrainingConfiguration(batchSize: 16, threads: 1)),
                                          data: data)
        do {
            try session.run()
            Issue.record("expected a divergence")
        } catch .diverged(let divergence) {
            #expect(divergence.quantity == "the loss" && divergence.epoch == 1 && divergence.step == 1 && divergence.beforeAnyUpdate)
            #expect(divergence.lastGood == .none)
            #expect(divergence.description.contains("no checkpoint of this run was written; the network as initialised already overflows"))
        } catch { Issue.record("\(error)") }
        // σ beyond the precision is refused before anything is built.
        #expect(throws: TrainingError.invalidSetting(name: "sigma", value: "1e+39", expected: "at most 3.4028235e+38, the largest Float")) {
            try TrainingSession<Float>(model: ClassifierConfiguration(layers: 2, sigma: 1e39), training: TrainingConfiguration(batchSize: 16), data: data)
        }
    }

    @Test func aResumedEpochRecordsTheSameFiguresAsAnUninterruptedOne() throws {
        let training = TrainingConfiguration(batchSize: 16, epochs: 2, learningRate: 0.05,
                                             optimizer: .sgd(momentum: 0.9, weightDecay: 1e-4), threads: 1)
        let model = ClassifierConfiguration(layers: 3, bias: true)
        let straight = try TrainingSession<Double>(model: model, training: training, data: data)
        try straight.run()
        for k in [1, 4, 6, 9] {  // inside epoch 1, at its end, inside epoch 2
            let folder = folder()
            defer { try? FileManager.default.removeItem(at: folder) }
            let first = try TrainingSession<Double>(model: model, training: training, data: data, folder: folder)
            var steps = 0
            #expect(try first.run(shouldStop: { steps += 1; return steps > k }) == nil)
            let resumed = try TrainingSession<Double>(resuming: first.checkpointURL!, data: data, folder: folder)
            try resumed.run()
            #expect(resumed.trainer.history.map(figures) == straight.trainer.history.map(figures), "stopped after \(k) steps")
            #expect(resumed.trainer.classifier.network.weights == straight.trainer.classifier.network.weights)
        }
    }

    @Test func aCheckpointWithoutTheRunningSumsResumesAndSaysSo() throws {
        let training = TrainingConfiguration(batchSize: 16, epochs: 2, learningRate: 0.05, threads: 1)
        let model = ClassifierConfiguration(layers: 3)
        let folder = folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let first = try TrainingSession<Double>(model: model, training: training, data: data, folder: folder)
        var steps = 0
        try first.run(shouldStop: { steps += 1; return steps > 8 })  // epoch 2, step 2
        // As written before the sums were stored.
        var file = try SafetensorsFile(contentsOf: first.checkpointURL!)
        for key in ["epoch_loss_sum", "epoch_correct", "epoch_seen"] { #expect(file.metadata.removeValue(forKey: key) != nil) }
        let old = try Trainer<Double>(resumingFrom: file, path: "old")
        #expect(old.trainFiguresFromStep == 3)
        // Interrupted again: the partial figures stay marked as such.
        let data = data
        try old.train(data.train, test: data.test, shouldStop: { old.stepInEpoch == 4 })
        let again = try Trainer<Double>(resumingFrom: SafetensorsFile(data: old.checkpointFile().encoded()), path: "again")
        #expect(again.trainFiguresFromStep == 3 && again.trainSeen == 32)
        try again.train(data.train, test: data.test)
        #expect(again.history.map(\.trainFiguresFromStep) == [nil, 3])
        let straight = try TrainingSession<Double>(model: model, training: training, data: data)
        try straight.run()
        #expect(again.classifier.network.weights == straight.trainer.classifier.network.weights)
        #expect(again.history[1].testLoss == straight.trainer.history[1].testLoss)
        #expect(again.history[1].trainLoss != straight.trainer.history[1].trainLoss)
        // Running sums that cannot be are refused at load.
        var bad = try SafetensorsFile(contentsOf: first.checkpointURL!)
        bad.metadata["epoch_correct"] = "999"
        #expect(throws: TrainingError.invalidProgress(path: "bad", key: "epoch_correct", value: "999", expected: "at most epoch_seen = 32")) {
            try Trainer<Double>(resumingFrom: bad, path: "bad")
        }
    }
}
