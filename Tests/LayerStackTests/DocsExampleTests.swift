import Foundation
import Testing
import Networks
import TensorAlgebra

/// The example of docs/layers.md, with its printed values checked (Scripts/check-examples.sh
/// runs the document's copy).
@Suite struct DocsExampleTests {
    @Test func theLayersDocumentExampleRuns() throws {
        var generator = SeededGenerator(seed: 1)
        let stack = LayerStack<Float>(inputShape: [2, 10]) {
            Flatten()
            Dense(inputs: 20, outputs: 8, using: &generator)
            ActivationLayer(.leakyReLU(slope: 0.1))
            Dense(inputs: 8, outputs: 3, using: &generator)
        }
        #expect(stack.shapes == [[2, 10], [20], [8], [8], [3]])
        #expect(stack.parameterNames == ["1.weight", "1.bias", "3.weight", "3.bias"])
        let batch = Tensor<Float>.randomNormal([4, 2, 10], using: &generator)
        let workspace = stack.makeWorkspace(batchSize: 4)
        stack.forward(batch, in: workspace)
        stack.backward(Tensor<Float>.ones([4, 3]), in: workspace)
        #expect(workspace.inputGradient.shape == [4, 2, 10])
        #expect(workspace.parameterGradients[1][0].shape == [8, 20])
        let x = batch.row(0)
        let (w, b) = stack.linearization(at: x)
        let affine = matvec(w, x.reshaped([20])) + b
        #expect(zip(affine.scalars, stack(x).scalars).allSatisfy { abs($0 - $1) < 1e-5 })
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("stack-example-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try stack.write(to: url)
        let read = try LayerStack<Float>(contentsOf: url)
        #expect(read(batch) == stack(batch))
    }
}
