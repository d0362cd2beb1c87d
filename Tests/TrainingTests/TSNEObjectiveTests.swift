import Datasets
import FileFormats
import Foundation
import Networks
import Testing
import TensorAlgebra
@testable import Training

/// t-SNE's objective against scikit-learn's affinities and PyTorch's autograd (fixtures of
/// Benchmarks/Peers/tsne_fixtures.py: 24 integer-valued points of 12 values, perplexity 5).
@Suite struct TSNEObjectiveTests {
    func fixture(_ name: String) throws -> NumpyArray {
        try NumpyArray(contentsOf: Bundle.module.url(forResource: name, withExtension: "npy", subdirectory: "Fixtures/tsne")!)
    }

    func points() throws -> TensorDataset {
        let x = try fixture("x")
        return try TensorDataset(features: .double(x.scalars(as: Double.self)), sampleShape: [x.shape[1]],
                                 targets: .labels(Array(repeating: 0, count: x.shape[0]), classes: 1))
    }

    /// The inputs' squared distances are integers, exact in float32 and in both GEMMs, so the
    /// search takes scikit-learn's steps exactly: what remains is the order of the sums (1e-12
    /// relative in Double). In float32 the stored P rounds to 2⁻²⁴ relative (tolerance 1e-6).
    @Test func affinitiesAreScikitLearns() throws {
        let data = try points()
        let expectedConditional = try fixture("conditional").scalars(as: Double.self)
        let expectedJoint = try fixture("joint").scalars(as: Double.self)
        let n = data.count
        let affinities = try InputAffinities<Double>(rows: n, features: data.featureCount, perplexity: 5)
        affinities.inputs.withUnsafeMutableBufferPointer { data.gatherFeatures(Array(0 ..< n)[...], into: $0.baseAddress!) }
        var p = Tensor<Double>.zeros([n, n])
        affinities.compute(into: &p)
        let scale = expectedJoint.max()!
        for (a, b) in zip(affinities.conditional, expectedConditional) { #expect(abs(a - b) <= 1e-12 * max(b, 1e-3), "p_j|i \(a) vs \(b)") }
        for (a, b) in zip(p.scalars, expectedJoint) { #expect(abs(a - b) <= 1e-12 * scale, "p_ij \(a) vs \(b)") }
        // Each conditional row has entropy log 5 to the search's 1e-5 nats.
        for i in 0 ..< n {
            let row = affinities.conditional[(i * n) ..< ((i + 1) * n)]
            let entropy = -row.reduce(0.0) { $0 + ($1 > 0 ? $1 * log($1) : 0) }
            #expect(abs(entropy - log(5.0)) <= 1e-5 + 1e-12, "row \(i): entropy \(entropy)")
        }
        let objective = try TSNEObjective<Float>(data: data, perplexity: 5, batchSize: n)
        let single = objective.jointAffinities(of: Array(0 ..< n))
        for (a, b) in zip(single.scalars, expectedJoint) { #expect(abs(Double(a) - b) <= 1e-6 * scale, "float32 p_ij \(a) vs \(b)") }
    }

    /// KL(P‖Q) and ∂KL/∂Y against PyTorch's autograd of the same formula on the fixture's P, for
    /// α = 1, 0.5 and 3, in Double: both are the same sums in another order (1e-10 relative).
    @Test(arguments: [(1.0, "1"), (0.5, "0.5"), (3.0, "3")])
    func divergenceAndGradientArePyTorchs(alpha: Double, tag: String) throws {
        let data = try points()
        let n = data.count
        let objective = try TSNEObjective<Double>(data: data, perplexity: 5, degreesOfFreedom: alpha, batchSize: n)
        let p = try Tensor<Double>(shape: [n, n], scalars: fixture("joint").scalars(as: Double.self))
        let y = try Tensor<Double>(shape: [n, 2], scalars: fixture("y").scalars(as: Double.self))
        var gradient = Tensor<Double>.zeros([n, 2])
        let kl = objective.divergence(y, affinities: p, gradient: &gradient)
        let expectedKL = try fixture("kl_\(tag)").scalars(as: Double.self)[0]
        let expectedGradient = try fixture("grad_\(tag)").scalars(as: Double.self)
        #expect(abs(kl - expectedKL) <= 1e-10 * expectedKL, "KL \(kl) vs PyTorch \(expectedKL)")
        let scale = expectedGradient.map(abs).max()!
        for (a, b) in zip(gradient.scalars, expectedGradient) { #expect(abs(a - b) <= 1e-10 * scale, "gradient \(a) vs PyTorch \(b)") }
    }

    /// The gradient against central differences of the loss itself, through the trainer's Loss
    /// (P from the dataset): step 1e-5 leaves a truncation error of order h² · KL''' ≈ 1e-9,
    /// rounding 1e-16/h ≈ 1e-11; tolerance 1e-6 of the largest component.
    @Test(arguments: [1.0, 0.5, 3.0])
    func gradientMatchesFiniteDifferences(alpha: Double) throws {
        let data = try points()
        let n = data.count
        let objective = try TSNEObjective<Double>(data: data, perplexity: 5, degreesOfFreedom: alpha, batchSize: n)
        let loss = objective.loss
        let targets = LossTargets<Double>(classColumns: 0 ..< 2, samples: Array(0 ..< n))
        var generator = SeededGenerator(seed: 7)
        let y = Tensor<Double>(shape: [n, 2], scalars: (0 ..< 2 * n).map { _ in Double.random(in: -3 ... 3, using: &generator) })
        var gradient = Tensor<Double>.zeros([n, 2]), unused = gradient
        _ = loss(y, targets, gradient: &gradient)
        let h = 1e-5
        let analytic = gradient.scalars
        let scale = analytic.map(abs).max()!
        for e in 0 ..< 2 * n {
            var plus = y.scalars, minus = y.scalars
            plus[e] += h
            minus[e] -= h
            let up = loss(Tensor(shape: [n, 2], scalars: plus), targets, gradient: &unused)
            let down = loss(Tensor(shape: [n, 2], scalars: minus), targets, gradient: &unused)
            let numeric = (up - down) / (2 * h)
            #expect(abs(numeric - analytic[e]) <= 1e-6 * scale, "element \(e): numeric \(numeric), analytic \(analytic[e])")
        }
    }

    /// With fixed compositions every epoch visits the same batches (same members, same row
    /// order) in another order; P is computed once per batch.
    @Test func fixedCompositionsKeepTheirMembers() throws {
        let data = try points()
        var generator = SeededGenerator(seed: 2)
        let stack = LayerStack<Double>.multilayerPerceptron(widths: [12, 16, 2], activation: .relu, using: &generator)
        let objective = try TSNEObjective<Double>(data: data, perplexity: 2, batchSize: 8)
        let trainer = try StackTrainer(stack: stack, loss: objective.loss, optimizer: SGD(learningRate: 0.01), batchSize: 8, epochs: 4,
                                       seed: 5, threads: 1, batchComposition: .fixed)
        var batches: [Set<[Int]>] = []
        var orders: [[[Int]]] = []
        for epoch in 0 ..< 4 {
            trainer.epoch = epoch
            let order = trainer.epochOrder(data.count, steps: 3)
            let cut = (0 ..< 3).map { Array(order[($0 * 8) ..< (($0 + 1) * 8)]) }
            orders.append(cut)
            batches.append(Set(cut))
        }
        trainer.epoch = 0
        #expect(batches.allSatisfy { $0 == batches[0] })
        #expect(Set(orders.map { $0.map(\.first!) }).count > 1, "the batch order never changed over 4 epochs: \(orders)")
        try trainer.train(data)
        #expect(objective.cache.count == 3)
        #expect(Set(objective.cache.keys) == batches[0])
    }

    /// A small network trained on the objective lowers it (the loss is the mean KL of the
    /// epoch's batches, each batch's P fixed): a check that the gradient's sign and the loss's
    /// wiring into the trainer are right, not a quality claim.
    @Test func trainingLowersTheDivergence() throws {
        let data = try points()
        var generator = SeededGenerator(seed: 3)
        let stack = LayerStack<Double>.multilayerPerceptron(widths: [12, 32, 2], activation: .relu, using: &generator)
        let objective = try TSNEObjective<Double>(data: data, perplexity: 5, batchSize: 24)
        let trainer = try StackTrainer(stack: stack, loss: objective.loss, optimizer: Adam(learningRate: 0.01), batchSize: 24, epochs: 200,
                                       seed: 1, threads: 1, batchComposition: .fixed)
        try trainer.train(data)
        let first = trainer.history.first!.trainLoss, last = trainer.history.last!.trainLoss
        #expect(last < 0.5 * first, "KL \(first) → \(last)")
        #expect(trainer.history.last!.trainAccuracy == nil)
    }

    /// A run stopped after an epoch and resumed from its files ends with the weights of an
    /// uninterrupted one, bit for bit (one thread: the same sums in the same order), for fixed and
    /// for reshuffled (default) compositions; only a fixed run's training state records its
    /// composition, so a default run's file has no batch_composition key, as before issue 25.
    @Test(arguments: [BatchComposition.fixed, .reshuffled])
    func aResumedRunIsAnUninterruptedOne(composition: BatchComposition) throws {
        let data = try points()
        func trainer(epochs: Int) throws -> StackTrainer<Double> {
            var generator = SeededGenerator(seed: 6)
            let stack = LayerStack<Double>.multilayerPerceptron(widths: [12, 10, 2], activation: .relu, using: &generator)
            return try StackTrainer(stack: stack, loss: TSNEObjective<Double>(data: data, perplexity: 2, batchSize: 8).loss,
                                    optimizer: Adam(learningRate: 0.01), batchSize: 8, epochs: epochs, seed: 9, threads: 1, batchComposition: composition)
        }
        let whole = try trainer(epochs: 3)
        try whole.train(data)
        let first = try trainer(epochs: 1)
        try first.train(data)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tsne-resume-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let (model, state) = (folder.appendingPathComponent("model.safetensors"), folder.appendingPathComponent("state.safetensors"))
        try first.writeCheckpoint(model: model, state: state)
        #expect(try StackTrainingSettings(contentsOf: state).batchComposition == composition)
        let stored = try SafetensorsFile(contentsOf: state).metadata["batch_composition"]
        #expect(stored == (composition == .fixed ? "fixed" : nil), "\(String(describing: stored))")
        let resumed = try StackTrainer<Double>(resumingFrom: model, state: state, loss: TSNEObjective<Double>(data: data, perplexity: 2, batchSize: 8).loss,
                                               optimizer: Adam(learningRate: 0.01), epochs: 3, threads: 1)
        #expect(resumed.batchComposition == composition)
        try resumed.train(data)
        for ((name, a), (_, b)) in zip(resumed.stack.parameters, whole.stack.parameters) { #expect(a.scalars == b.scalars, "\(name)") }
    }

    /// The estimate from the shapes is the byte count of the buffers a trained objective holds,
    /// exactly (float32 and Double): 24 points in batches of 8 with fixed compositions cache 3
    /// batches' P; by hand for float32, B = 8, d = 12, k = 2: (3·64 + 16)·4 + (96 + 64)·4 +
    /// (128 + 8)·8 + 3·64·4 = 832 + 640 + 1,088 + 768 = 3,328.
    @Test func memoryEstimateIsTheBuffersByteCount() throws {
        let data = try points()
        #expect(TSNEObjective<Float>.estimatedBytes(batchSize: 8, features: 12, outputWidth: 2, cachedBatches: 3) == 3_328)
        func trained<Scalar: BLASScalar>(_: Scalar.Type) throws -> TSNEObjective<Scalar> {
            var generator = SeededGenerator(seed: 2)
            let stack = LayerStack<Scalar>.multilayerPerceptron(widths: [12, 16, 2], activation: .relu, using: &generator)
            let objective = try TSNEObjective<Scalar>(data: data, perplexity: 2, batchSize: 8)
            let trainer = try StackTrainer(stack: stack, loss: objective.loss, optimizer: SGD(learningRate: 0.01), batchSize: 8, epochs: 2,
                                           seed: 5, threads: 1, batchComposition: .fixed)
            try trainer.train(data)
            return objective
        }
        let single = try trained(Float.self), double = try trained(Double.self)
        #expect(single.fixedBatches == 3 && single.cache.count == 3)
        #expect(single.estimatedBytes(outputWidth: 2) == Double(single.allocatedBytes))
        #expect(single.allocatedBytes == 3_328)
        #expect(double.estimatedBytes(outputWidth: 2) == Double(double.allocatedBytes))
        // The stack's estimate adds the loss's bytes, and the refusal counts them.
        var generator = SeededGenerator(seed: 2)
        let stack = LayerStack<Float>.multilayerPerceptron(widths: [12, 16, 2], activation: .relu, using: &generator)
        let network = stack.estimatedTrainingBytes(batchSize: 8)
        #expect(stack.estimatedTrainingBytes(batchSize: 8, lossBytes: 3_328) == network + 3_328)
        let limit = Int(network) + 3_327
        try stack.checkTrainingMemory(batchSize: 8, limit: limit)
        do {
            try stack.checkTrainingMemory(batchSize: 8, lossBytes: 3_328, limit: limit)
            Issue.record("the loss's 3,328 bytes were not counted")
        } catch {
            #expect(error.description.contains("; the loss's buffers take 3328 bytes of it"), "\(error)")
        }
    }

    /// The loss is batch-scoped: the trainer refuses to evaluate it over a split (whose chunks of
    /// up to 1,000 rows would be looked up as samples of the objective's data), in one line, and
    /// refuses a test split for `train` before the first step.
    @Test func evaluatingOverASplitIsRefused() throws {
        let data = try points()
        var generator = SeededGenerator(seed: 2)
        let stack = LayerStack<Double>.multilayerPerceptron(widths: [12, 16, 2], activation: .relu, using: &generator)
        let objective = try TSNEObjective<Double>(data: data, perplexity: 2, batchSize: 8)
        #expect(objective.loss.isBatchScoped && !Loss<Double>.softmaxCrossEntropy.isBatchScoped)
        let trainer = try StackTrainer(stack: stack, loss: objective.loss, optimizer: SGD(learningRate: 0.01), batchSize: 8, epochs: 1,
                                       threads: 1, batchComposition: .fixed)
        for attempt in [{ _ = try trainer.evaluate(data) }, { try trainer.train(data, test: data) }] as [() throws -> Void] {
            do {
                try attempt()
                Issue.record("a batch-scoped loss was evaluated over a split")
            } catch let error as TrainingError {
                guard case .dataMismatch(let message) = error else { Issue.record("\(error)"); continue }
                #expect(message.contains("tsne-kl is defined only on the training batches") && !message.contains("\n"), "\(message)")
            }
        }
        #expect(trainer.globalStep == 0 && objective.cache.isEmpty)
    }

    @Test func refusesBadSettings() throws {
        let data = try points()
        #expect(throws: TrainingError.self) { try TSNEObjective<Float>(data: data, perplexity: 5, batchSize: 1) }
        #expect(throws: TrainingError.self) { try TSNEObjective<Float>(data: data, perplexity: 7, batchSize: 8) }
        #expect(throws: TrainingError.self) { try TSNEObjective<Float>(data: data, perplexity: 0, batchSize: 8) }
        #expect(throws: TrainingError.self) { try TSNEObjective<Float>(data: data, perplexity: 5, degreesOfFreedom: 0, batchSize: 8) }
        do {
            _ = try TSNEObjective<Float>(data: data, perplexity: 30, batchSize: 24)
            Issue.record("a perplexity of 30 for batches of 24 was taken")
        } catch {
            #expect("\(error)".contains("perplexity") && "\(error)".contains("30"), "\(error)")
        }
    }
}
