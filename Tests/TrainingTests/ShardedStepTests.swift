import Datasets
import Networks
import Testing
import TestSupport
import TensorAlgebra
import Training

// With several threads, StackTrainer cuts each batch into shards run on their own threads and
// adds their parameter gradients; one thread runs the batch whole. The reference here is the
// one-thread run: the same weights, losses and accuracies.
//
// Tolerance: float64; the two differ only in how each parameter gradient's sum over the batch
// is grouped (per shard, then across shards), ~1e-16 relative per step, compounded over the
// run's 18 SGD-momentum steps of a well-conditioned small CNN: 1e-10 relative leaves a wide
// margin while any mistake in the shards (a row missed, a gradient counted twice, the wrong
// scale) shows up at 1e-2 or more.

@Suite struct ShardedStepTests {
    /// A small CNN on 8×8 one-channel images: convolution, max pool and dense layers, each
    /// with parameters or a pattern that the shards must keep apart.
    func cnn() throws -> LayerStack<Double> {
        var generator = SeededGenerator(seed: 2)
        return try LayerStack<Double>(architecture: "conv3k3p1,relu,maxpool2,conv4k3,relu,flatten,dense3", inputShape: [1, 8, 8], using: &generator)
    }

    func data() -> TensorDataset {
        let images = syntheticImages(count: 63, features: 64, classes: 3, seed: 6)
        return LabeledImages(pixels: images.pixels, labels: images.labels, imageShape: [8, 8], classes: 3).tensorDataset
    }

    func train(threads: Int, batch: Int, loss: Loss<Double> = .softmaxCrossEntropy) throws -> StackTrainer<Double> {
        let trainer = try StackTrainer(stack: try cnn(), loss: loss, optimizer: SGD(learningRate: 0.05, momentum: 0.9), batchSize: batch,
                                       epochs: 2, seed: 3, threads: threads)
        try trainer.train(data(), test: data())
        return trainer
    }

    func relativeDifference(_ a: StackTrainer<Double>, _ b: StackTrainer<Double>) -> Double {
        zip(a.stack.parameters, b.stack.parameters).map { x, y in
            let scale = max(1, y.value.scalars.map(\.magnitude).max()!)
            return zip(x.value.scalars, y.value.scalars).map { ($0 - $1).magnitude }.max()! / scale
        }.max()!
    }

    /// Two and three shards (batch 7: shards of 3 + 4 and 2 + 2 + 3 rows) against one thread.
    @Test(arguments: [2, 3]) func shardsTrainAsTheWholeBatch(_ threads: Int) throws {
        let whole = try train(threads: 1, batch: 7), sharded = try train(threads: threads, batch: 7)
        #expect(relativeDifference(sharded, whole) <= 1e-10, "weights")
        for (a, b) in zip(sharded.history, whole.history) {
            #expect(abs(a.trainLoss - b.trainLoss) <= 1e-10 * abs(b.trainLoss), "epoch \(b.epoch) train loss")
            #expect(a.trainAccuracy == b.trainAccuracy && a.testAccuracy == b.testAccuracy, "epoch \(b.epoch) accuracies")
            #expect(abs(a.testLoss! - b.testLoss!) <= 1e-10 * abs(b.testLoss!), "epoch \(b.epoch) test loss")
        }
        // Moved at all: a trainer that never updated would agree too.
        #expect(relativeDifference(sharded, try StackTrainer(stack: try cnn(), optimizer: SGD(learningRate: 0.05), threads: 1)) > 1e-3)
    }

    /// An identity classifier's per-layer readouts, read shard by shard, count as the whole batch's.
    @Test func layerReadoutsOfShardsAreTheWholeBatchs() throws {
        let images = syntheticImages(count: 40, features: 6, classes: 3, seed: 1)
        var generator = SeededGenerator(seed: 0)
        let classifier = IdentityClassifier<Double>(
            inputFeatures: 6, classes: 3, configuration: ClassifierConfiguration(layers: 3, sigma: 0.9, bias: true), using: &generator)
        let runs = try [1, 2].map { threads in
            let trainer = try StackTrainer(stack: classifier.stack, optimizer: SGD(learningRate: 0.05), batchSize: 8, epochs: 2, seed: 4, threads: threads)
            try trainer.train(images.tensorDataset, test: images.tensorDataset)
            return trainer.history.last!
        }
        #expect(runs[1].layerAccuracies != nil && runs[1].layerAccuracies == runs[0].layerAccuracies)
    }

    /// The loss sees the whole batch, not each shard: a loss that is not a mean over rows (the
    /// batch's largest squared logit) trains the same with shards as without.
    @Test func aLossOverTheWholeBatchSeesTheWholeBatch() throws {
        let largest = Loss<Double>.custom(name: "largest-square") { outputs, _, gradient in
            let values = outputs.scalars
            let at = values.indices.max { values[$0] * values[$0] < values[$1] * values[$1] }!
            gradient.withUnsafeMutableBufferPointer { g in
                for k in g.indices { g[k] = 0 }
                g[at] = 2 * values[at]
            }
            return values[at] * values[at]
        }
        let whole = try train(threads: 1, batch: 8, loss: largest), sharded = try train(threads: 2, batch: 8, loss: largest)
        #expect(relativeDifference(sharded, whole) <= 1e-10)
    }
}
