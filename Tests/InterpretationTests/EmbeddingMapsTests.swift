import Foundation
import Interpretation
import Networks
import Testing
import TensorAlgebra

/// The linearised maps of an embedding network (a ReLU MLP with biases ending in 2 outputs,
/// as parametric t-SNE's) against the stack's own Jacobian (J applied to every basis vector,
/// another computation than the backward rows) and its intercepts, in float64: the same
/// products in another order (1e-12 relative).
@Suite struct EmbeddingMapsTests {
    func setup() -> (LayerStack<Double>, Tensor<Double>) {
        var generator = SeededGenerator(seed: 11)
        let stack = LayerStack<Double>.multilayerPerceptron(widths: [9, 16, 12, 2], activation: .relu, using: &generator)
        let inputs = Tensor<Double>(shape: [7, 9], scalars: (0 ..< 63).map { _ in Double.random(in: 0 ... 1, using: &generator) })
        return (stack, inputs)
    }

    @Test func mapsAreTheJacobianAndInterceptOfEveryPoint() throws {
        let (stack, inputs) = setup()
        let maps = try EmbeddingMaps(stack, inputs: inputs)
        #expect(maps.dimensions == 2 && maps.weights.shape == [7, 2, 9])
        #expect(maps.completenessError <= 1e-12)
        for i in 0 ..< 7 {
            let x = Tensor<Double>(shape: [9], scalars: Array(inputs.scalars[(i * 9) ..< ((i + 1) * 9)]))
            let (weight, bias) = stack.linearization(at: x)
            let scale = max(1, weight.scalars.map(abs).max()!)
            for a in 0 ..< 2 {
                for f in 0 ..< 9 { #expect(abs(maps.weights[i, a, f] - weight[a, f]) <= 1e-12 * scale) }
                #expect(abs(maps.biases[i, a] - bias[a]) <= 1e-12 * max(1, abs(bias[a])))
            }
        }
        #expect(try EmbeddingMaps.completenessError(stack, inputs: inputs, chunk: 3) <= 1e-12)
    }

    /// The displacement's pixel terms and bias term add up to y_b − y_a (1e-12: sums of 9 terms).
    @Test func displacementAddsUpToTheStep() throws {
        let (stack, inputs) = setup()
        let maps = try EmbeddingMaps(stack, inputs: inputs)
        let move = maps.displacement(from: 1, to: 4, inputs: inputs)
        let outputs = stack(inputs)
        for a in 0 ..< 2 {
            let total = move.pixels[a].reduce(0, +) + move.bias[a]
            #expect(abs(total - (outputs[4, a] - outputs[1, a])) <= 1e-12 * max(1, abs(total)))
            #expect(abs(move.step[a] - (outputs[4, a] - outputs[1, a])) <= 1e-12 * max(1, abs(total)))
        }
    }
}
