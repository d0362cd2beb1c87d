import Foundation
import Networks
import TensorAlgebra
import Testing

/// The identity classifier as one configuration of the layer stack: its class dimensions travel
/// with the stack and its file.
@Suite struct ClassDimensionsTests {
    func classifier() -> IdentityClassifier<Double> {
        var generator = SeededGenerator(seed: 5)
        return IdentityClassifier(inputFeatures: 6, classes: 3, configuration: ClassifierConfiguration(layers: 3, sigma: 1.6),
                                  using: &generator)
    }

    @Test func theClassifiersStackComputesItsLogits() {
        let classifier = classifier()
        let stack = classifier.stack
        #expect(stack.classDimensions == ClassDimensions(features: 6, classes: 3))
        #expect(stack.inputShape == [9] && stack.outputShape == [9])
        var generator = SeededGenerator(seed: 6)
        let x = Tensor<Double>.randomUniform([4, 6], using: &generator)
        let padded = Tensor<Double>(shape: [4, 9], scalars: (0 ..< 4).flatMap { x.row($0).scalars + [0, 0, 0] })
        let outputs = stack(padded)
        let logits = classifier.logits(x)
        // The same GEMMs in the same order: equal to the last bit, saturated units included.
        #expect(outputs[..., 6 ..< 9] == logits)
        #expect(outputs.scalars.contains { abs($0) > 1 }, "some last pre-activations lie beyond hard-tanh's ±1")
    }

    @Test func classDimensionsRoundTripThroughTheFile() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("classes-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        let stack = classifier().stack
        try stack.write(to: url)
        let back = try LayerStack<Double>(contentsOf: url)
        #expect(back.classDimensions == stack.classDimensions && back.architecture == stack.architecture)
        // A file whose class dimensions do not fit its layers is refused, naming them.
        var architecture = stack.architecture
        architecture.classDimensions = ClassDimensions(features: 7, classes: 3)
        #expect(throws: LayerStackError.self) {
            try LayerStack<Double>(architecture: architecture, parameters: stack.safetensorsFile(), path: "p")
        }
    }
}
