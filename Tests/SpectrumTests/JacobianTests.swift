import Foundation
import Networks
import Testing
import TensorAlgebra
@testable import Spectrum

/// J Jᵀ's eigenvalues the slow, obvious way: J = D^L W^L ⋯ D^1 W^1 with explicit diagonal
/// matrices, then LAPACK's symmetric eigensolver on J Jᵀ.
func referenceJacobian(_ network: MultilayerPerceptron<Double>, at input: Tensor<Double>) -> Tensor<Double> {
    var j = Tensor<Double>.identity(network.inputWidth)
    for (w, h) in zip(network.weights, network.preActivations(input)) {
        let d = Tensor<Double>.diagonal(h.map { network.activation.derivative($0) })
        j = matmul(d, matmul(w, j))
    }
    return j
}

@Suite struct JacobianTests {
    @Test func jacobianMatchesCentralFiniteDifferences() throws {
        // Smooth activations and piecewise-linear ones away from their kinks. Central
        // differences with step 1e-6 have truncation error ~1e-12·|φ'''| and rounding error
        // ~1e-16/1e-6 = 1e-10, so 1e-7 relative to the largest entry is a safe bound.
        for activation in [Activation.tanh, .erf, .hardTanh, .relu, .linear] {
            var generator = SeededGenerator(seed: 17)
            let network = MultilayerPerceptron<Double>.gaussian(
                width: 7, layers: 4, sigmaW: 1.3, sigmaB: 0.2, activation: activation, using: &generator)
            let x = Tensor<Double>.randomNormal([7], standardDeviation: 0.7, using: &generator)
            let j = try JacobianSpectrumAnalyzer(network: network).jacobian(at: x)
            let step = 1e-6
            var worst = 0.0
            var scale = 0.0
            for c in 0 ..< 7 {
                var plus = x, minus = x
                plus[c] += step
                minus[c] -= step
                let column = (network(plus) - network(minus)) / (2 * step)
                for r in 0 ..< 7 {
                    worst = max(worst, abs(column[r] - j[r, c]))
                    scale = max(scale, abs(j[r, c]))
                }
            }
            #expect(worst <= 1e-7 * max(scale, 1), "\(activation): max difference \(worst)")
        }
    }

    @Test func activeSubnetworkGivesTheDenseSpectrum() throws {
        for (activation, weights) in [(Activation.relu, "gaussian"), (.hardTanh, "orthogonal"), (.tanh, "gaussian")] {
            var generator = SeededGenerator(seed: 23)
            let network: MultilayerPerceptron<Double> = weights == "gaussian"
                ? .gaussian(width: 40, layers: 6, sigmaW: 1.4, sigmaB: 0.1, activation: activation, using: &generator)
                : .orthogonal(width: 40, layers: 6, sigmaW: 1.1, sigmaB: 0.2, activation: activation, using: &generator)
            let x = Tensor<Double>.randomNormal([40], standardDeviation: 0.8, using: &generator)
            let analyzer = JacobianSpectrumAnalyzer(network: network)
            let reference = referenceJacobian(network, at: x)
            // Same J entry by entry, then the same eigenvalues (descending) as eigh of J Jᵀ.
            let j = try analyzer.jacobian(at: x)
            let scale = reference.scalars.map(abs).max()!
            #expect(zip(j.scalars, reference.scalars).allSatisfy { abs($0 - $1) <= 1e-12 * scale })
            let measured = try analyzer.eigenvalues(at: x)
            let expected = try eigvalsh(matmul(reference, reference, transposeB: true)).scalars.reversed()
            let top = expected.first!
            for (a, b) in zip(measured, expected) {
                #expect(abs(a - b) <= 1e-11 * top, "\(activation): \(a) vs \(b)")
            }
            #expect(measured.count == 40)
        }
    }

    @Test func identityWeightsTakeTheDiagonalRoute() throws {
        let network = MultilayerPerceptron<Double>.identity(width: 5, layers: 3, sigma: 1.2, activation: .hardTanh)
        let analyzer = JacobianSpectrumAnalyzer(network: network)
        #expect(analyzer.isDiagonal)
        // Inputs 0.1, −0.5, 0.6, 2, 0.3: |1.2³ u| < 1 keeps a unit (σ > 1: the last layer saturates
        // first), so 0.1, −0.5 and 0.3 give 1.2⁶ and the others 0.
        let x = Tensor<Double>([0.1, -0.5, 0.6, 2, 0.3])
        let values = try analyzer.eigenvalues(at: x)
        let top: Double = Foundation.pow(1.2, 6.0)
        #expect(values.count == 5)
        for (a, b) in zip(values, [top, top, top, 0, 0]) { #expect(abs(a - b) <= 1e-14 * top) }
        // The diagonal route agrees with the reference product.
        let j = try analyzer.jacobian(at: x)
        #expect(zip(j.scalars, referenceJacobian(network, at: x).scalars).allSatisfy { abs($0 - $1) <= 1e-14 })
    }

    @Test func floatAndDoubleAgree() throws {
        var g1 = SeededGenerator(seed: 31)
        let double = MultilayerPerceptron<Double>.gaussian(width: 30, layers: 5, sigmaW: 2.0.squareRoot(), activation: .relu, using: &g1)
        var g2 = SeededGenerator(seed: 31)
        let float = MultilayerPerceptron<Float>.gaussian(width: 30, layers: 5, sigmaW: 2.0.squareRoot(), activation: .relu, using: &g2)
        var g3 = SeededGenerator(seed: 5)
        let x = Tensor<Double>.randomNormal([30], using: &g3)
        let a = try JacobianSpectrumAnalyzer(network: double).eigenvalues(at: x)
        let b = try JacobianSpectrumAnalyzer(network: float).eigenvalues(at: x.converted(to: Float.self))
        // Float: ~1e-6 relative per operation through 5 layers; compare to the largest value.
        for (u, v) in zip(a, b) { #expect(abs(u - v) <= 1e-4 * a[0]) }
    }
}
