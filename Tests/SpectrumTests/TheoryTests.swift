import Foundation
import Networks
import Testing
@testable import Spectrum

/// |actual − expected| ≤ max(relative · |expected|, absolute).
func expectNear(
    _ actual: Double, _ expected: Double, relative: Double = 0, absolute: Double = 0,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(
        abs(actual - expected) <= max(relative * abs(expected), absolute),
        "\(actual) vs \(expected) (relative \(relative), absolute \(absolute))", sourceLocation: sourceLocation)
}

@Suite struct IdentityLawTests {
    @Test func hardTanhCheckValue() {
        // docs/theory.md: σ = 1, q0 = 0.5 gives α = erf(1) = 0.8427.
        let law = IdentityLaw.law(activation: .hardTanh, sigma: 1, q0: 0.5, layers: 20)
        #expect(law.atoms.count == 2)
        expectNear(law.atom(near: 1, relativeTolerance: 1e-12)!.mass, 0.8427007929497149, relative: 1e-14)
        expectNear(law.atom(near: 0, relativeTolerance: 1e-12)!.mass, 1 - 0.8427007929497149, relative: 1e-13)
        expectNear(law.mean, 0.8427007929497149, relative: 1e-14)
        expectNear(law.variance, 0.8427007929497149 * (1 - 0.8427007929497149), relative: 1e-13)
    }

    @Test func closedFormsAgreeWithQuadrature() {
        // The quadrature knows nothing of the closed forms: it evaluates g(u) layer by layer.
        // Its error at g's jumps is about the density times the node spacing, 0.4 · 1.2e-4.
        for (activation, sigma, q0, layers) in [
            (Activation.hardTanh, 1.1, 0.3, 5), (.hardTanh, 0.8, 2.0, 7), (.hardTanh, 1.0, 0.5, 20),
            (.relu, 1.3, 0.7, 4), (.linear, 0.9, 1.5, 3),
        ] {
            let exact = IdentityLaw.law(activation: activation, sigma: sigma, q0: q0, layers: layers)
            let numeric = IdentityLaw.quadrature(activation: activation, sigma: sigma, q0: q0, layers: layers)
            let top = pow(sigma, 2 * Double(layers))
            expectNear(numeric.tail(top / 2), exact.tail(top / 2), absolute: 1e-4)
            expectNear(numeric.mean, exact.mean, relative: 2e-4, absolute: top * 1e-4)
        }
        // ReLU: half the eigenvalues at σ^{2L} for every σ, q0; linear: all.
        #expect(IdentityLaw.law(activation: .relu, sigma: 1.7, q0: 3, layers: 6).atoms.map(\.mass) == [0.5, 0.5])
        #expect(IdentityLaw.law(activation: .linear, sigma: 1.1, q0: 3, layers: 6).atoms
            == [SpectralLaw.Atom(location: pow(1.1, 12), mass: 1)])
    }

    @Test func hardTanhSaturationLayerDependsOnSigma() {
        // σ > 1: the last layer saturates first (l = L); σ ≤ 1: only the first can (l = 1).
        expectNear(IdentityLaw.hardTanhActiveFraction(sigma: 1.2, q0: 0.4, layers: 6),
                   erf(pow(1.2, -6) / (0.8).squareRoot()), relative: 1e-15)
        expectNear(IdentityLaw.hardTanhActiveFraction(sigma: 0.7, q0: 0.4, layers: 6),
                   erf(1 / 0.7 / (0.8).squareRoot()), relative: 1e-15)
    }

    @Test func smoothActivationLawIsConsistent() {
        // tanh: the tabulated CDF runs from 0 to 1, and its mean matches a direct quadrature.
        let law = IdentityLaw.law(activation: .tanh, sigma: 1.2, q0: 0.5, layers: 5)
        #expect(law.cdf(-1) == 0 && abs(law.cdf(law.lambdaMax) - 1) < 1e-12)
        let direct = IdentityLaw.mean(activation: .tanh, sigma: 1.2, q0: 0.5, layers: 5)
        expectNear(law.mean, direct, relative: 1e-6)
        // The largest value is g(0)² = σ^{2L} (tanh'(0) = 1).
        expectNear(law.lambdaMax, pow(1.2, 10), relative: 1e-6)
    }

    @Test func criticalCurveHasMeanOne() {
        // Hard-tanh, σ > 1: α σ^{2L} = 1 means erf(σ^{−L}/√(2q0)) = σ^{−2L}.
        let sigma = 1.02, layers = 20
        let q0 = IdentityLaw.criticalQ0(activation: .hardTanh, sigma: sigma, layers: layers, in: 0.01 ... 10)!
        expectNear(IdentityLaw.hardTanhActiveFraction(sigma: sigma, q0: q0, layers: layers) * pow(sigma, 40), 1, relative: 1e-9)
        // σ < 1: the mean α σ^{2L} < 1 everywhere, no crossing.
        #expect(IdentityLaw.criticalQ0(activation: .hardTanh, sigma: 0.9, layers: layers, in: 0.01 ... 10) == nil)
    }
}

@Suite struct MeanFieldTests {
    @Test func criticalLineCheckValues() {
        // docs/theory.md: hard-tanh q* = 1/2 gives p = 0.842701, σ_w² = 1.186661, σ_b² = 0.05964.
        expectNear(MeanField.activeFraction(.hardTanh, q: 0.5), 0.842701, relative: 1e-6)
        let hard = MeanField.criticalPoint(.hardTanh, fixedPoint: 0.5)
        expectNear(hard.sigmaW2, 1.186661, relative: 1e-6)
        expectNear(hard.sigmaB2, 0.05964, relative: 1e-3)
        // erf q* = 1 gives σ_w² = 1.756204, σ_b² = 0.1841.
        let erfPoint = MeanField.criticalPoint(.erf, fixedPoint: 1)
        expectNear(erfPoint.sigmaW2, 1.756204, relative: 1e-6)
        expectNear(erfPoint.sigmaB2, 0.1841, relative: 1e-3)
    }

    @Test func fixedPointAndChiOnTheCriticalLine() {
        for (activation, q) in [(Activation.hardTanh, 0.5), (.erf, 1.0), (.tanh, 0.8)] {
            let point = MeanField.criticalPoint(activation, fixedPoint: q)
            let field = MeanField(activation: activation, sigmaW: point.sigmaW2.squareRoot(), sigmaB: point.sigmaB2.squareRoot())
            expectNear(field.fixedPoint(from: 2), q, relative: 1e-9)
            expectNear(field.chi(), 1, relative: 1e-9)
        }
        // ReLU: χ = σ_w²/2, critical at σ_w = √2; q' = σ_w² q/2 + σ_b².
        let relu = MeanField(activation: .relu, sigmaW: 2.0.squareRoot(), sigmaB: 0)
        expectNear(relu.chi(at: 0.3), 1, relative: 1e-15)
        expectNear(relu.fixedPoint(from: 0.3), 0.3, relative: 1e-15)
        expectNear(MeanField(activation: .relu, sigmaW: 1, sigmaB: 0.5).fixedPoint(), 0.5, relative: 1e-12)
        #expect(MeanField(activation: .relu, sigmaW: 2, sigmaB: 0).fixedPoint() == .infinity)
    }

    @Test func closedFormsAgreeWithNumericalIntegration() {
        // Independent check of the hard-tanh and erf formulas by Gaussian quadrature.
        for q in [0.1, 0.5, 1.0, 3.0] {
            let hard = gaussianExpectation(nodes: 400_001) { z in pow(min(max(q.squareRoot() * z, -1), 1), 2) }
            expectNear(MeanField.secondMoment(.hardTanh, q: q), hard, relative: 1e-8)
            let e = gaussianExpectation { z in pow(erf(q.squareRoot() * z), 2) }
            expectNear(MeanField.secondMoment(.erf, q: q), e, relative: 1e-12)
            let de = gaussianExpectation { z in pow(2 / Double.pi.squareRoot() * exp(-q * z * z), 2) }
            expectNear(MeanField.derivativeSecondMoment(.erf, q: q), de, relative: 1e-12)
        }
    }
}

@Suite struct FreeProbabilityTests {
    @Test func marchenkoPasturForOneLinearGaussianLayer() {
        // L = 1, p = 1, Gaussian: J Jᵀ = W Wᵀ, Marchenko–Pastur with ratio 1:
        // ρ(λ) = √((4σ² − λ)λ)/(2πσ²λ), edge 4σ².
        let law = FreeProbabilityLaw(weights: .gaussian, sigmaW2: 1.5, p: 1, layers: 1)
        expectNear(law.lambdaMax, 6, relative: 1e-14)
        for lambda in [0.3, 1.0, 3.0, 5.5] {
            expectNear(law.density(at: lambda), ((6 - lambda) * lambda).squareRoot() / (2 * Double.pi * 1.5 * lambda), relative: 1e-6)
        }
    }

    @Test func momentsOfTheTabulatedDensityMatchClosedForms() {
        for law in [
            FreeProbabilityLaw(weights: .orthogonal, sigmaW2: 2, p: 0.5, layers: 8),
            FreeProbabilityLaw(weights: .gaussian, sigmaW2: 1 / erf(1 / 2.0.squareRoot()), p: erf(1 / 2.0.squareRoot()), layers: 8),
            FreeProbabilityLaw(weights: .gaussian, sigmaW2: 2, p: 0.5, layers: 3),
        ] {
            let table = law.law()
            // Total mass one, and the mean from the tabulated CDF: ∫ λ dF = ∫ P(λ > x) dx.
            #expect(abs(table.cdf(table.lambdaMax * 1.0001) - 1) < 1e-9)
            var integral = 0.0
            let steps = 20000
            for k in 0 ..< steps {
                let x = table.lambdaMax * (Double(k) + 0.5) / Double(steps)
                integral += table.tail(x) * table.lambdaMax / Double(steps)
            }
            expectNear(integral, law.mean, relative: 5e-3)
        }
    }

    @Test func tailCheckValues() {
        // docs/theory.md: ReLU L = 8 orthogonal σ_w² = 2: variance 8.0, P(λ > 1) 0.164.
        let relu = FreeProbabilityLaw(weights: .orthogonal, sigmaW2: 2, p: 0.5, layers: 8)
        expectNear(relu.variance, 8, relative: 1e-14)
        expectNear(relu.law().tail(1), 0.164, absolute: 0.0005)
        // hard-tanh q* = 1, L = 8, Gaussian: variance 11.72, P(λ > 1) 0.137.
        let p = MeanField.activeFraction(.hardTanh, q: 1)
        let sigmaW2 = MeanField.criticalPoint(.hardTanh, fixedPoint: 1).sigmaW2
        let hard = FreeProbabilityLaw(weights: .gaussian, sigmaW2: sigmaW2, p: p, layers: 8)
        expectNear(hard.variance, 11.72, absolute: 0.005)
        expectNear(hard.law().tail(1), 0.137, absolute: 0.0005)
    }

    @Test func atomsAndEdges() {
        // Orthogonal with L(1 − p) ≤ 1 has an atom of mass 1 − L(1 − p) at σ_w^{2L}.
        let law = FreeProbabilityLaw(weights: .orthogonal, sigmaW2: 1.1, p: 0.9, layers: 5)
        #expect(law.atoms.count == 2)
        expectNear(law.atoms[1].mass, 0.5, relative: 1e-12)
        expectNear(law.atoms[1].location, pow(1.1, 5), relative: 1e-14)
        // Orthogonal edge for L(1 − p) > 1, and the density vanishes just above it.
        let relu = FreeProbabilityLaw(weights: .orthogonal, sigmaW2: 2, p: 0.5, layers: 8)
        expectNear(relu.lambdaMax, pow(8, 8) / pow(7, 7), relative: 1e-14)
        #expect(relu.density(at: relu.lambdaMax * 1.01) < 1e-6)
        #expect(relu.density(at: relu.lambdaMax * 0.9) > 1e-4)
    }
}
