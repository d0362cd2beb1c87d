import Datasets
import Dispatch
import Foundation
import Networks
import TensorAlgebra
import IsometrySupport

/// One epoch of a ``StackTrainer``.
public struct StackEpochRecord: Sendable, Codable, Equatable {
    public var epoch: Int
    /// The running average over the epoch's steps (each step's loss before its update).
    public var trainLoss: Double
    /// The same for the accuracy; nil when the targets are not labels.
    public var trainAccuracy: Double?
    public var testLoss: Double?
    public var testAccuracy: Double?
    /// The rate of the epoch's last update.
    public var learningRate: Double
    public var samplesPerSecond: Double
    public var seconds: Double
    /// Test accuracy of every layer's class dimensions (argmax, no probe) when the stack has
    /// ``ClassDimensions``, for the layers with parameters (whose outputs are pre-activations).
    public var layerAccuracies: [Double]?
}

/// A stack's loss and accuracy on a dataset.
public struct StackEvaluation: Sendable, Codable, Equatable {
    public var loss: Double
    /// nil when the targets are not labels.
    public var accuracy: Double?
    /// As ``StackEpochRecord/layerAccuracies``.
    public var layerAccuracies: [Double]?
}

/// How the samples of an epoch are cut into batches.
public enum BatchComposition: String, Sendable, Codable, CaseIterable {
    /// Every epoch draws a new permutation of the samples (seed + epoch) and cuts it into batches.
    case reshuffled
    /// The batches are cut once from the permutation drawn from the seed and keep their members
    /// (in the same row order) in every epoch; only the order in which the batches are visited is
    /// drawn again from seed + epoch. A loss whose targets depend on the whole batch (t-SNE's
    /// affinities P, van der Maaten 2009 §3) then computes them once per batch.
    case fixed
}

/// Trains a ``LayerStack`` (any architecture) with a ``Loss`` and an ``Optimizer`` on a
/// ``TensorDataset``.
///
/// Why it is shaped this way. Every buffer — the batch, every layer's output and pattern,
/// cotangents, parameter gradients (one ``LayerStackWorkspace``), the loss gradient and the
/// targets, the optimizer's state — is allocated before the first step and written in place
/// afterwards. Epoch e visits the samples in the permutation drawn from `seed + e` in full
/// batches (the remainder is left out of that epoch), as the identity classifier's ``Trainer``
/// does, so a run resumed from a checkpoint (the stack's file plus
/// ``writeTrainingState(to:)``) ends with the weights of an uninterrupted one, bit for bit.
/// The identity classifier keeps its own fused ``Trainer``: this is the general path.
///
/// ```swift
/// var generator = SeededGenerator(seed: 0)
/// let stack = LayerStack<Float>.multilayerPerceptron(widths: [784, 1000, 300, 10], activation: .relu, using: &generator)
/// let trainer = try StackTrainer(stack: stack, optimizer: SGD(learningRate: 0.05, momentum: 0.9), batchSize: 128, epochs: 3)
/// trainer.onEpoch = { record, trainer in print(record.epoch, record.testAccuracy ?? 0) }
/// try trainer.train(data.train.tensorDataset, test: data.test.tensorDataset)
/// ```
public final class StackTrainer<Scalar: BLASScalar> {
    public private(set) var stack: LayerStack<Scalar>
    public let loss: Loss<Scalar>
    public let optimizer: any Optimizer<Scalar>
    public let batchSize: Int
    /// Epochs of the run (may be raised to extend a finished one).
    public var epochs: Int
    /// Seeds the shuffle of every epoch (epoch e uses seed + e).
    public let seed: UInt64
    /// Layers that are not updated and get no parameter gradients.
    public let frozenLayers: Set<Int>
    /// Threads for the run (nil: OpenBLAS's setting): with more than one, each batch runs in
    /// as many shards, one per thread, BLAS single-threaded within each (``step(_:_:)``).
    public let threads: Int?
    /// How an epoch's batches are made (``BatchComposition/reshuffled`` unless set).
    public let batchComposition: BatchComposition

    /// Where the run stands: the next epoch (0-based), the batches of it done, all steps done.
    public internal(set) var epoch = 0
    public internal(set) var stepInEpoch = 0
    public internal(set) var globalStep = 0
    public internal(set) var history: [StackEpochRecord] = []
    /// The caller's own settings of the run, which the trainer does not use: what a command
    /// needs to rebuild a run the trainer cannot store (the learning rate and schedule, which
    /// may be a closure; the data; an image limit). Written with the training state under
    /// `run.<key>` and read back by ``init(resumingFrom:state:loss:optimizer:epochs:threads:)``.
    public var runSettings: [String: String] = [:]

    /// After every step, with the trainer (its stack, optimizer and position).
    public var onStep: ((StepEvent, StackTrainer) -> Void)?
    /// After every epoch, with the trainer, so research code can look at the weights or write a checkpoint.
    public var onEpoch: ((StackEpochRecord, StackTrainer) -> Void)?

    /// One workspace per shard of the batch (one for the whole batch without data parallelism).
    let workspaces: [LayerStackWorkspace<Scalar>]
    /// The first shard's workspace (the whole batch's with one thread).
    var workspace: LayerStackWorkspace<Scalar> { workspaces[0] }
    /// The rows of the batch each shard takes.
    let shardRows: [Range<Int>]
    /// With several shards: the whole batch's output, the loss gradient on it, and the
    /// parameter gradients summed over the shards, what the loss and the optimizer see.
    var batchOutput: Tensor<Scalar>, batchOutputGradient: Tensor<Scalar>
    var summedGradients: [[Tensor<Scalar>]]
    var targets: LossTargets<Scalar>
    /// The current epoch's running sums (stored in checkpoints, so a resumed epoch's record is
    /// an uninterrupted one's).
    var trainLossSum = 0.0, trainCorrect = 0, trainSeen = 0
    /// Evaluation buffers by batch size, made on first use.
    private var evaluationBuffers: [Int: EvaluationBuffers] = [:]

    /// One evaluation chunk's buffers: a workspace per shard, the chunk's output (when sharded),
    /// the loss gradient (unused) and the targets.
    private struct EvaluationBuffers {
        var workspaces: [LayerStackWorkspace<Scalar>]
        var rows: [Range<Int>]
        var output: Tensor<Scalar>
        var gradient: Tensor<Scalar>
        var targets: LossTargets<Scalar>
    }

    /// Rows per evaluation chunk: up to 1,000, fewer when a chunk's activations and patterns
    /// would pass 64 MiB (a CNN's first layers hold a few hundred kB per sample), never fewer
    /// than a training batch.
    var evaluationChunk: Int {
        let perSample = stack.shapes.indices.dropFirst().reduce(0) { sum, l in
            sum + stack.shapes[l].reduce(1, *) + (stack.layers[l - 1].patternShape(forInput: stack.shapes[l - 1])?.reduce(1, *) ?? 0)
        } * MemoryLayout<Scalar>.stride
        return min(1000, max(batchSize, (64 << 20) / max(perSample, 1)))
    }

    /// Scalars per input row (the data's features, or more for an identity classifier's padding).
    var inputWidth: Int { stack.inputShape.reduce(1, *) }

    /// Where the class scores are in an output row.
    var classColumns: Range<Int> {
        stack.classDimensions?.classRange ?? 0 ..< stack.outputShape.reduce(1, *)
    }

    public init(stack: LayerStack<Scalar>, loss: Loss<Scalar> = .softmaxCrossEntropy, optimizer: any Optimizer<Scalar>,
                batchSize: Int = 128, epochs: Int = 1, seed: UInt64 = 0, frozenLayers: Set<Int> = [], threads: Int? = nil,
                batchComposition: BatchComposition = .reshuffled) throws(TrainingError) {
        if batchSize < 1 { throw .invalidSetting(name: "batchSize", value: "\(batchSize)", expected: "at least 1") }
        if epochs < 1 { throw .invalidSetting(name: "epochs", value: "\(epochs)", expected: "at least 1") }
        if let threads, threads < 1 { throw .invalidSetting(name: "threads", value: "\(threads)", expected: "at least 1") }
        if let bad = frozenLayers.sorted().first(where: { !(0 ..< stack.layerCount).contains($0) }) {
            throw .invalidSetting(name: "frozenLayers", value: "\(bad)", expected: "a layer index in 0 ..< \(stack.layerCount)")
        }
        self.stack = stack
        self.loss = loss
        self.optimizer = optimizer
        self.batchSize = batchSize
        self.epochs = epochs
        self.seed = seed
        self.frozenLayers = frozenLayers
        self.threads = threads
        self.batchComposition = batchComposition
        // Data parallelism: as many shards as threads, each run forward and backward on its
        // own thread with single-threaded BLAS (see ``step(_:_:)``).
        let shards = max(1, min(threads ?? OpenBLAS.threads, batchSize))
        shardRows = (0 ..< shards).map { batchSize * $0 / shards ..< batchSize * ($0 + 1) / shards }
        workspaces = shardRows.map { stack.makeWorkspace(batchSize: $0.count) }
        let several = shards > 1
        batchOutput = .zeros(several ? [batchSize] + stack.outputShape : [0])
        batchOutputGradient = batchOutput
        summedGradients = several ? stack.layers.map { $0.parameters.map { Tensor.zeros($0.shape) } } : []
        targets = Self.makeTargets(rows: batchSize, stack: stack, loss: loss)
        let layerOfParameter = stack.layers.indices.flatMap { l in stack.layers[l].parameters.map { _ in l } }
        optimizer.prepare(shapes: stack.parameters.map(\.value.shape), trainable: layerOfParameter.map { !frozenLayers.contains($0) })
    }

    static func makeTargets(rows: Int, stack: LayerStack<Scalar>, loss: Loss<Scalar>) -> LossTargets<Scalar> {
        let columns = stack.classDimensions?.classRange ?? 0 ..< stack.outputShape.reduce(1, *)
        let samples = Array(repeating: 0, count: rows)
        if loss.ignoresTargets { return LossTargets(classColumns: columns, samples: samples) }
        return loss.usesLabels
            ? LossTargets(labels: Array(repeating: 0, count: rows), classColumns: columns, samples: samples)
            : LossTargets(values: .zeros([rows] + stack.outputShape), classColumns: columns, samples: samples)
    }

    /// Full batches per epoch on `data`.
    public func stepsPerEpoch(_ data: TensorDataset) -> Int { data.count / batchSize }

    /// Refuses data this stack and loss cannot take, in one line naming the data, the layer and the shapes.
    public func check(_ data: TensorDataset) throws(TrainingError) {
        let takes = stack.inputShape
        // A [28, 28] image feeds a stack taking [784]: the gather writes rows of the same length.
        // An identity classifier's stack takes [x ; 0_C]: the gather pads the class dimensions.
        if data.featureCount != takes.reduce(1, *) && data.featureCount != stack.classDimensions?.features {
            throw .dataMismatch("\(quotedValue(data.source)): samples of shape \(data.sampleShape) (\(data.featureCount) values), but layer 0 (\(stack.layers[0].layerDescription)) takes \(takes)")
        }
        let last = stack.layerCount - 1
        let lastLayer = "layer \(last) (\(stack.layers[last].layerDescription)) gives \(stack.outputShape)"
        if loss.ignoresTargets { return }
        if loss.usesLabels {
            guard let classes = data.classes else {
                throw .dataMismatch("\(quotedValue(data.source)): float targets of shape \(data.targetShape), but the loss \(loss.name) takes class labels")
            }
            if classes > classColumns.count {
                throw .dataMismatch("\(quotedValue(data.source)): \(classes) classes, but \(lastLayer), \(classColumns.count) class scores")
            }
        } else {
            if data.classes != nil {
                throw .dataMismatch("\(quotedValue(data.source)): class labels, but the loss \(loss.name) takes float targets of the output's shape \(stack.outputShape)")
            }
            if data.targetShape.reduce(1, *) != stack.outputShape.reduce(1, *) {
                throw .dataMismatch("\(quotedValue(data.source)): targets of shape \(data.targetShape), but \(lastLayer)")
            }
        }
    }

    /// Trains until ``epochs`` are done or `shouldStop` returns true (checked before every
    /// step). Returns true when all epochs finished. `test`, when given, is evaluated after
    /// every epoch.
    @discardableResult
    public func train(_ data: TensorDataset, test: TensorDataset? = nil, shouldStop: () -> Bool = { false }) throws(TrainingError) -> Bool {
        try check(data)
        if let test {
            try check(test)
            try refuseBatchScopedEvaluation(of: test)
        }
        if batchSize > data.count { throw .batchSizeOutOfRange(batchSize: batchSize, images: data.count) }
        let steps = stepsPerEpoch(data)
        if stepInEpoch > steps {
            throw .invalidProgress(path: "trainer", key: "step_in_epoch", value: "\(stepInEpoch)", expected: "at most the \(steps) steps of an epoch")
        }
        return try OpenBLAS.withThreads(threads) { () throws(TrainingError) in
            try runEpochs(data, test: test, steps: steps, shouldStop: shouldStop)
        }
    }

    private func runEpochs(_ data: TensorDataset, test: TensorDataset?, steps: Int, shouldStop: () -> Bool) throws(TrainingError) -> Bool {
        while epoch < epochs {
            let order = epochOrder(data.count, steps: steps)
            let start = Date()
            var samplesThisRun = 0
            while stepInEpoch < steps {
                if shouldStop() {
                    try checkWeightsAreFinite()
                    return false
                }
                let (loss, correct) = try step(data, order[(stepInEpoch * batchSize) ..< ((stepInEpoch + 1) * batchSize)])
                samplesThisRun += batchSize
                onStep?(StepEvent(
                    epoch: epoch, stepInEpoch: stepInEpoch, stepsPerEpoch: steps, globalStep: globalStep, loss: loss,
                    accuracy: Double(correct) / Double(batchSize),
                    samplesPerSecond: Double(samplesThisRun) / max(Date().timeIntervalSince(start), 1e-9)), self)
            }
            let seconds = Date().timeIntervalSince(start)
            try checkWeightsAreFinite()
            let evaluation = try test.map { test throws(TrainingError) in try evaluate(test) }
            if let evaluation, !evaluation.loss.isFinite {
                throw .diverged(Divergence(quantity: "the test loss", value: evaluation.loss, epoch: epoch + 1, step: stepInEpoch,
                                           globalStep: globalStep, beforeAnyUpdate: false, lastGood: .unknown))
            }
            let seen = Double(max(trainSeen, 1))
            let record = StackEpochRecord(
                epoch: epoch + 1, trainLoss: trainLossSum / seen, trainAccuracy: loss.usesLabels ? Double(trainCorrect) / seen : nil,
                testLoss: evaluation?.loss, testAccuracy: evaluation?.accuracy, learningRate: optimizer.learningRate(max(optimizer.step - 1, 0)),
                samplesPerSecond: Double(samplesThisRun) / max(seconds, 1e-9), seconds: seconds, layerAccuracies: evaluation?.layerAccuracies)
            history.append(record)
            (trainLossSum, trainCorrect, trainSeen) = (0, 0, 0)
            epoch += 1
            stepInEpoch = 0
            onEpoch?(record, self)
        }
        return true
    }

    /// The samples of epoch ``epoch`` in visiting order, batch after batch.
    func epochOrder(_ count: Int, steps: Int) -> [Int] {
        var generator = SeededGenerator(seed: seed &+ UInt64(epoch))
        switch batchComposition {
        case .reshuffled:
            return shuffledIndices(count, using: &generator)
        case .fixed:
            var compositionGenerator = SeededGenerator(seed: seed)
            let members = shuffledIndices(count, using: &compositionGenerator)
            return shuffledIndices(steps, using: &generator).flatMap { members[($0 * batchSize) ..< (($0 + 1) * batchSize)] }
        }
    }

    /// One optimisation step on the samples `batch` of `data` (``batchSize`` of them): forward,
    /// loss, backward, update, all in the buffers made at init.
    ///
    /// With several threads the batch is cut into as many shards of consecutive rows: each
    /// shard runs forward and backward on its own thread, BLAS single-threaded, so every pass
    /// of every layer (im2col, pooling, activations as well as the products) uses every core,
    /// and BLAS's threads never spin beside the workers. The loss sees the whole batch's
    /// output, as without shards; the parameter gradients are the shards' sums added in shard
    /// order, so a run's numbers depend on its thread count (last bits), not on timing.
    @discardableResult
    public func step(_ data: TensorDataset, _ batch: ArraySlice<Int>) throws(TrainingError) -> (loss: Double, correct: Int) {
        require(batch.count == batchSize, "StackTrainer.step: a batch of \(batch.count) samples, the trainer was built for \(batchSize)")
        fillTargets(&targets, data, batch)
        let (value, correct) = workspaces.count == 1 ? try wholeBatchStep(data, batch) : try shardedStep(data, batch)
        stepInEpoch += 1
        globalStep += 1
        trainLossSum += value * Double(batchSize)
        trainCorrect += correct
        trainSeen += batchSize
        return (value, correct)
    }

    private func wholeBatchStep(_ data: TensorDataset, _ batch: ArraySlice<Int>) throws(TrainingError) -> (Double, Int) {
        let workspace = workspaces[0]
        workspace.withInputBuffer { input in
            input.withUnsafeMutableBufferPointer { data.gatherFeatures(batch, into: $0.baseAddress!, rowWidth: inputWidth) }
        }
        stack.forwardInputBuffer(in: workspace)
        let (lossFunction, targets, output) = (loss, targets, workspace.output)
        let value = workspace.withOutputGradientBuffer { gradient in lossFunction(output, targets, gradient: &gradient) }
        try checkLoss(value)
        let correct = loss.usesLabels ? correctPredictions(output, labels: targets.labels, classColumns: targets.classColumns) : 0
        stack.backwardOutputGradientBuffer(in: workspace, inputGradient: false, frozenLayers: frozenLayers)
        optimizer.update(&stack, gradients: workspace, frozenLayers: frozenLayers)
        return (value, correct)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    private func shardedStep(_ data: TensorDataset, _ batch: ArraySlice<Int>) throws(TrainingError) -> (Double, Int) {
        let rows = shardRows
        forwardShards(data, batch, workspaces: workspaces, rows: rows)
        // The loss on the whole batch's output, exactly as without shards.
        gatherOutputs(workspaces, rows: rows, into: &batchOutput)
        let outputWidth = batchOutput.count / batchSize
        let value = loss(batchOutput, targets, gradient: &batchOutputGradient)
        try checkLoss(value)
        let correct = loss.usesLabels ? correctPredictions(batchOutput, labels: targets.labels, classColumns: targets.classColumns) : 0
        for (s, range) in rows.enumerated() {
            let whole = batchOutputGradient
            workspaces[s].withOutputGradientBuffer { part in
                part.withUnsafeMutableBufferPointer { p in
                    whole.withUnsafeBufferPointer { p.baseAddress!.update(from: $0.baseAddress! + range.lowerBound * outputWidth, count: p.count) }
                }
            }
        }
        let shared = ShardedPass(stack: stack, workspaces: workspaces, rows: rows, frozenLayers: frozenLayers)
        OpenBLAS.withThreads(1) {
            DispatchQueue.concurrentPerform(iterations: rows.count) { s in
                shared.stack.backwardOutputGradientBuffer(in: shared.workspaces[s], inputGradient: false, frozenLayers: shared.frozenLayers)
            }
        }
        for l in stack.layers.indices where !frozenLayers.contains(l) {
            for i in summedGradients[l].indices { sumShards(layer: l, index: i) }
        }
        // Optimizer.update(_:gradients:frozenLayers:) from the summed gradients, its slots.
        let (rate, sums, optimizer, frozen) = (optimizer.learningRate(optimizer.step), summedGradients, optimizer, frozenLayers)
        var slot = 0
        stack.updateParameters { layer, index, parameter in
            if !frozen.contains(layer) { optimizer.update(&parameter, gradient: sums[layer][index], slot: slot, learningRate: rate) }
            slot += 1
        }
        optimizer.step += 1
        return (value, correct)
    }

    /// summedGradients[l][i] ← Σ over shards, in shard order.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    private func sumShards(layer l: Int, index i: Int) {
        let count = summedGradients[l][i].count
        summedGradients[l][i].withUnsafeMutableBufferPointer { sum in
            workspaces[0].parameterGradients[l][i].withUnsafeBufferPointer { sum.baseAddress!.update(from: $0.baseAddress!, count: count) }
            for workspace in workspaces.dropFirst() {
                workspace.parameterGradients[l][i].withUnsafeBufferPointer { part in
                    for k in 0 ..< count { sum[k] += part[k] }
                }
            }
        }
    }

    private func checkLoss(_ value: Double) throws(TrainingError) {
        guard value.isFinite else {
            throw .diverged(Divergence(quantity: "the loss", value: value, epoch: epoch + 1, step: stepInEpoch + 1, globalStep: globalStep + 1,
                                       beforeAnyUpdate: optimizer.step == 0, lastGood: .unknown))
        }
    }

    private func fillTargets(_ targets: inout LossTargets<Scalar>, _ data: TensorDataset, _ batch: ArraySlice<Int>) {
        for (row, index) in batch.enumerated() { targets.samples[row] = index }
        if loss.ignoresTargets { return }
        switch data.targets {
        case .labels(let labels, _):
            for (row, index) in batch.enumerated() { targets.labels[row] = labels[index] }
        case .values:
            targets.values.withUnsafeMutableBufferPointer { data.gatherTargets(batch, into: $0.baseAddress!) }
        }
    }

    /// The stack's mean loss, accuracy and (with class dimensions) per-layer readout on `data`,
    /// with the run's OpenBLAS threads, in batches of up to 1,000 (buffers kept for the next call).
    /// A batch-scoped loss (``Loss/isBatchScoped``) throws `.dataMismatch`: its value exists
    /// only on the training batches it was made for.
    public func evaluate(_ data: TensorDataset) throws(TrainingError) -> StackEvaluation {
        try check(data)
        try refuseBatchScopedEvaluation(of: data)
        if data.count == 0 { throw .data(.empty) }
        return OpenBLAS.withThreads(threads) { evaluateChecked(data) }
    }

    /// Evaluating a batch-scoped loss over a split in chunks of up to 1,000 would look the
    /// chunks' rows up as samples of the loss's own dataset: refused, in one line.
    private func refuseBatchScopedEvaluation(of data: TensorDataset) throws(TrainingError) {
        guard loss.isBatchScoped else { return }
        throw .dataMismatch("\(quotedValue(data.source)): the loss \(loss.name) is defined only on the training batches it was made for, "
            + "not over a whole split; measure a split with an objective of its own (TSNEObjective.meanDivergence(of:), EmbeddingEvaluation)")
    }

    private func evaluateChecked(_ data: TensorDataset) -> StackEvaluation {
        let chunk = min(evaluationChunk, data.count)
        let readLayers = stack.classDimensions.map { dims in
            stack.layers.indices.filter { !stack.layers[$0].parameters.isEmpty && stack.shapes[$0 + 1] == [dims.width] }
        }
        var lossSum = 0.0, correct = 0
        var layerCorrect = Array(repeating: 0, count: readLayers?.count ?? 0)
        var start = 0
        while start < data.count {
            let rows = min(chunk, data.count - start)
            var buffers = evaluationBuffers[rows] ?? makeEvaluationBuffers(rows: rows)
            evaluationBuffers[rows] = nil
            let batch = Array(start ..< start + rows)[...]
            fillTargets(&buffers.targets, data, batch)
            forwardShards(data, batch, workspaces: buffers.workspaces, rows: buffers.rows)
            if buffers.workspaces.count > 1 { gatherOutputs(buffers.workspaces, rows: buffers.rows, into: &buffers.output) }
            let output = buffers.workspaces.count > 1 ? buffers.output : buffers.workspaces[0].output
            lossSum += loss(output, buffers.targets, gradient: &buffers.gradient) * Double(rows)
            if loss.usesLabels {
                correct += correctPredictions(output, labels: buffers.targets.labels, classColumns: classColumns)
                for (k, l) in (readLayers ?? []).enumerated() {
                    for (s, range) in buffers.rows.enumerated() {
                        let labels = Array(buffers.targets.labels[range])
                        layerCorrect[k] += correctPredictions(buffers.workspaces[s].activations[l + 1], labels: labels, classColumns: classColumns)
                    }
                }
            }
            evaluationBuffers[rows] = buffers
            start += rows
        }
        let n = Double(data.count)
        return StackEvaluation(
            loss: lossSum / n, accuracy: loss.usesLabels ? Double(correct) / n : nil,
            layerAccuracies: loss.usesLabels ? readLayers.map { _ in layerCorrect.map { Double($0) / n } } : nil)
    }

    private func makeEvaluationBuffers(rows: Int) -> EvaluationBuffers {
        let shards = max(1, min(workspaces.count, rows))
        let ranges = (0 ..< shards).map { rows * $0 / shards ..< rows * ($0 + 1) / shards }
        return EvaluationBuffers(workspaces: ranges.map { stack.makeWorkspace(batchSize: $0.count) }, rows: ranges,
                                 output: .zeros(shards > 1 ? [rows] + stack.outputShape : [0]), gradient: .zeros([rows] + stack.outputShape),
                                 targets: Self.makeTargets(rows: rows, stack: stack, loss: loss))
    }

    /// Gathers each shard's rows of `batch` into its workspace and runs it forward, the shards
    /// on their own threads with single-threaded BLAS (one shard: here, with the run's BLAS).
    private func forwardShards(_ data: TensorDataset, _ batch: ArraySlice<Int>, workspaces: [LayerStackWorkspace<Scalar>], rows: [Range<Int>]) {
        let shared = ShardedPass(stack: stack, workspaces: workspaces, rows: rows, frozenLayers: frozenLayers)
        let width = inputWidth
        let forward: @Sendable (Int) -> Void = { s in
            let workspace = shared.workspaces[s], range = shared.rows[s]
            workspace.withInputBuffer { input in
                input.withUnsafeMutableBufferPointer {
                    data.gatherFeatures(batch[(batch.startIndex + range.lowerBound)...].prefix(range.count), into: $0.baseAddress!, rowWidth: width)
                }
            }
            shared.stack.forwardInputBuffer(in: workspace)
        }
        if workspaces.count == 1 { return forward(0) }
        OpenBLAS.withThreads(1) { DispatchQueue.concurrentPerform(iterations: workspaces.count, execute: forward) }
    }

    /// The shards' outputs, in row order, into one batch output.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    private func gatherOutputs(_ workspaces: [LayerStackWorkspace<Scalar>], rows: [Range<Int>], into output: inout Tensor<Scalar>) {
        let width = output.count / max(rows.last?.upperBound ?? 1, 1)
        output.withUnsafeMutableBufferPointer { whole in
            for (s, range) in rows.enumerated() {
                workspaces[s].output.withUnsafeBufferPointer { part in
                    (whole.baseAddress! + range.lowerBound * width).update(from: part.baseAddress!, count: part.count)
                }
            }
        }
    }

    /// Throws `.diverged` naming the first parameter that is NaN or infinite.
    public func checkWeightsAreFinite() throws(TrainingError) {
        for (name, value) in stack.parameters {
            let bad = value.withUnsafeBufferPointer { $0.first { !$0.isFinite } }
            if let bad {
                throw .diverged(Divergence(quantity: "parameter \(name)", value: Double(bad), epoch: epoch + 1, step: stepInEpoch,
                                           globalStep: globalStep, beforeAnyUpdate: optimizer.step == 0, lastGood: .unknown))
            }
        }
    }
}

/// What the shards' threads share: the stack (read only), their workspaces (each written by its
/// own thread only), their rows. Unchecked: the workspaces are classes, and each is touched by
/// one thread at a time by construction.
private struct ShardedPass<Scalar: BLASScalar>: @unchecked Sendable {
    let stack: LayerStack<Scalar>
    let workspaces: [LayerStackWorkspace<Scalar>]
    let rows: [Range<Int>]
    let frozenLayers: Set<Int>
}
