import Datasets
import Foundation
import Interpretation
import Networks
import Spectrum
import TensorAlgebra

/// A network trained elsewhere: the PyTorch MLP 784 → 1000 → 300 → 10 (ReLU) of
/// Tests/Fixtures/PyTorchMLP, saved by `safetensors.torch.save_file(model.state_dict())`. Load it
/// with its activations named, check PyTorch's test accuracy, and linearise 8 test images:
/// F(x) = W(x)·x + b(x) checked against the stack's own forward pass; then the spectrum of
/// J Jᵀ at those test images, checked against the eigenvalues of the W(x) Wᵀ(x) formed here.
func anyNetwork() throws {
    print("(e) a PyTorch MLP as a layer stack: accuracy and exact linearisation of 8 test images")
    let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../../Tests/Fixtures/PyTorchMLP").standardizedFileURL
    let stack = try LayerStack<Float>(pytorchStateDict: fixtures.appendingPathComponent("model.safetensors"), activation: .relu)
    let reference = try JSONSerialization.jsonObject(with: Data(contentsOf: fixtures.appendingPathComponent("reference.json"))) as! [String: Any]
    let test = try ImageDataset(folder: ImageDataset.fashionMNISTFolder).test

    let evaluation = try StackEvaluation(stack, data: test)
    Checks.expect(evaluation.correct == reference["correct"] as? Int,
                  "PyTorch MLP \(stack.shapes.map { "\($0)" }.joined(separator: " → ")): \(evaluation.correct) of \(test.count) test images correct, PyTorch \(reference["correct"] ?? "?")")

    var inputs = Tensor<Float>.zeros([8, 784])
    test.gather(Array(0 ..< 8)[...], into: &inputs)
    let linear = try StackLinearisation(stack, inputs: inputs)   // W(x): [8, 10, 784], b(x): [8, 10]
    let logits = stack(inputs)
    var worst = 0.0
    for i in 0 ..< 8 {
        for k in 0 ..< 10 {
            var rebuilt = Double(linear.biases[i, k])
            for j in 0 ..< 784 { rebuilt += Double(linear.weights[i, k, j]) * Double(inputs[i, j]) }
            worst = max(worst, abs(rebuilt - Double(logits[i, k])) / max(1, abs(Double(logits[i, k]))))
        }
    }
    // Float32 sums of up to 1000 products, rounded in another order than the forward pass:
    // a few ulps of the partial sums, ≈ 1e-6 here; 1e-5 is the bound the tests use.
    Checks.expect(worst <= 1e-5, String(format: "completeness over 8 images × 10 logits: %.1e (library's own check %.1e)", worst, linear.completenessError))
    let predicted = (0 ..< 10).max { logits[0, $0] < logits[0, $1] }!
    let shares = linear.attribution(instance: 0, unit: predicted, input: inputs.row(0).scalars)
    print(String(format: "  image 0 (label %d): logit %d = %.3f = Σ pixel shares %.3f + bias share %.3f",
                 test.labels[0], predicted, logits[0, predicted], shares.reduce(0, +), linear.biases[0, predicted]))

    // The spectrum of J Jᵀ at the same test images: the analyzer's eigenvalues against those of
    // W(x) W(x)ᵀ formed from the linearisation (J = W(x) for a piecewise-linear network).
    let analyzer = LayerStackSpectrumAnalyzer(stack: stack)
    var spectrumError = 0.0
    var all: [Double] = []
    for i in 0 ..< 8 {
        let values = try analyzer.eigenvalues(at: inputs.row(i).reshaped([784]))
        let w = Tensor<Double>(shape: [10, 784], scalars: (0 ..< 7840).map { Double(linear.weights[i, $0 / 784, $0 % 784]) })
        let reference = try eigvalsh(matmul(w, w, transposeB: true)).scalars.sorted(by: >)
        let top = reference[0]
        spectrumError = max(spectrumError, zip(values, reference).map { abs($0 - $1) / top }.max()!)
        all += values
    }
    // Float32 J against a J Jᵀ formed in double from the same float32 W(x): 1e-5 of λ_max.
    Checks.expect(spectrumError <= 1e-5, String(format: "J Jᵀ at 8 test images: mean eigenvalue %.3f, λ_max %.2f; agrees with eig(W Wᵀ) to %.1e of λ_max",
                                                  all.reduce(0, +) / Double(all.count), all.max()!, spectrumError))
}
