import ArgumentParser
import CommandSupport
import Datasets
import FileFormats
import Foundation
import IsometrySupport
import Networks
import TensorAlgebra
import Training

#if canImport(Glibc)
import Glibc
#endif

/// `train --widths 1000,300`: a multilayer perceptron of any widths (a layer stack) trained by
/// the general ``StackTrainer``. The default `train` (no --widths) is the identity classifier
/// and its fused trainer, unchanged.
extension Train {
    /// The hidden widths of --widths, checked.
    static func parseWidths(_ text: String) throws -> [Int] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        let widths = parts.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard widths.count == parts.count, !widths.isEmpty, widths.allSatisfy({ (1 ... 100_000).contains($0) }) else {
            throw ValidationError("--widths must be hidden layer widths separated by commas, each from 1 to 100000 (e.g. 1000,300), got '\(text)'")
        }
        return widths
    }

    /// The flags that belong to the identity classifier only, refused with --widths.
    func validateStackFlags() throws {
        if widths != nil && architecture != nil { throw ValidationError("--widths and --architecture exclude each other (an MLP is dense<n> tokens: flatten,dense1000,relu,dense10)") }
        if let widths { _ = try Self.parseWidths(widths) }
        if layers != nil { throw ValidationError("--layers does not apply with --widths (the depth is the number of widths + 1)") }
        if sigma != nil { throw ValidationError("--sigma does not apply with --widths (use --init he, or leave --init out for PyTorch's default)") }
        if let initialization, initialization != .he {
            throw ValidationError("--init \(initialization.rawValue) does not apply with --widths: use he, or leave --init out for PyTorch's default (uniform ±1/√fan-in)")
        }
        if resume != nil { throw ValidationError("--resume with --widths is not supported yet; StackTrainer(resumingFrom:state:) resumes in Swift") }
        if png { throw ValidationError("--png does not apply with --widths (no figures are drawn for a layer stack yet)") }
    }

    /// `out/…/model.safetensors` (the stack, self-describing), `training-state.safetensors`
    /// (optimizer moments, step, epoch), `metrics.json`, `metrics.csv`, written after every epoch.
    func runStack<Scalar: BLASScalar>(_: Scalar.Type) throws {
        let hidden = try widths.map(Self.parseWidths) ?? []
        let images: ImageDataset
        do { images = try ImageDataset(folder: data) } catch let error as IDXError {
            throw UserError(message: "--data: \(error.description)")
        }
        let c = training
        let trainData = c.trainLimit.map { images.train.tensorDataset.prefix($0) } ?? images.train.tensorDataset
        let testData = images.test.tensorDataset
        if c.batchSize > trainData.count { throw UserError(message: "--batch \(c.batchSize) is larger than the \(trainData.count) training images") }
        let nonlinearity = Nonlinearity(activation ?? .relu)
        let widthsAll = [trainData.featureCount] + hidden + [images.train.classes]
        var generator = SeededGenerator(seed: c.seed)
        var stack: LayerStack<Scalar>
        if let architecture {
            // Images as [1, H, W] (one channel), so convolutions see them as planes; the string
            // is checked token by token against that shape before any weight is allocated.
            let shape = trainData.sampleShape.count == 2 ? [1] + trainData.sampleShape : trainData.sampleShape
            do { stack = try LayerStack<Scalar>(architecture: architecture, inputShape: shape, using: &generator) } catch {
                throw UserError(message: "--architecture: \(error.description)")
            }
            guard stack.outputShape == [images.train.classes] else {
                throw UserError(message: "--architecture: the last layer gives \(stack.outputShape), expected [\(images.train.classes)] (one logit per class)")
            }
        } else {
            stack = LayerStack<Scalar>.multilayerPerceptron(widths: widthsAll, activation: nonlinearity, bias: true, using: &generator)
        }
        // Every output checked (and the folder locked) before anything is trained, after the
        // architecture has been accepted.
        let files = ["model.safetensors", "training-state.safetensors", "metrics.json", "metrics.csv"]
        let folder = try prepareOutputFolder(output, files: files)
        if initialization == .he {
            // He (Kaiming) normal: weights N(0, 2/fan-in), biases 0, drawn layer by layer from the seed.
            stack.updateParameters { _, index, parameter in
                if index == 0 {
                    // fan-in = in (dense [out, in]) or in·taps (convolution [out, in, k…]).
                    let scale = Scalar((2 / Double(parameter.count / parameter.shape[0])).squareRoot())
                    let draw = Tensor<Scalar>.randomNormal(parameter.shape, using: &generator)
                    parameter.withUnsafeMutableBufferPointer { w in draw.withUnsafeBufferPointer { d in for i in 0 ..< w.count { w[i] = d[i] * scale } } }
                } else {
                    parameter.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
                }
            }
        }
        let steps = trainData.count / c.batchSize * c.epochs
        let rate: Schedule = c.schedule == .cosine ? .cosine(c.learningRate, steps: steps) : .constant(c.learningRate)
        let optimizer: any Optimizer<Scalar> = switch settings.optimizer ?? .sgd {
        case .sgd: SGD(learningRate: rate, momentum: settings.momentum ?? 0, weightDecay: settings.weightDecay ?? 0)
        case .adam: Adam(learningRate: rate, beta1: settings.beta1 ?? 0.9, beta2: settings.beta2 ?? 0.999, weightDecay: settings.weightDecay ?? 0)
        case .adamw: AdamW(learningRate: rate, beta1: settings.beta1 ?? 0.9, beta2: settings.beta2 ?? 0.999, weightDecay: settings.weightDecay ?? 0.01)
        }
        let trainer: StackTrainer<Scalar>
        do {
            trainer = try StackTrainer(stack: stack, optimizer: optimizer, batchSize: c.batchSize, epochs: c.epochs, seed: c.seed, threads: c.threads)
        } catch { throw UserError(message: error.description) }
        let description = architecture ?? widthsAll.map(String.init).joined(separator: " → ")
        print("training \(architecture == nil ? "an MLP" : "a stack") \(description) \(stack.inputShape) (\(nonlinearity), \(initialization == .he ? "He" : "PyTorch") init, \(stack.parameterCount) parameters), "
            + "\(trainData.count) images, batch \(c.batchSize), \(optimizer.name) lr \(rate), \(c.epochs) epochs, \(settings.precision.rawValue), "
            + "OpenBLAS \(OpenBLAS.coreName) × \(c.threads ?? OpenBLAS.threads)")
        let bar = ProgressBar(label: "epoch")
        trainer.onStep = { event, _ in
            if event.stepInEpoch % 5 == 0 || event.stepInEpoch == event.stepsPerEpoch {
                bar.update(event.stepInEpoch, event.stepsPerEpoch, detail: String(
                    format: "%d/%d  loss %.4f  acc %.1f %%  %.0f samples/s", event.epoch + 1, c.epochs, event.loss,
                    event.accuracy * 100, event.samplesPerSecond))
            }
        }
        var writeError: (any Error)?
        trainer.onEpoch = { record, trainer in
            bar.finish()
            print(String(format: "epoch %d/%d  train loss %.4f  acc %.2f %%  test loss %.4f  acc %.2f %%  %.0f samples/s  %.1f s",
                         record.epoch, c.epochs, record.trainLoss, (record.trainAccuracy ?? 0) * 100, record.testLoss ?? .nan,
                         (record.testAccuracy ?? 0) * 100, record.samplesPerSecond, record.seconds))
            fflush(nil)
            do {
                try Self.writeStackOutputs(trainer, folder: folder, architecture: architecture == nil ? widthsAll : [], layers: architecture, initialization: initialization == .he ? "he" : "pytorch",
                                           configuration: c, precision: settings.precision)
            } catch {
                writeError = writeError ?? error
            }
        }
        signal(SIGINT) { _ in interruptRequested = 1 }
        let finished: Bool
        do { finished = try trainer.train(trainData, test: testData) { interruptRequested != 0 || writeError != nil } } catch {
            bar.finish()
            if case .diverged = error { throw UserError(message: error.description, isInternal: true) }
            throw UserError(message: error.description)
        }
        if let writeError { throw UserError(message: "cannot write \(folder.path): \(writeError)") }
        guard finished else {
            FileHandle.standardError.write(Data("train: interrupted at epoch \(trainer.epoch + 1), step \(trainer.stepInEpoch); the folder holds the last finished epoch\n".utf8))
            Foundation.exit(130)
        }
        let last = trainer.history.last!
        print(String(format: "\ntest accuracy %.2f %% (loss %.4f); wrote %@/{%@}", (last.testAccuracy ?? 0) * 100, last.testLoss ?? .nan,
                     folder.path, files.joined(separator: ", ")))
    }

    /// What `metrics.json` holds for a layer-stack run.
    struct StackMetrics: Codable {
        var architecture: [Int]
        /// The --architecture string, when the stack was given as one (`architecture` is then empty).
        var layers: String?
        var activation: String
        var initialization: String
        var optimizer: String
        var optimizerSettings: [String: Double]
        var configuration: TrainingConfiguration
        var precision: Precision
        var epochs: [StackEpochRecord]
    }

    static func writeStackOutputs<Scalar: BLASScalar>(
        _ trainer: StackTrainer<Scalar>, folder: URL, architecture: [Int], layers: String? = nil, initialization: String, configuration: TrainingConfiguration,
        precision: Precision
    ) throws {
        // The stack file and its training state first, then the metrics: every file atomically.
        try trainer.writeCheckpoint(model: folder.appendingPathComponent("model.safetensors"),
                                    state: folder.appendingPathComponent("training-state.safetensors"))
        let activation = trainer.stack.layers.count > 1 ? trainer.stack.layers[1].layerDescription.kind : "none"
        let metrics = StackMetrics(
            architecture: architecture, layers: layers, activation: activation, initialization: initialization,
            optimizer: trainer.optimizer.name, optimizerSettings: trainer.optimizer.settings, configuration: configuration,
            precision: precision, epochs: trainer.history)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try AtomicFile.write(try encoder.encode(metrics), to: folder.appendingPathComponent("metrics.json"))
        var csv = "epoch,train_loss,train_accuracy,test_loss,test_accuracy,learning_rate,samples_per_second,seconds\n"
        for r in trainer.history {
            csv += "\(r.epoch),\(r.trainLoss),\(r.trainAccuracy ?? .nan),\(r.testLoss ?? .nan),\(r.testAccuracy ?? .nan),\(r.learningRate),\(r.samplesPerSecond),\(r.seconds)\n"
        }
        try AtomicFile.write(Data(csv.utf8), to: folder.appendingPathComponent("metrics.csv"))
    }
}
