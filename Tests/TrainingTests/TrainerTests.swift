import Datasets
import FileFormats
import Networks
import Testing
import TestSupport
import TensorAlgebra
@testable import Training

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
}
