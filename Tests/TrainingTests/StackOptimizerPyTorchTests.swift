import Datasets
import FileFormats
import Foundation
import Networks
import Testing
import TensorAlgebra
@testable import Training

/// Three steps of SGD with momentum and weight decay, Adam (L2 decay), AdamW and SGD on a mean
/// squared error, each against PyTorch's own optimizer on the same 6 → 5 → 4 → 3 ReLU MLP and
/// batches (Scripts/make_optimizer_fixtures.py, Tests/Fixtures/StackOptimizers).
///
/// Tolerances: float64 to 1e-11 relative (the updates are the same operations in the same
/// order as PyTorch's; what differs is the summation order inside the GEMMs, ~1e-16 per
/// element, grown by three steps of Adam's division by √v); float32 to 1e-5 (its epsilon is 1.2e-7,
/// and Adam's first step moves every weight by about η whatever the gradient's size, so a
/// rounding in a tiny gradient becomes a rounding of η, not of the gradient).
@Suite struct StackOptimizerPyTorchTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/StackOptimizers")

    struct Reference: Decodable { var losses: [String: [Double]] }

    func losses() throws -> [String: [Double]] {
        try JSONDecoder().decode(Reference.self, from: Data(contentsOf: Self.folder.appendingPathComponent("reference.json"))).losses
    }

    func optimizer<Scalar: BLASScalar>(_ name: String, _: Scalar.Type) -> any Optimizer<Scalar> {
        switch name {
        case "sgd": SGD(learningRate: 0.1, momentum: 0.9, weightDecay: 0.01)
        case "adam": Adam(learningRate: 0.01, weightDecay: 0.01)
        case "adamw": AdamW(learningRate: 0.01, weightDecay: 0.1)
        default: SGD(learningRate: 0.05, momentum: 0.5)
        }
    }

    func check<Scalar: BLASScalar>(_ name: String, _: Scalar.Type, precision: String, tolerance: Double) throws {
        let stack = try LayerStack<Scalar>(pytorchStateDict: Self.folder.appendingPathComponent("initial-\(precision).safetensors"), activation: .relu)
        let batches = try SafetensorsFile(contentsOf: Self.folder.appendingPathComponent("batches-\(precision).safetensors"))
        let x = batches.tensor("x", as: Double.self)!
        let mse = name == "sgd-mse"
        let features: TensorDataset.Features = Scalar.self == Float.self ? .float(x.scalars.map { Float($0) }) : .double(x.scalars)
        let targets: TensorDataset.Targets = mse
            ? .values(batches.tensor("targets", as: Double.self)!.scalars, shape: [3])
            : .labels(batches.tensor("labels", as: Double.self)!.scalars.map { Int($0) }, classes: 3)
        let data = try TensorDataset(features: features, sampleShape: [6], targets: targets)
        let trainer = try StackTrainer(stack: stack, loss: mse ? .meanSquaredError : .softmaxCrossEntropy,
                                       optimizer: optimizer(name, Scalar.self), batchSize: 8, threads: 1)
        let losses = try losses()
        let reference = try SafetensorsFile(contentsOf: Self.folder.appendingPathComponent("\(name)-\(precision).safetensors"))
        for k in 0 ..< 3 {
            let (loss, _) = try trainer.step(data, Array(8 * k ..< 8 * k + 8)[...])
            let expectedLoss = losses["\(name)-\(precision)"]![k]
            #expect(abs(loss - expectedLoss) <= tolerance * abs(expectedLoss), "\(name) \(precision) step \(k + 1): loss \(loss) vs \(expectedLoss)")
            for (parameter, value) in trainer.stack.parameters {
                let expected = reference.tensor("step\(k + 1).\(parameter)", as: Double.self)!
                let got = value.scalars.map { Double($0) }
                let error = zip(got, expected.scalars).map { abs($0 - $1) }.max()!
                let scale = expected.scalars.map(abs).max()!
                #expect(error <= tolerance * scale, "\(name) \(precision) step \(k + 1) \(parameter): max error \(error), scale \(scale)")
            }
        }
        #expect(trainer.optimizer.step == 3)
    }

    @Test(arguments: ["sgd", "adam", "adamw", "sgd-mse"])
    func float64StepsMatchPyTorch(_ name: String) throws {
        try check(name, Double.self, precision: "float64", tolerance: 1e-11)
    }

    @Test(arguments: ["sgd", "adam", "adamw", "sgd-mse"])
    func float32StepsMatchPyTorch(_ name: String) throws {
        try check(name, Float.self, precision: "float32", tolerance: 1e-5)
    }
}
