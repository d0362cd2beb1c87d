@_spi(RawBLAS) import Datasets
import Networks
import Testing
import TestSupport
import TensorAlgebra
@_spi(RawBLAS) @testable import Training

/// The loss of a batch through the trainer's workspace, for finite differences.
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
