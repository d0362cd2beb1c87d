import Foundation
import Networks
import Testing
@testable import Spectrum

/// Free probability with one active fraction per layer (docs/theory.md §6), against the
/// fixed-point law it generalises and against the closed form of two free projections.
@Suite struct LayerwiseFreeProbabilityTests {
    /// With every p_l = p the equation is FreeProbabilityLaw's, written with a running product
    /// instead of a power, and the edge comes from bisection instead of the closed form: the
    /// moments agree to rounding, λ_max to the bisection's 1e-15 in M (1e-12 in λ), and the
    /// tabulated tails to 1e-9 (the same grid, densities that differ by rounding).
    @Test func equalFractionsGiveTheFixedPointLaw() {
        for (weights, sigmaW2, p, layers) in [
            (FreeProbabilityLaw.Weights.orthogonal, 2.0, 0.5, 8), (.gaussian, 1.0 / 0.682689, 0.682689, 8),
            (.orthogonal, 1.1, 0.9, 5), (.gaussian, 1.5, 1.0, 1), (.orthogonal, 1.3, 0.8, 3),
        ] {
            let fixed = FreeProbabilityLaw(weights: weights, sigmaW2: sigmaW2, p: p, layers: layers)
            let layerwise = LayerwiseFreeProbabilityLaw(weights: weights, sigmaW2: sigmaW2, activeFractions: Array(repeating: p, count: layers))
            expectNear(layerwise.mean, fixed.mean, relative: 1e-13)
            expectNear(layerwise.variance, fixed.variance, relative: 1e-12)
            expectNear(layerwise.lambdaMax, fixed.lambdaMax, relative: 1e-12)
            #expect(layerwise.atoms.count == fixed.atoms.count)
            for (a, b) in zip(layerwise.atoms, fixed.atoms) {
                expectNear(a.location, b.location, relative: 1e-14)
                expectNear(a.mass, b.mass, absolute: 1e-14)
            }
            let (l1, l2) = (layerwise.law(), fixed.law())
            for x in [0.01, 0.1, 1, 3].map({ $0 * fixed.mean }) { expectNear(l1.tail(x), l2.tail(x), absolute: 1e-9) }
        }
    }

    /// Two orthogonal layers: J Jᵀ = σ⁴ D₂ (H₂ D₁ H₂ᵀ) D₂, σ⁴ times the product P Q P of free
    /// projections of traces a = p₂ and b = p₁, whose law is known in closed form (Voiculescu):
    /// atoms 1 − min(a, b) at 0 and max(0, a + b − 1) at 1, and the density
    /// √((x − λ₋)(λ₊ − x)) / (2π x (1 − x)) on [λ₋, λ₊], λ± = a + b − 2ab ± √(4ab(1 − a)(1 − b)).
    /// The tails are the closed form's by the midpoint rule on 200 000 cells (error ~1e-7);
    /// 5e-4 is the law's own quadrature error (a log grid of 60 points per decade, trapezoids).
    @Test func twoOrthogonalLayersAreTwoFreeProjections() {
        for (sigmaW2, p1, p2) in [(1.0, 0.7, 0.85), (1.2, 0.9, 0.6), (2.0, 0.5, 0.5), (1.0, 0.3, 0.4)] {
            let law = LayerwiseFreeProbabilityLaw(weights: .orthogonal, sigmaW2: sigmaW2, activeFractions: [p1, p2])
            let (a, b) = (p2, p1)
            let root = (4 * a * b * (1 - a) * (1 - b)).squareRoot()
            let (low, high) = (a + b - 2 * a * b - root, a + b - 2 * a * b + root)
            let scale = sigmaW2 * sigmaW2
            let atTop = max(0, a + b - 1)
            // λ_max: the continuous part's edge, or the atom at σ⁴ above it.
            expectNear(law.lambdaMax, atTop > 0 ? scale : scale * high, relative: 1e-9)
            let zero = law.atoms.first { $0.location == 0 }?.mass ?? 0
            expectNear(zero, 1 - min(a, b), absolute: 1e-14)
            expectNear(law.atoms.first { $0.location > 0 }?.mass ?? 0, atTop, absolute: 1e-14)
            let tabulated = law.law()
            let cells = 200_000
            let width = (high - low) / Double(cells)
            for x in [0.1, 0.3, 0.5, 0.8].map({ low + $0 * (high - low) }) {
                var mass = 0.0
                for k in 0 ..< cells {
                    let t = low + (Double(k) + 0.5) * width
                    if t > x { mass += ((t - low) * (high - t)).squareRoot() / (2 * Double.pi * t * (1 - t)) * width }
                }
                expectNear(tabulated.tail(scale * x), mass + atTop, absolute: 5e-4)
            }
            expectNear(law.mean, scale * a * b, relative: 1e-14)
        }
    }

    /// ReLU at L = 2 (L(1 − p) = 1) has no atom at σ_w⁴ but a density diverging there like
    /// 1/√(σ_w⁴ − λ): P(λ > σ_w⁴/4) = 1/3 and P(λ ≤ x) = (2/π) arcsin(√(x/σ_w⁴)) · ½ in closed
    /// form (the arcsine law of two free projections of trace ½). Tabulated through the top,
    /// the spike counted 0.039 too much; integrated in √(top − λ) it is right to 2e-4.
    @Test func reluAtTwoLayersHasTheArcsineLaw() {
        let fixed = FreeProbabilityLaw(weights: .orthogonal, sigmaW2: 2, p: 0.5, layers: 2).law()
        let layerwise = LayerwiseFreeProbabilityLaw(weights: .orthogonal, sigmaW2: 2, activeFractions: [0.5, 0.5]).law()
        for law in [fixed, layerwise] {
            for x in [0.01, 0.1, 1, 2, 3.5] {
                let expected = 0.5 - asin((x / 4).squareRoot()) / Double.pi
                expectNear(law.tail(x), expected, absolute: 2e-4)
            }
            expectNear(law.cdf(4), 1, absolute: 1e-12)
        }
    }

    /// Along the q-map: hard-tanh at σ_w = 1, σ_b = 0 from q0 = 1 has q¹ = 1, p₁ = erf(1/√2),
    /// and q² = E[φ(z)²] = erf(1/√2) − √(2/π) e^{−1/2} + 1 − erf(1/√2) (clipping at ±1), p₂ =
    /// erf(1/√(2q²)); ReLU keeps p = ½; tanh has no law; a diverging variance has none either.
    @Test func fractionsFollowTheVarianceMap() throws {
        let law = try #require(LayerwiseFreeProbabilityLaw(weights: .orthogonal, activation: .hardTanh, sigmaW: 1, sigmaB: 0,
                                                           inputSecondMoment: 1, layers: 2))
        let q2 = 1 - (2 / Double.pi).squareRoot() * exp(-0.5)
        expectNear(law.activeFractions[0], erf(1 / 2.0.squareRoot()), relative: 1e-15)
        expectNear(law.activeFractions[1], erf(1 / (2 * q2).squareRoot()), relative: 1e-14)
        expectNear(law.mean, law.activeFractions[0] * law.activeFractions[1], relative: 1e-15)
        let relu = try #require(LayerwiseFreeProbabilityLaw(weights: .gaussian, activation: .relu, sigmaW: 1.3, sigmaB: 0.2,
                                                            inputSecondMoment: 0.7, layers: 5))
        #expect(relu.activeFractions == Array(repeating: 0.5, count: 5))
        #expect(LayerwiseFreeProbabilityLaw(weights: .orthogonal, activation: .tanh, sigmaW: 1, sigmaB: 0, inputSecondMoment: 1, layers: 2) == nil)
        #expect(LayerwiseFreeProbabilityLaw(weights: .orthogonal, activation: .relu, sigmaW: 1e200, sigmaB: 0, inputSecondMoment: 1, layers: 3) == nil)
    }
}
