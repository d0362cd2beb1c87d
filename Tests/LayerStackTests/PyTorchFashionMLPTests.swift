import Datasets
import FileFormats
import Foundation
import Networks
import TensorAlgebra
import Testing

/// A PyTorch MLP 784 → 1000 → 300 → 10 (ReLU, biases), trained one epoch on Fashion-MNIST and
/// saved with `safetensors.torch.save_file(model.state_dict())` (Scripts/make_pytorch_mlp.py):
/// Isometry loads it with its activations named and reproduces PyTorch's numbers.
@Suite struct PyTorchFashionMLPTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/PyTorchMLP")

    func model() throws -> LayerStack<Float> {
        try LayerStack<Float>(pytorchStateDict: Self.folder.appendingPathComponent("model.safetensors"), activation: "relu")
    }

    @Test func theStackIsTheSequential() throws {
        let stack = try model()
        #expect(stack.inputShape == [784] && stack.outputShape == [10])
        #expect(stack.parameterNames == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"])
        #expect(stack.parameterCount == 784 * 1000 + 1000 + 1000 * 300 + 300 + 300 * 10 + 10)
    }

    /// Logits of the first 100 test images to 1e-5 relative to their largest magnitude: float32
    /// sums of 1000 products differ between BLAS kernels by a few ulps.
    @Test func logitsAgreeWithPyTorch() throws {
        let data = try ImageDataset(folder: ImageDataset.fashionMNISTFolder).test.prefix(100)
        var batch = Tensor<Float>.zeros([100, 784])
        data.gather(Array(0 ..< 100)[...], into: &batch)
        let logits = try model()(batch)
        let reference = try Tensor<Float>(contentsOfNumpyFile: Self.folder.appendingPathComponent("logits.npy"))
        let scale = reference.scalars.map(abs).max()!
        let error = zip(logits.scalars, reference.scalars).map { abs($0 - $1) }.max()!
        #expect(error / scale < 1e-5, "largest logit difference \(error), scale \(scale)")
    }

    /// The test accuracy equals PyTorch's to the image: every one of the 10,000 predictions.
    @Test func everyPredictionAgreesWithPyTorch() throws {
        let test = try ImageDataset(folder: ImageDataset.fashionMNISTFolder).test
        let reference = try Tensor<Double>(contentsOfNumpyFile: Self.folder.appendingPathComponent("predictions.npy"))
        let stack = try model()
        let workspace = stack.makeWorkspace(batchSize: 1000)
        var batch = Tensor<Float>.zeros([1000, 784])
        var predictions: [Int] = []
        for start in stride(from: 0, to: test.count, by: 1000) {
            test.gather(Array(start ..< start + 1000)[...], into: &batch)
            stack.forward(batch, in: workspace)
            predictions += workspace.output.argmax(alongAxis: 1)
        }
        let expected = reference.scalars.map { Int($0) }
        let disagreements = zip(predictions, expected).filter { $0 != $1 }.count
        #expect(disagreements == 0)
        let correct = zip(predictions, test.labels).filter { $0 == $1 }.count
        #expect(correct == 8295, "PyTorch: 8295 of 10000 (reference.json)")
    }

    /// W(x) equals torch.func.jacrev at 8 test images to 1e-5 relative, and the exact
    /// linearisation is complete: F(x) = W(x)·x + b(x).
    @Test func theLinearisationIsJacrevAndComplete() throws {
        let stack = try model()
        let inputs = try Tensor<Float>(contentsOfNumpyFile: Self.folder.appendingPathComponent("inputs.npy"))
        let jacobians = try Tensor<Float>(contentsOfNumpyFile: Self.folder.appendingPathComponent("jacobians.npy"))
        for i in 0 ..< 8 {
            let x = inputs.row(i).reshaped([784])
            let (weight, bias) = stack.linearization(at: x)
            let reference = jacobians.row(i).reshaped([10, 784])
            let scale = reference.scalars.map(abs).max()!
            let error = zip(weight.scalars, reference.scalars).map { abs($0 - $1) }.max()!
            #expect(error / scale < 1e-5, "image \(i): W(x) differs from jacrev by \(error) (scale \(scale))")
            let output = stack(x)
            let rebuilt = matvec(weight, x) + bias
            let residual = zip(output.scalars, rebuilt.scalars).map { abs($0 - $1) }.max()!
            #expect(residual / output.scalars.map(abs).max()! < 1e-5, "image \(i): completeness \(residual)")
        }
    }

    /// The same network read in double precision: completeness to 1e-12 (the float32 weights
    /// are exact in double; what remains is double rounding of 1000-term sums).
    @Test func theLinearisationIsCompleteInDouble() throws {
        let stack = try LayerStack<Double>(pytorchStateDict: Self.folder.appendingPathComponent("model.safetensors"), activation: "relu")
        let inputs = try Tensor<Double>(contentsOfNumpyFile: Self.folder.appendingPathComponent("inputs.npy"))
        for i in 0 ..< 8 {
            let x = inputs.row(i).reshaped([784])
            let (weight, bias) = stack.linearization(at: x)
            let output = stack(x)
            let rebuilt = matvec(weight, x) + bias
            let residual = zip(output.scalars, rebuilt.scalars).map { abs($0 - $1) }.max()!
            #expect(residual / output.scalars.map(abs).max()! <= 1e-12, "image \(i): completeness \(residual)")
        }
    }
}
