import ArgumentParser
import CommandSupport
import Datasets
import FileFormats
import Figures
import Foundation
import Interpretation
import IsometrySupport
import Networks
import Reports
import TensorAlgebra
import Training

/// `swift run -c release embed`: trains a parametric t-SNE network (van der Maaten 2009) on an
/// image dataset and writes the test split's embedding, its scatter figure, its quality
/// numbers and the linearised maps of a few of its images. A command of its own rather than a
/// mode of `train`: its outputs (an embedding, not a classifier's accuracy), its flags
/// (perplexity, degrees of freedom, dimensions) and its refusals share little with train's.
@main
struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Train a parametric t-SNE network on MNIST-format data and embed its test split.",
        discussion: "Writes model.safetensors, embedding.npy, embedding.csv, embedding.svg and embedding-column.svg, maps.svg and "
            + "maps-column.svg, and report.json (trustworthiness, k-NN accuracies, KL, completeness) in --output.")

    static func main() { mainWithOneLineErrors(name: "embed") }

    static let defaultArchitecture = "dense500,relu,dense500,relu,dense2000,relu,dense2"
    /// The test images the report's measures need: trustworthiness at k = 12 and the 10-NN accuracy.
    static let minimumTestImages = EmbeddingEvaluation.minimumSamples(trustworthinessNeighbours: 12)
    static let files = ["model.safetensors", "embedding.npy", "embedding.csv", "embedding.svg", "embedding-column.svg", "maps.svg",
                        "maps-column.svg", "displacement.npy", "report.json"]

    @Option(help: "MNIST-format folder (train-images-idx3-ubyte.gz, …) or a folder of x_train.npy, y_train.npy, x_test.npy, y_test.npy.")
    var data = ImageDataset.fashionMNISTFolder
    @Option(help: "The network, one token per module on the flattened images (docs/layers.md) (default: van der Maaten's \(defaultArchitecture)).")
    var architecture = defaultArchitecture
    @Option(help: "Coordinates of the embedding: the network's outputs.") var dimensions = 2
    @Option(help: "Perplexity of the input affinities: the effective number of neighbours, below the batch size minus one.") var perplexity = 30.0
    @Option(name: .customLong("degrees-of-freedom"), help: "α of the Student-t kernel of the outputs (1: t-SNE's).") var degreesOfFreedom = 1.0
    @Option(help: "Mini-batch size: the points each P and Q compare.") var batch = 500
    @Option(help: "Epochs over the training images.") var epochs = 30
    @Option(help: "Adam's learning rate.") var lr = 1e-3
    @Option(help: "Train on the first N training images (default: all).") var limit: Int?
    @Option(help: "Embed and measure the first N test images (default: all).") var testLimit: Int?
    @Option(help: "Random seed (initialisation, batch compositions and order).") var seed: UInt64 = 0
    @Option(help: "Threads (default: OpenBLAS's).") var threads: Int?
    @Option(help: "Test images whose linearised maps are drawn, by index, comma-separated.") var explain = "0,1,2,3"
    @Option(help: ArgumentHelp("Output folder.", valueName: "folder")) var output = "out/embed"

    func validate() throws {
        if batch < 2 { throw ValidationError("--batch must be at least 2 (t-SNE compares the points of a batch), got \(batch)") }
        if !(perplexity.isFinite && perplexity > 0) { throw ValidationError("--perplexity must be a positive number, got \(perplexity)") }
        if perplexity >= Double(batch - 1) {
            throw ValidationError("--perplexity \(perplexity) must be below the batch size minus one (--batch \(batch): \(batch - 1) neighbours per point)")
        }
        try requirePositive(degreesOfFreedom, "--degrees-of-freedom")
        try requirePositive(lr, "--lr")
        try requireRange(dimensions, 1 ... 1000, "--dimensions")
        try requireRange(epochs, 1 ... 100_000, "--epochs")
        if let limit { try requireRange(limit, batch ... Int.max, "--limit (at least one batch)") }
        if let testLimit, testLimit < Self.minimumTestImages {
            throw ValidationError("--test-limit must be at least \(Self.minimumTestImages) (trustworthiness at k = 12 needs k < n/2, the 10-NN accuracy 11 points), got \(testLimit)")
        }
        if let threads { try requireRange(threads, 1 ... 1024, "--threads") }
        _ = try explainedImages()
    }

    func explainedImages() throws -> [Int] {
        let parts = explain.split(separator: ",")
        let values = parts.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard values.count == parts.count, values.allSatisfy({ $0 >= 0 }), values.count <= 16 else {
            throw ValidationError("--explain must be up to 16 test image indices separated by commas (e.g. 0,1,2,3), got '\(quotedValue(explain))'")
        }
        return values
    }

    /// What report.json holds.
    struct Report: Codable {
        var architecture: String
        var dimensions: Int
        var trainImages: Int
        var batchSize: Int
        var epochs: Int
        var learningRate: Double
        var seed: UInt64
        var test: EmbeddingEvaluation
        /// The worst completeness error of the linearisation over the test split (float32),
        /// relative: |W(x)x + b(x) − f(x)| / max(1, |f(x)|).
        var completenessError: Double
        /// The same worst error, absolute (in the embedding's units).
        var completenessAbsoluteError: Double
        var trainingSeconds: Double
        var embedSeconds: Double
        var history: [StackEpochRecord]
        var explained: [Int]
        /// The first --explain image and its nearest test point of another class, in the plane.
        var neighbourPair: NeighbourPair?
    }

    /// What moves image `from`'s point to image `to`'s: y_to − y_from = Σ pixel terms + bias
    /// difference, exactly (EmbeddingMaps.displacement); displacement.npy holds the pixel terms.
    struct NeighbourPair: Codable {
        var from: Int, to: Int
        var fromLabel: Int, toLabel: Int
        var step: [Double]
        var pixelShare: [Double]
        var biasShare: [Double]
        /// Per coordinate, the 10 pixels whose terms are largest in magnitude (index, term).
        var strongestPixels: [[[Double]]]
    }

    func run() throws {
        let splits: DatasetSplits
        do { splits = try DatasetSplits(folder: data) } catch { throw UserError(message: "--data: \(error.description)") }
        let train = limit.map { splits.train.prefix(min($0, splits.train.count)) } ?? splits.train
        let test = testLimit.map { splits.test.prefix(min($0, splits.test.count)) } ?? splits.test
        if train.count < batch { throw UserError(message: "--batch \(batch): more than the \(train.count) training images") }
        if test.count < batch { throw UserError(message: "--batch \(batch): more than the \(test.count) test images, over whose batches KL(P‖Q) is measured") }
        if test.count < Self.minimumTestImages {
            throw UserError(message: "--data: the test split has \(test.count) images, fewer than the \(Self.minimumTestImages) that trustworthiness at k = 12 (k < n/2) and the 10-NN accuracy need")
        }
        // DatasetSplits reads labels for both splits today; refuse rather than measure k-NN on none.
        guard let testLabels = test.labels else { throw UserError(message: "--data: the test split has no labels, which the k-NN accuracies need") }
        let explained = try explainedImages()
        if let bad = explained.first(where: { $0 >= test.count }) {
            throw UserError(message: "--explain: image \(bad) is outside the \(test.count) test images")
        }
        var generator = SeededGenerator(seed: seed)
        var stack: LayerStack<Float>
        do { stack = try LayerStack<Float>(architecture: architecture, inputShape: [train.featureCount], using: &generator) } catch {
            throw UserError(message: "--architecture: \(error.description)")
        }
        let outputs = stack.outputShape.reduce(1, *)
        if stack.outputShape.count != 1 || outputs != dimensions {
            throw UserError(message: "--architecture '\(quotedValue(architecture))' gives outputs of shape \(stack.outputShape), but the embedding has --dimensions \(dimensions)")
        }
        // The loss's B × B matrices and cached P beside the network's buffers: the training
        // objective's (one P per fixed batch) and the test split's, made for its KL.
        let lossBytes = TSNEObjective<Float>.estimatedBytes(batchSize: batch, features: train.featureCount, outputWidth: dimensions,
                                                            cachedBatches: min(train.count / batch, TSNEObjective<Float>.defaultMaximumCachedBatches))
            + TSNEObjective<Float>.estimatedBytes(batchSize: batch, features: test.featureCount, outputWidth: dimensions,
                                                  cachedBatches: min(test.count / batch, TSNEObjective<Float>.defaultMaximumCachedBatches))
        do { try stack.checkTrainingMemory(batchSize: batch, evaluationBatchSize: min(1000, test.count), lossBytes: lossBytes) } catch {
            throw UserError(message: "--batch \(batch): \(error.description)")
        }
        let folder = try prepareOutputFolder(output, files: Self.files)
        let objective: TSNEObjective<Float>
        let trainer: StackTrainer<Float>
        do {
            objective = try TSNEObjective(data: train, perplexity: perplexity, degreesOfFreedom: degreesOfFreedom, batchSize: batch)
            trainer = try StackTrainer(stack: stack, loss: objective.loss, optimizer: Adam(learningRate: .constant(lr)), batchSize: batch,
                                       epochs: epochs, seed: seed, threads: threads, batchComposition: .fixed)
        } catch { throw UserError(message: error.description) }
        print("training parametric t-SNE \(architecture) on \(train.count) images (\(stack.parameterCount) parameters), batch \(batch), "
            + "perplexity \(perplexity), α \(degreesOfFreedom), Adam lr \(lr), \(epochs) epochs, OpenBLAS \(OpenBLAS.coreName) × \(threads ?? OpenBLAS.threads)")
        trainer.onStep = { event, _ in
            if event.stepInEpoch % 2 == 0 || event.stepInEpoch == event.stepsPerEpoch {
                ProgressBar(label: "epoch \(event.epoch + 1)/\(epochs)").update(
                    event.stepInEpoch, event.stepsPerEpoch, detail: String(format: "steps  KL %.4f  %.0f samples/s", event.loss, event.samplesPerSecond))
            }
        }
        trainer.onEpoch = { record, _ in
            print(String(format: "epoch %d/%d  KL(P‖Q) %.4f  %.0f samples/s in %.1f s%@", record.epoch, epochs, record.trainLoss,
                         record.samplesPerSecond, record.seconds, record.epoch == 1 ? " (each batch's P computed in this epoch)" : ""))
            fflush(nil)
        }
        let started = Date()
        do { try trainer.train(train) } catch {
            if case .diverged = error { throw UserError(message: error.description, isInternal: true) }
            throw UserError(message: error.description)
        }
        let trainingSeconds = Date().timeIntervalSince(started)
        stack = trainer.stack

        let inputs = EmbeddingEvaluation.features(test, as: Float.self)
        let embedStart = Date()
        let embedding = OpenBLAS.withThreads(threads) { EmbeddingEvaluation.embed(stack, inputs: inputs) }
        let embedSeconds = Date().timeIntervalSince(embedStart)
        let evaluation: EmbeddingEvaluation
        let completeness: (relative: Double, absolute: Double)
        let maps: EmbeddingMaps<Float>
        var chosen = Tensor<Float>.zeros([explained.count, inputs.shape[1]])
        chosen.withUnsafeMutableBufferPointer { c in
            inputs.withUnsafeBufferPointer { x in
                for (r, i) in explained.enumerated() { (c.baseAddress! + r * x.count / test.count).update(from: x.baseAddress! + i * x.count / test.count, count: x.count / test.count) }
            }
        }
        do {
            evaluation = try EmbeddingEvaluation(inputs: inputs, embedding: embedding, data: test, labels: testLabels,
                                                 perplexity: perplexity, degreesOfFreedom: degreesOfFreedom, batchSize: batch)
            completeness = try EmbeddingMaps.completenessErrors(stack, inputs: inputs)
            maps = try EmbeddingMaps(stack, inputs: chosen)
        } catch { throw UserError(message: "\(error)") }

        try stack.write(to: folder.appendingPathComponent("model.safetensors"))
        try embedding.writeNumpyFile(to: folder.appendingPathComponent("embedding.npy"))
        let labels = testLabels
        var csv = (0 ..< dimensions).map { "y\($0 + 1)" }.joined(separator: ",") + ",label\n"
        embedding.withUnsafeBufferPointer { e in
            for i in 0 ..< test.count {
                csv += (0 ..< dimensions).map { "\(e[i * dimensions + $0])" }.joined(separator: ",") + ",\(labels[i])\n"
            }
        }
        try writeAtomically(csv, to: folder.appendingPathComponent("embedding.csv").path, flag: "--output")
        let names = splits.classes == 10 && test.sampleShape.reduce(1, *) == 784 && data == ImageDataset.fashionMNISTFolder
            ? ImageDataset.fashionMNISTClassNames : (0 ..< max(splits.classes, 1)).map { "class \($0)" }
        let e = embedding.scalars.map(Double.init)
        let title = String(format: "Parametric t-SNE of %d test images: 1-NN %.1f %%, T(12) %.3f", test.count,
                           evaluation.oneNeighbourAccuracy * 100, evaluation.trustworthiness)
        let imageShape = test.sampleShape.count == 2 ? test.sampleShape : [test.featureCount, 1]
        for width in FigureWidth.allCases {
            if dimensions >= 2 {
                let scatter = embeddingScatter(x: stride(from: 0, to: e.count, by: dimensions).map { e[$0] },
                                               y: stride(from: 1, to: e.count, by: dimensions).map { e[$0] },
                                               labels: labels, classNames: names, title: title, width: width)
                try scatter.write(to: folder.appendingPathComponent(width.fileName("embedding.svg")))
                let d = inputs.shape[1]
                let figure = embeddingMapsFigure(
                    images: explained.indices.map { r in chosen.scalars[(r * d) ..< ((r + 1) * d)].map(Double.init) },
                    maps: explained.indices.map { r in (0 ..< 2).map { a in (0 ..< d).map { Double(maps.weights[r, a, $0]) } } },
                    points: explained.indices.map { r in (0 ..< 2).map { Double(maps.outputs[r, $0]) } },
                    biases: explained.indices.map { r in (0 ..< 2).map { Double(maps.biases[r, $0]) } },
                    captions: explained.map { "test image \($0) (\(names[labels[$0] % names.count]))" },
                    imageShape: imageShape, title: "Linearised embedding maps: y = W(x)·x + b(x)", width: width)
                try figure.write(to: folder.appendingPathComponent(width.fileName("maps.svg")))
            }
        }
        var pair: NeighbourPair?
        if let a = explained.first, dimensions >= 1 {
            // The nearest test point of another class: the boundary between two clusters.
            let others = (0 ..< test.count).filter { labels[$0] != labels[a] }
            let k = dimensions
            if let b = others.min(by: { i, j in
                (0 ..< k).reduce(0.0) { $0 + pow(Double(e[i * k + $1] - e[a * k + $1]), 2) }
                    < (0 ..< k).reduce(0.0) { $0 + pow(Double(e[j * k + $1] - e[a * k + $1]), 2) }
            }) {
                let d = inputs.shape[1]
                var two = Tensor<Float>.zeros([2, d])
                two.withUnsafeMutableBufferPointer { t in
                    inputs.withUnsafeBufferPointer { x in
                        t.baseAddress!.update(from: x.baseAddress! + a * d, count: d)
                        (t.baseAddress! + d).update(from: x.baseAddress! + b * d, count: d)
                    }
                }
                let pairMaps: EmbeddingMaps<Float>
                do { pairMaps = try EmbeddingMaps(stack, inputs: two) } catch { throw UserError(message: "\(error)") }
                let move = pairMaps.displacement(from: 0, to: 1, inputs: two)
                pair = NeighbourPair(
                    from: a, to: b, fromLabel: labels[a], toLabel: labels[b], step: move.step, pixelShare: move.pixels.map { $0.reduce(0, +) },
                    biasShare: move.bias,
                    strongestPixels: move.pixels.map { terms in
                        terms.indices.sorted { abs(terms[$0]) > abs(terms[$1]) }.prefix(10).map { [Double($0), terms[$0]] }
                    })
                let terms = Tensor<Float>(shape: [k, d], scalars: move.pixels.flatMap { $0.map(Float.init) })
                try terms.writeNumpyFile(to: folder.appendingPathComponent("displacement.npy"))
            }
        }
        let report = Report(architecture: architecture, dimensions: dimensions, trainImages: train.count, batchSize: batch, epochs: epochs,
                            learningRate: lr, seed: seed, test: evaluation, completenessError: completeness.relative, completenessAbsoluteError: completeness.absolute, trainingSeconds: trainingSeconds,
                            embedSeconds: embedSeconds, history: trainer.history, explained: explained, neighbourPair: pair)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try AtomicFile.write(try encoder.encode(report), to: folder.appendingPathComponent("report.json"))
        print(String(format: "test split (%d images): trustworthiness(12) %.4f, 1-NN %.2f %%, 10-NN %.2f %% (leave-one-out), KL %.4f, completeness %.2e (relative; absolute %.2e); "
                        + "training %.1f s, embedding %.3f s; wrote %@", test.count, evaluation.trustworthiness, evaluation.oneNeighbourAccuracy * 100,
                     evaluation.tenNeighbourAccuracy * 100, evaluation.divergence, completeness.relative, completeness.absolute, trainingSeconds, embedSeconds, folder.path))
    }
}
