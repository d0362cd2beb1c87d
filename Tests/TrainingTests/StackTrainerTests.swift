import Datasets
import FileFormats
import Foundation
import Networks
import Testing
import TestSupport
@_spi(RawBLAS) import TensorAlgebra
@testable import Training

@Suite struct StackTrainerTests {
    func mlp(_ widths: [Int] = [6, 8, 5, 3], seed: UInt64 = 3) -> LayerStack<Double> {
        var generator = SeededGenerator(seed: seed)
        return LayerStack<Double>.multilayerPerceptron(widths: widths, activation: .relu, using: &generator)
    }

    func data(_ count: Int = 64, seed: UInt64 = 1) -> TensorDataset {
        syntheticImages(count: count, features: 6, classes: 3, seed: seed).tensorDataset
    }

    /// The identity classifier trained by its fused trainer and, as a stack, by the general
    /// one: the same weights (float64, to 1e-12: only the order of the bias sums differs) and the
    /// same per-layer readout, exactly.
    @Test func identityClassifierAsAStackTrainsAsTheFusedTrainer() throws {
        let images = syntheticImages(count: 64, features: 6, classes: 3, seed: 1)
        var generator = SeededGenerator(seed: 0)
        let classifier = IdentityClassifier<Double>(
            inputFeatures: 6, classes: 3, configuration: ClassifierConfiguration(layers: 3, sigma: 0.9, bias: true), using: &generator)
        let fused = Trainer(classifier: classifier, configuration: TrainingConfiguration(batchSize: 8, epochs: 2, learningRate: 0.05, seed: 4, threads: 1))
        try fused.train(images, test: images)
        let general = try StackTrainer(stack: classifier.stack, optimizer: SGD(learningRate: 0.05), batchSize: 8, epochs: 2, seed: 4, threads: 1)
        try general.train(images.tensorDataset, test: images.tensorDataset)
        for ((name, a), (_, b)) in zip(general.stack.parameters, fused.classifier.stack.parameters) {
            let error = zip(a.scalars, b.scalars).map { abs($0 - $1) }.max()!
            #expect(error <= 1e-12, "\(name): \(error)")
        }
        let evaluation = try fused.classifier.evaluate(images)
        #expect(general.history.last!.layerAccuracies == evaluation.layerAccuracies)
        #expect(abs(general.history.last!.testAccuracy! - evaluation.accuracy) < 1e-15)
        #expect(abs(general.history.last!.testLoss! - evaluation.loss) < 1e-12)
        #expect(general.history.map(\.trainLoss).enumerated().allSatisfy { abs($1 - fused.history[$0].trainLoss) < 1e-12 })
    }

    /// Stopped mid-epoch, written (stack file + training state), read into a new trainer and
    /// finished: the weights, the optimizer's moments and the epoch records (but for timing) of
    /// an uninterrupted run, bit for bit.
    @Test(arguments: ["sgd", "adam", "adamw"])
    func resumeIsBitIdentical(_ name: String) throws {
        func optimizer() -> any Optimizer<Double> {
            switch name {
            case "sgd": SGD(learningRate: .cosine(0.1, steps: 24), momentum: 0.9, weightDecay: 1e-3)
            case "adam": Adam(learningRate: .warmup(steps: 5, then: .constant(0.01)))
            default: AdamW()
            }
        }
        let (train, test) = (data(), data(30, seed: 2))
        let whole = try StackTrainer(stack: mlp(), optimizer: optimizer(), batchSize: 8, epochs: 3, seed: 7, threads: 1)
        try whole.train(train, test: test)

        let folder = try temporaryFolder("stack-resume")
        let (model, state) = (folder.appendingPathComponent("model.safetensors"), folder.appendingPathComponent("state.safetensors"))
        let first = try StackTrainer(stack: mlp(), optimizer: optimizer(), batchSize: 8, epochs: 3, seed: 7, threads: 1)
        var steps = 0
        #expect(try first.train(train, test: test) { steps += 1; return steps > 11 } == false)
        try first.writeCheckpoint(model: model, state: state)
        let resumed = try StackTrainer<Double>(resumingFrom: model, state: state, optimizer: optimizer(), threads: 1)
        #expect((resumed.epoch, resumed.stepInEpoch, resumed.globalStep, resumed.optimizer.step) == (1, 3, 11, 11))
        try resumed.train(train, test: test)
        for ((name, a), (_, b)) in zip(resumed.stack.parameters, whole.stack.parameters) { #expect(a == b, "\(name)") }
        #expect(resumed.optimizer.state.map { $0.map(\.scalars) } == whole.optimizer.state.map { $0.map(\.scalars) })
        func untimed(_ r: StackEpochRecord) -> StackEpochRecord { var r = r; (r.seconds, r.samplesPerSecond) = (0, 0); return r }
        #expect(resumed.history.map(untimed) == whole.history.map(untimed))
    }

    @Test func resumeRefusesAnotherOptimizerOrSettings() throws {
        let folder = try temporaryFolder("stack-resume-refused")
        let (model, state) = (folder.appendingPathComponent("model.safetensors"), folder.appendingPathComponent("state.safetensors"))
        let trainer = try StackTrainer(stack: mlp(), optimizer: SGD(learningRate: 0.1, momentum: 0.9), batchSize: 8, threads: 1)
        try trainer.train(data())
        try trainer.writeCheckpoint(model: model, state: state)
        #expect(throws: TrainingError.settingDiffersFromCheckpoint(name: "optimizer", stored: "sgd", given: "adam")) {
            try StackTrainer<Double>(resumingFrom: model, state: state, optimizer: Adam())
        }
        #expect(throws: TrainingError.settingDiffersFromCheckpoint(
            name: "optimizer settings", stored: #"{"momentum":0.9,"weight_decay":0}"#, given: "momentum 0.5, weight_decay 0.0")) {
            try StackTrainer<Double>(resumingFrom: model, state: state, optimizer: SGD(learningRate: 0.1, momentum: 0.5))
        }
        #expect(throws: TrainingError.notATrainingCheckpoint(path: model.path)) {
            try StackTrainer<Double>(resumingFrom: model, state: model, optimizer: SGD(learningRate: 0.1, momentum: 0.9))
        }
        // The model file is the stack's own: read with no flags.
        #expect(try LayerStack<Double>(contentsOf: model).parameters.map(\.value) == trainer.stack.parameters.map(\.value))
    }

    /// What a state stores reads back without a trainer, the caller's run settings included,
    /// and a resumed trainer carries those settings on.
    @Test func storedSettingsReadBackWithoutATrainer() throws {
        let folder = try temporaryFolder("stack-settings")
        let (model, state) = (folder.appendingPathComponent("model.safetensors"), folder.appendingPathComponent("state.safetensors"))
        let trainer = try StackTrainer(stack: mlp(), optimizer: Adam(learningRate: 0.01, beta2: 0.99), batchSize: 8, epochs: 2, seed: 5,
                                       frozenLayers: [0], threads: 1)
        trainer.runSettings = ["learning_rate": "0.01", "schedule": "constant"]
        var steps = 0
        #expect(try trainer.train(data()) { steps += 1; return steps > 10 } == false)
        try trainer.writeCheckpoint(model: model, state: state)
        let stored = try StackTrainingSettings(contentsOf: state)
        #expect(stored.optimizer == "adam" && stored.optimizerSettings == ["beta1": 0.9, "beta2": 0.99, "epsilon": 1e-8, "weight_decay": 0])
        #expect(stored.loss == trainer.loss.name && stored.precision == "double" && stored.frozenLayers == [0])
        #expect((stored.batchSize, stored.epochs, stored.seed) == (8, 2, 5))
        #expect((stored.epoch, stored.stepInEpoch, stored.globalStep) == (1, 2, 10), "8 steps an epoch")
        #expect(stored.runSettings == ["learning_rate": "0.01", "schedule": "constant"])
        let resumed = try StackTrainer<Double>(resumingFrom: model, state: state, optimizer: Adam(learningRate: 0.01, beta2: 0.99))
        #expect(resumed.runSettings == trainer.runSettings)
        #expect(throws: TrainingError.notATrainingCheckpoint(path: model.path)) { try StackTrainingSettings(contentsOf: model) }
    }

    /// Frozen layers keep their weights and get no parameter-gradient work (their gradient
    /// buffers stay as allocated, zeros); the others train.
    @Test func frozenLayersAreNotUpdated() throws {
        let stack = mlp()
        let trainer = try StackTrainer(stack: stack, optimizer: Adam(learningRate: 0.01), batchSize: 8, frozenLayers: [0, 2], threads: 1)
        try trainer.train(data())
        let (before, after) = (stack.layers, trainer.stack.layers)
        for l in [0, 2] {
            #expect(after[l].parameters == before[l].parameters)
            #expect(trainer.workspace.parameterGradients[l].allSatisfy { $0.scalars.allSatisfy { $0 == 0 } })
        }
        #expect(after[4].parameters != before[4].parameters)
        #expect(trainer.optimizer.state[0].map(\.count) == [0, 0, 0, 0, 15, 3])
        #expect(throws: TrainingError.invalidSetting(name: "frozenLayers", value: "5", expected: "a layer index in 0 ..< 5")) {
            try StackTrainer(stack: stack, optimizer: Adam(), frozenLayers: [5])
        }
    }

    /// After the first step, steps write into the same storage: the batch, every activation,
    /// cotangent and gradient, the loss gradient, the optimizer's moments and the weights.
    @Test func stepsAllocateNoTensorStorage() throws {
        let trainer = try StackTrainer(stack: mlp(), optimizer: Adam(), batchSize: 8, threads: 1)
        let train = data()
        func addresses() -> [UnsafePointer<Double>] {
            let w = trainer.workspace
            return (w.activations + w.patterns + w.cotangents + w.parameterGradients.joined() + trainer.optimizer.state.joined()
                + trainer.stack.parameters.map(\.value) + [trainer.targets.values]).map(\.unsafeReadAddress)
        }
        try trainer.step(train, Array(0 ..< 8)[...])
        let first = addresses()
        for k in 1 ..< 6 { try trainer.step(train, Array(8 * k ..< 8 * k + 8)[...]) }
        #expect(addresses() == first)
    }

    @Test func badDataIsOneLineNamingTheLayerAndShapes() throws {
        let trainer = try StackTrainer(stack: mlp(), optimizer: SGD(learningRate: 0.1), batchSize: 8)
        let wide = syntheticImages(count: 16, features: 7, classes: 3, seed: 1).tensorDataset
        #expect(throws: TrainingError.dataMismatch("images: samples of shape [7] (7 values), but layer 0 (dense 6 → 8) takes [6]")) {
            try trainer.train(wide)
        }
        let manyClasses = try TensorDataset(features: [Float](repeating: 0, count: 12), sampleShape: [6], labels: [0, 4])
        #expect(throws: TrainingError.dataMismatch("features: 5 classes, but layer 4 (dense 5 → 3) gives [3], 3 class scores")) {
            try trainer.train(manyClasses)
        }
        let regression = try TensorDataset(features: [Float](repeating: 0, count: 12), sampleShape: [6], targets: [1, 2, 3, 4, 5, 6], targetShape: [3])
        #expect(throws: TrainingError.dataMismatch("features: float targets of shape [3], but the loss softmax-cross-entropy takes class labels")) {
            try trainer.train(regression)
        }
        let mse = try StackTrainer(stack: mlp(), loss: .meanSquaredError, optimizer: SGD(learningRate: 0.1), batchSize: 2)
        #expect(throws: TrainingError.dataMismatch("images: class labels, but the loss mean-squared-error takes float targets of the output's shape [3]")) {
            try mse.train(data())
        }
        #expect(throws: TrainingError.batchSizeOutOfRange(batchSize: 8, images: 2)) { try trainer.train(data(2)) }
    }

    /// A float-target regression with MSE, and a custom loss (MSE written by hand) giving the
    /// same weights as the built-in one, bit for bit.
    @Test func meanSquaredErrorAndACustomLossTrain() throws {
        var generator = SeededGenerator(seed: 5)
        let x = (0 ..< 64 * 4).map { _ in Float(generator.nextUniform() * 2 - 1) }
        let y: [Double] = (0 ..< 64).map { (i: Int) -> Double in
            let (a, b, c): (Double, Double, Double) = (Double(x[4 * i]), Double(x[4 * i + 1]), Double(x[4 * i + 3]))
            return a - 2 * b + 0.5 * c
        }
        let data = try TensorDataset(features: x, sampleShape: [4], targets: y, targetShape: [1])
        func stack() -> LayerStack<Float> {
            var g = SeededGenerator(seed: 1)
            return LayerStack<Float>.multilayerPerceptron(widths: [4, 16, 1], activation: .tanh, using: &g)
        }
        let builtIn = try StackTrainer(stack: stack(), loss: .meanSquaredError, optimizer: Adam(learningRate: 0.01), batchSize: 16, epochs: 40, threads: 1)
        try builtIn.train(data, test: data)
        #expect(builtIn.history.last!.testLoss! < 0.1 * builtIn.history.first!.trainLoss)
        #expect(builtIn.history.last!.testAccuracy == nil)
        let handMade = Loss<Float>.custom(name: "my-mse", usesLabels: false) { outputs, targets, gradient in
            meanSquaredError(outputs, targets: targets.values, gradient: &gradient)
        }
        let custom = try StackTrainer(stack: stack(), loss: handMade, optimizer: Adam(learningRate: 0.01), batchSize: 16, epochs: 40, threads: 1)
        try custom.train(data, test: data)
        #expect(custom.stack.parameters.map(\.value) == builtIn.stack.parameters.map(\.value))
    }

    /// The permutation Benchmarks/Peers/isometry_data.py re-implements in Python (so PyTorch
    /// sees Isometry's batches in Isometry's order): its output for seed 0.
    @Test func shuffleMatchesThePeerScript() {
        var generator = SeededGenerator(seed: 0)
        #expect(shuffledIndices(10, using: &generator) == [4, 2, 1, 7, 5, 6, 3, 9, 8, 0])
    }

    @Test func callbacksReceiveTheTrainer() throws {
        let trainer = try StackTrainer(stack: mlp(), optimizer: SGD(learningRate: 0.1), batchSize: 16, epochs: 2, threads: 1)
        var steps: [Int] = [], epochs: [Int] = []
        trainer.onStep = { event, trainer in steps.append(event.globalStep); #expect(trainer.globalStep == event.globalStep) }
        trainer.onEpoch = { record, trainer in epochs.append(record.epoch); #expect(trainer.history.last == record) }
        try trainer.train(data())
        #expect(steps == Array(1 ... 8) && epochs == [1, 2])
        #expect(trainer.history[1].testAccuracy == nil && trainer.history[1].trainAccuracy != nil)
    }
}

@Suite struct LossAndScheduleTests {
    /// Equal logits: loss log C, gradient (1/C − one-hot)/B, exactly; the class columns of an
    /// identity classifier are read alone, the other columns' gradient is 0.
    @Test func softmaxCrossEntropyAtEqualLogits() {
        let logits = Tensor<Double>(shape: [2, 5], scalars: [9, 1, 1, 1, -3, 7, 2, 2, 2, 8])
        var gradient = Tensor<Double>.zeros([2, 5])
        let loss = softmaxCrossEntropy(logits, labels: [0, 2], classColumns: 1 ..< 4, gradient: &gradient)
        #expect(abs(loss - log(3)) < 1e-15)
        let third = 1.0 / 3 / 2, half = 0.5
        #expect(gradient.scalars.enumerated().allSatisfy { i, g in
            let expected: Double = [1, 2, 3].contains(i) ? third - (i == 1 ? half : 0) : [6, 7, 8].contains(i) ? third - (i == 8 ? half : 0) : 0
            return abs(g - expected) < 1e-16
        })
        var big = Tensor<Float>.zeros([1, 2])
        #expect(softmaxCrossEntropy(Tensor<Float>(shape: [1, 2], scalars: [1000, 0]), labels: [0], gradient: &big) == 0)
    }

    @Test func meanSquaredErrorIsPyTorchsMean() {
        var gradient = Tensor<Double>.zeros([2, 2])
        let loss = meanSquaredError(Tensor(shape: [2, 2], scalars: [1, 2, 3, 4]), targets: Tensor(shape: [2, 2], scalars: [0, 2, 5, 4]), gradient: &gradient)
        #expect(loss == 5.0 / 4)
        #expect(gradient.scalars == [0.5, 0, -1, 0])
    }

    @Test func schedules() {
        #expect((0 ..< 3).map { Schedule.constant(0.1)($0) } == [0.1, 0.1, 0.1])
        let cosine = Schedule.cosine(1, steps: 4)
        #expect(cosine(0) == 1 && abs(cosine(2) - 0.5) < 1e-15 && cosine(4) == 0 && cosine(9) == 0)
        #expect(abs(Schedule.cosine(1, steps: 2, minimum: 0.2)(1) - 0.6) < 1e-15)
        #expect((0 ..< 5).map { Schedule.stepDecay(1, every: 2, factor: 0.5)($0) } == [1, 1, 0.5, 0.5, 0.25])
        let warm = Schedule.warmup(steps: 4, then: .stepDecay(0.8, every: 1, factor: 0.5))
        #expect((0 ..< 6).map { warm($0) } == [0.2, 0.4, 0.6000000000000001, 0.8, 0.8, 0.4])
        #expect(Schedule.custom { Double($0) * 2 }(3) == 6)
        let literal: Schedule = 0.05
        #expect(literal(100) == 0.05)
    }

    @Test func optimizerDefaults() {
        let adam = Adam<Float>(), adamw = AdamW<Float>()
        #expect(adam.learningRate(0) == 1e-3 && adam.beta1 == 0.9 && adam.beta2 == 0.999 && adam.epsilon == 1e-8 && adam.weightDecay == 0)
        #expect(adamw.weightDecay == 0.01 && adamw.name == "adamw" && adam.name == "adam")
        #expect(SGD<Float>(learningRate: 0.1).stateNames.isEmpty && SGD<Float>(learningRate: 0.1, momentum: 0.9).stateNames == ["momentum"])
    }
}
