import Datasets
import Foundation
import Interpretation
import Networks
import TensorAlgebra

/// F(x) = W(x)·x + b(x) for 8 test images, checked here against the network's own logits:
/// completeness must hold at float32 rounding level.
func linearise(_ classifier: IdentityClassifier<Float>) throws {
    let test = try ImageDataset(folder: ImageDataset.fashionMNISTFolder).test
    var inputs = Tensor<Float>.zeros([8, classifier.width])
    test.gather(Array(0 ..< 8)[...], into: &inputs)
    let linear = try InstanceLinearisation(classifier, inputs: inputs)
    let logits = classifier.logits(inputs)
    let (c, n) = (classifier.classes, classifier.width)
    var worst = 0.0
    for i in 0 ..< 8 {
        for k in 0 ..< c {
            var reconstructed = Double(linear.biases[i, k])
            for j in 0 ..< n { reconstructed += Double(linear.weights[i, k, j]) * Double(inputs[i, j]) }
            worst = max(worst, abs(reconstructed - Double(logits[i, k])) / max(1, abs(Double(logits[i, k]))))
        }
    }
    // A sum of N = 794 float32 products each rounded once: |error| ≲ N·2⁻²⁴·max|term| ≈ 5e-5,
    // far below any attribution that matters; 1e-4 leaves a margin of 2.
    Checks.expect(worst <= 1e-4, String(format: "completeness: max |W(x)x + b(x) − F(x)| / max(1, |F(x)|) = %.1e over 8 images × %d classes", worst, c))
}
