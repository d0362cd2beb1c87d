@_spi(RawBLAS) import Datasets
import Foundation
import Networks
import Testing
import TestSupport
@_spi(RawBLAS) import TensorAlgebra
@_spi(RawBLAS) @testable import Training

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
