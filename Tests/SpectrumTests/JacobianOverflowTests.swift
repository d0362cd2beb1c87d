import Networks
import Spectrum
import TensorAlgebra
import Testing

@Suite struct JacobianOverflowTests {
    /// Activations that stay finite while the Jacobian does not: inputs of 1e-30 through two
    /// all-ones layers scaled by 1e20 give pre-activations of 4e-10 and 1.6e11, but
    /// J = W₂W₁ = 4·10⁴⁰ per entry, past Float's 3.4·10³⁸. LAPACK answered such a product with
    /// "sgesdd failed with info = -5"; the analyzer names the cause instead.
    @Test func aJacobianThatOverflowsIsNamedNotPassedToLAPACK() throws {
        let w = Tensor<Float>(shape: [4, 4], scalars: [Float](repeating: 1e20, count: 16))
        let network = MultilayerPerceptron(weights: [w, w], activation: .relu)
        let analyzer = JacobianSpectrumAnalyzer(network: network)
        let x = Tensor<Float>(shape: [4], scalars: [Float](repeating: 1e-30, count: 4))
        #expect(throws: SpectrumError.jacobianOverflows(layers: 2, count: 16)) { try analyzer.eigenvalues(at: x) }
        #expect(SpectrumError.jacobianOverflows(layers: 2, count: 16).description
            == "the Jacobian of the 2 layers holds 16 infinite or NaN entries: the weights are too large for this precision at this depth")
        // The same network in Double is fine: the eigenvalue is (4·10⁴⁰)² · 16 for the one non-zero direction.
        let wd = Tensor<Double>(shape: [4, 4], scalars: [Double](repeating: 1e20, count: 16))
        let values = try JacobianSpectrumAnalyzer(network: MultilayerPerceptron(weights: [wd, wd], activation: .relu))
            .eigenvalues(at: Tensor<Double>(shape: [4], scalars: [Double](repeating: 1e-30, count: 4)))
        #expect(abs(values[0] / (16 * 1.6e81) - 1) < 1e-12)
    }
}
