import Datasets
import Foundation
import Networks
import Spectrum
import Study
import Testing
import TensorAlgebra
import TestSupport

/// Issue "one owner for every rule": the He weight scale and the choice of theory are each
/// decided in one place (`Initialization.weightScale`/`referenceSigma`, `SpectrumTheory`), and
/// the classifier, the spectrum experiment and the study all read them.
@Suite struct OneRuleTests {
    @Test func heScaleHasOneOwner() {
        #expect(Initialization.he.weightScale(sigma: 0.3) == 2.0.squareRoot())
        #expect(Initialization.gaussian.weightScale(sigma: 0.3) == 0.3)
        #expect(Initialization.he.referenceSigma(sigma: 0.3) == 1)
        #expect(Initialization.orthogonal.referenceSigma(sigma: 0.3) == 0.3)
        #expect(SpectrumConfiguration(initialization: .he, sigmaW: 0.3).effectiveSigmaW == Initialization.he.weightScale(sigma: 0.3))
        var generator = SeededGenerator(seed: 1)
        let he = IdentityClassifier<Float>(inputFeatures: 6, classes: 2, layers: 2, initialization: .he, sigma: 0.3, using: &generator)
        #expect(he.sigma == Initialization.he.referenceSigma(sigma: 0.3))
        let grid = StudyGrid(depths: [2], sigmas: [0.5], initializations: [.he], seeds: [0])
        #expect(grid.arms.map(\.sigma) == [Initialization.he.weightScale(sigma: 1)])
        #expect(grid.model(grid.point(0)).sigma == 1)
    }

    /// He's draws are N(0, 2/N), bit for bit as before the rule moved into `Initialization`.
    @Test func heDrawIsUnchanged() {
        let n = 9  // a width where √(2/N) and √2/√N differ in the last bit
        #expect((2 / Double(n)).squareRoot() != 2.0.squareRoot() / Double(n).squareRoot())
        var a = SeededGenerator(seed: 3), b = SeededGenerator(seed: 3)
        let network = MultilayerPerceptron<Double>(initialization: .he, width: n, layers: 1, activation: .relu, using: &a)
        let expected = Tensor<Double>.randomNormal([n, n], standardDeviation: (2 / Double(n)).squareRoot(), using: &b)
        #expect(network.weights[0] == expected)
    }

    /// A study's theory at a point is the spectrum experiment's theory for that network.
    @Test func studyTheoryIsTheSpectrumTheory() throws {
        let study = try Study(grid: tinyGrid(), data: tinyData())
        let q0 = try #require(study.grid.data?.q0)
        for index in 0 ..< study.grid.pointCount {
            let point = study.grid.point(index)
            let c = SpectrumConfiguration(activation: study.grid.activation, initialization: point.arm.initialization,
                                          layers: point.depth, sigma: point.arm.sigma, q0: q0, sigmaW: point.arm.sigma, input: .normal)
            let theory = SpectrumTheory(c)
            let atPoint = study.theory(point)
            if point.arm.initialization == .identity {
                #expect(theory.choice == .identityLaw)
                #expect(atPoint.mean == IdentityLaw.mean(activation: c.activation, sigma: c.sigma, q0: q0, layers: point.depth))
            } else {
                #expect(atPoint.chi == theory.chi)
                #expect(theory.meanField?.chi == theory.chi)
            }
        }
    }
}
