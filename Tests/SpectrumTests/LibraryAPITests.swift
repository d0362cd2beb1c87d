import Foundation
import Networks
import Testing
import TensorAlgebra
import Spectrum
import Reports
import IsometrySupport

/// The library as a research user meets it: reports of their own eigenvalues, laws they build,
/// fixed-point inputs, typed errors, configurations and threads.
@Suite struct OwnMeasurementTests {
    /// 25 % at λ = 0 and 75 % spread evenly on [1, 3]: mean 1.5, E[λ²] = 0.75·13/3 = 3.25,
    /// variance 1, λ_max 3, P(λ > 1.5) = 0.75 · 1.5/2 = 0.5625.
    func handMadeLaw() throws -> SpectralLaw {
        try SpectralLaw(name: "hand-made", atoms: [.init(location: 0, mass: 0.25)], grid: [1, 2, 3], density: [0.375, 0.375, 0.375])
    }

    @Test func handMadeLawHasItsMoments() throws {
        let law = try handMadeLaw()
        expectNear(law.mean, 1.5, relative: 1e-15)
        expectNear(law.variance, 1, relative: 1e-14)
        #expect(law.lambdaMax == 3)
        expectNear(law.tail(1.5), 0.5625, relative: 1e-15)
        expectNear(law.cdf(0), 0.25, relative: 1e-15)
        // The memberwise initialiser computes the same moments from a cumulative table.
        let table = SpectralLaw(atoms: [SpectralLaw.Atom(location: 0, mass: 0.25)], grid: [1, 2, 3], cumulative: [0, 0.375, 0.75])
        #expect(table == SpectralLaw(name: "custom law", atoms: law.atoms, grid: law.grid, cumulative: law.cumulative,
                                     mean: 1.5, variance: table.variance, lambdaMax: 3))
        expectNear(table.variance, 1, relative: 1e-14)
        // The library's own laws pass the checks a user's law goes through, and computed
        // moments agree with their closed forms.
        let identity = IdentityLaw.law(activation: .hardTanh, sigma: 1.1, q0: 0.3, layers: 5)
        try identity.validate()
        expectNear(identity.computedMoments.mean, identity.mean, relative: 1e-14)
        expectNear(identity.computedMoments.variance, identity.variance, relative: 1e-12)
        try IdentityLaw.law(activation: .tanh, sigma: 1.2, q0: 0.5, layers: 5).validate()
        try FreeProbabilityLaw(weights: .orthogonal, sigmaW2: 2, p: 0.5, layers: 8).law().validate()
        try FreeProbabilityLaw(weights: .gaussian, sigmaW2: 1.186661, p: 0.842701, layers: 12).law().validate()
    }

    @Test func reportOfHandMadeEigenvalues() throws {
        let law = try handMadeLaw()
        let eigenvalues: [[Double]] = [[0, 1.5, 2, 2.5], [2, 0, 1.25, 2.75]]
        let report = try SpectrumReport(eigenvalues: eigenvalues, law: law, subject: "my 4-wide network",
                                        model: .independentEigenvalues)
        #expect(report.width == 4 && report.configuration.width == 4 && report.configuration.samples == 2)
        #expect(report.eigenvalues[1] == [2.75, 2, 1.25, 0], "stored descending")
        func row(_ name: String) throws -> ComparisonRow { try #require(report.comparison.rows.first { $0.quantity == name }) }
        // The atom: 2 of 8 measured, 25 % in theory, binomial band 0.25 ± (1.96·√(0.25·0.75/8) + 1/16).
        let atom = try row("atom at λ = 0")
        #expect(atom.measured == 0.25 && atom.theory == 0.25 && atom.agrees == true)
        expectNear(atom.bandHigh!, 0.25 + 1.96 * (0.25 * 0.75 / 8).squareRoot() + 0.5 / 8, relative: 1e-14)
        // Mean 12/8 = 1.5 against 1.5 ± 1.96·√(1/8).
        let mean = try row("mean")
        expectNear(mean.measured, 1.5, relative: 1e-15)
        expectNear(mean.bandLow!, 1.5 - 1.96 * (1.0 / 8).squareRoot(), relative: 1e-14)
        #expect(try row("λ_max").measured == 2.75 && row("λ_max").theory == 3)
        // Thresholds at 0.01, 0.1, 1, 10 times the law's mean; 4 of 8 values lie above 1.5.
        #expect(report.comparison.thresholds == [0.01, 0.1, 1, 10].map { $0 * 1.5 })
        let tail = try row("P(λ > 1.5)")
        #expect(tail.measured == 0.5)
        expectNear(tail.theory!, 0.5625, relative: 1e-15)
        // The text shows the subject, the real width and the numbers; the figure draws.
        let text = report.text
        #expect(text.hasPrefix("Spectrum of J Jᵀ: my 4-wide network\n2 samples × 4 = 8 eigenvalues\n"), "\(text)")
        #expect(text.contains("theory: hand-made"))
        let atomLine = try #require(text.split(separator: "\n").first { $0.hasPrefix("atom at λ = 0") })
        #expect(atomLine.contains("25.00 %") && atomLine.hasSuffix("✓"), "\(atomLine)")
        #expect(text.contains("bands: binomial/normal band (i.i.d. eigenvalues)"))
        let svg = report.histogramFigure().render()
        #expect(svg.contains("my 4-wide network") && svg.contains("theory atom"))
        // Without a law: measured rows only.
        let bare = try SpectrumReport(eigenvalues: eigenvalues, law: nil)
        #expect(bare.comparison.rows.allSatisfy { $0.theory == nil && $0.agrees == nil })
        #expect(bare.text.contains("theory: none"))
    }

    @Test func reportNamesTheRealWidth() throws {
        // 100 wide, random weights: the finite-width note must not speak of N = 1000.
        let c = SpectrumConfiguration(activation: .relu, initialization: .gaussian, width: 100, layers: 12,
                                      sigmaW: 2.0.squareRoot(), samples: 10, input: .fixedPoint)
        let report = try SpectrumExperiment.run(c)
        let text = report.text
        #expect(!text.contains("N = 1000") && text.contains("width 100"))
        if text.contains("outside the band") { #expect(text.contains("at N = 100 the measured"), "\(text)") }
        #expect(report.histogramFigure().render().contains("N = 100,"))
    }

    @Test func badLawsAndMeasurementsThrow() throws {
        #expect(throws: SpectrumError.lawTableLengths(grid: 3, values: 2)) {
            try SpectralLaw(grid: [1, 2, 3], density: [1, 1])
        }
        #expect(throws: SpectrumError.lawGridNotIncreasing(index: 2, value: 1.5)) {
            try SpectralLaw(grid: [1, 2, 1.5], density: [1, 1, 1])
        }
        #expect(throws: SpectrumError.lawInvalidMass(what: "density", index: 1, value: -1)) {
            try SpectralLaw(grid: [1, 2, 3], density: [1, -1, 1])
        }
        #expect(throws: SpectrumError.lawTotalMass(total: 0.5)) {
            try SpectralLaw(atoms: [.init(location: 0, mass: 0.5)], grid: [], density: [])
        }
        let law = try handMadeLaw()
        #expect(throws: SpectrumError.noEigenvalues) { try SpectrumComparison(eigenvalues: [[], []], law: law) }
        #expect(throws: SpectrumError.nonFiniteEigenvalues(count: 1)) {
            try SpectrumReport(eigenvalues: [[1, .nan, 2]], law: law)
        }
        var broken = law
        broken.cumulative = [0, 0.5, 0.25]
        #expect(throws: SpectrumError.lawInvalidMass(what: "cumulative mass", index: 2, value: 0.25)) {
            try SpectrumComparison(eigenvalues: [[1, 2]], law: broken)
        }
    }
}

@Suite struct FixedPointInputTests {
    @Test func secondMomentIsTheFixedPointsOnTheQMap() throws {
        // Hard-tanh on the critical line at q* = 1/2 (σ_w² = 1.186661, σ_b² = 0.05964):
        // E[x²] = E[φ(√q* z)²] and σ_w² E[x²] + σ_b² = q*. 40,000 values of x² ∈ [0, 1] have a
        // standard error below 0.5/200 = 0.0025; 0.01 is four of them.
        let point = MeanField.criticalPoint(.hardTanh, fixedPoint: 0.5)
        let field = MeanField(activation: .hardTanh, sigmaW: point.sigmaW2.squareRoot(), sigmaB: point.sigmaB2.squareRoot())
        var generator = SeededGenerator(seed: 3)
        let inputs = try field.fixedPointInputs(width: 100, count: 400, as: Double.self, using: &generator)
        #expect(inputs.count == 400 && inputs.allSatisfy { $0.shape == [100] })
        let squares = inputs.flatMap { $0.scalars.map { $0 * $0 } }
        let moment = squares.reduce(0, +) / Double(squares.count)
        expectNear(moment, MeanField.secondMoment(.hardTanh, q: 0.5), absolute: 0.01)
        expectNear(point.sigmaW2 * moment + point.sigmaB2, 0.5, absolute: 0.012)
        #expect(inputs.allSatisfy { $0.scalars.allSatisfy { abs($0) <= 1 } }, "hard-tanh outputs")
        // ReLU, σ_w = 1, σ_b = 0.5: q* = 0.5 and E[x²] = q*/2; Float inputs from the static form.
        var g2 = SeededGenerator(seed: 4)
        let relu: [Tensor<Float>] = try MeanField.fixedPointInputs(
            activation: .relu, sigmaW: 1, sigmaB: 0.5, width: 200, count: 200, using: &g2)
        let reluSquares = relu.flatMap { $0.scalars.map { Double($0 * $0) } }
        expectNear(reluSquares.reduce(0, +) / Double(reluSquares.count), 0.25, absolute: 0.01)
        // The same draws as the experiment's fixed-point inputs: x = φ(h), h ~ N(0, q*).
        var g3 = SeededGenerator(seed: 5), g4 = SeededGenerator(seed: 5)
        let a: [Tensor<Double>] = MeanField.inputs(activation: .tanh, variance: 0.7, width: 9, count: 2, using: &g3)
        let phi = Activation.tanh
        let b = (0 ..< 2).map { _ in Tensor<Double>.randomNormal([9], standardDeviation: 0.7.squareRoot(), using: &g4).map { phi($0) } }
        #expect(a.map(\.scalars) == b.map(\.scalars))
        // No finite fixed point: a typed error.
        var g5 = SeededGenerator(seed: 6)
        #expect(throws: SpectrumError.noFixedPoint(activation: .relu, sigmaW: 2, sigmaB: 0)) {
            let _: [Tensor<Double>] = try MeanField.fixedPointInputs(activation: .relu, sigmaW: 2, width: 4, count: 1, using: &g5)
        }
    }
}

@Suite struct AnalyzerErrorTests {
    @Test func everyRouteChecksTheInputWidth() throws {
        var generator = SeededGenerator(seed: 1)
        let identity = MultilayerPerceptron<Double>.identity(width: 100, layers: 3, sigma: 1, activation: .hardTanh)
        let gaussian = MultilayerPerceptron<Double>.gaussian(width: 100, layers: 3, sigmaW: 1.4, activation: .relu, using: &generator)
        let short = Tensor<Double>.randomNormal([99], using: &generator)
        let expected = SpectrumError.inputShape(shape: [99], networkInputWidth: 100)
        #expect(expected.description == "the input has width 99, the network takes width 100")
        for analyzer in [JacobianSpectrumAnalyzer(network: identity), JacobianSpectrumAnalyzer(network: identity, knownDiagonal: true),
                         JacobianSpectrumAnalyzer(network: gaussian)] {
            #expect(throws: expected) { try analyzer.eigenvalues(at: short) }
            #expect(throws: expected) { try analyzer.jacobian(at: short) }
            #expect(throws: expected) { try analyzer.derivatives(at: short) }
            #expect(throws: SpectrumError.inputShape(shape: [1, 100], networkInputWidth: 100)) {
                try analyzer.eigenvalues(at: Tensor<Double>.zeros([1, 100]))
            }
        }
    }

    @Test func nonFiniteInputsAndWeightsThrow() throws {
        var generator = SeededGenerator(seed: 2)
        var input = Tensor<Double>.randomNormal([20], using: &generator)
        input[3] = .nan
        input[7] = .infinity
        let identity = MultilayerPerceptron<Double>.identity(width: 20, layers: 4, sigma: 1, activation: .hardTanh)
        #expect(throws: SpectrumError.nonFiniteInput(count: 2)) { try JacobianSpectrumAnalyzer(network: identity).eigenvalues(at: input) }
        let clean = Tensor<Double>.randomNormal([20], using: &generator)
        // A NaN weight in layer 2 of a Gaussian network; an infinite diagonal entry; an infinite bias.
        var gaussian = MultilayerPerceptron<Double>.gaussian(width: 20, layers: 4, sigmaW: 1.3, activation: .hardTanh, using: &generator)
        gaussian.weights[1][4, 5] = .nan
        #expect(throws: SpectrumError.nonFiniteWeights(layer: 2, tensor: "weight", count: 1)) {
            try JacobianSpectrumAnalyzer(network: gaussian).eigenvalues(at: clean)
        }
        var diagonal = identity
        diagonal.weights[2][0, 0] = .infinity
        for known in [nil, true] as [Bool?] {
            #expect(throws: SpectrumError.nonFiniteWeights(layer: 3, tensor: "weight", count: 1)) {
                try JacobianSpectrumAnalyzer(network: diagonal, knownDiagonal: known).eigenvalues(at: clean)
            }
        }
        var biased = identity
        biased.biases[3] = Tensor<Double>(repeating: .nan, shape: [20])
        #expect(throws: SpectrumError.nonFiniteWeights(layer: 4, tensor: "bias", count: 20)) {
            try JacobianSpectrumAnalyzer(network: biased).jacobian(at: clean)
        }
        // Weights so large that the pre-activations overflow: an error, not an all-zero spectrum.
        let huge = MultilayerPerceptron<Double>.identity(width: 20, layers: 40, sigma: 1e30, activation: .relu)
        #expect(throws: SpectrumError.self) { try JacobianSpectrumAnalyzer(network: huge).eigenvalues(at: clean) }
    }

    @Test func degenerateNetworksThrow() throws {
        let noOutputs = MultilayerPerceptron<Double>(weights: [Tensor.zeros([0, 3])], activation: .relu)
        #expect(throws: SpectrumError.emptyLayer(layer: 1, shape: [0, 3])) {
            try JacobianSpectrumAnalyzer(network: noOutputs).eigenvalues(at: Tensor<Double>.zeros([3]))
        }
        let noInputs = MultilayerPerceptron<Double>(weights: [Tensor.zeros([3, 0])], activation: .relu)
        #expect(throws: SpectrumError.emptyLayer(layer: 1, shape: [3, 0])) {
            try JacobianSpectrumAnalyzer(network: noInputs).eigenvalues(at: Tensor<Double>.zeros([0]))
        }
        let middle = MultilayerPerceptron<Double>(weights: [Tensor.zeros([0, 3]), Tensor.zeros([3, 0])], activation: .tanh)
        #expect(throws: SpectrumError.emptyLayer(layer: 1, shape: [0, 3])) {
            try JacobianSpectrumAnalyzer(network: middle, knownDiagonal: true).jacobian(at: Tensor<Double>.zeros([3]))
        }
    }

    @Test func aWholeLayerSwitchedOffGivesAZeroJacobian() throws {
        // Layer 2 is all inactive (ReLU of negative values): J = 0, every eigenvalue 0.
        let w1 = Tensor<Double>.identity(3)
        let w2 = Tensor<Double>.identity(3, scale: -1)
        let w3 = Tensor<Double>.identity(3)
        let network = MultilayerPerceptron(weights: [w1, w2, w3], activation: .relu)
        let analyzer = JacobianSpectrumAnalyzer(network: network, knownDiagonal: false)
        let x = Tensor<Double>([1, 2, 3])
        #expect(try analyzer.eigenvalues(at: x) == [0, 0, 0])
        #expect(try analyzer.jacobian(at: x).scalars == [Double](repeating: 0, count: 9))
    }
}

@Suite(.serialized) struct ConfigurationAndThreadTests {
    @Test func configurationsHaveMemberwiseInitialisers() throws {
        let c = SpectrumConfiguration(activation: .relu, initialization: .orthogonal, width: 60, layers: 4, sigmaW: 2.0.squareRoot(),
                                      samples: 3, seed: 9, input: .fixedPoint, threads: 1)
        var d = SpectrumConfiguration()
        (d.activation, d.initialization, d.width, d.layers, d.sigmaW, d.samples, d.seed, d.input, d.threads)
            = (.relu, .orthogonal, 60, 4, 2.0.squareRoot(), 3, 9, .fixedPoint, 1)
        #expect(c == d)
        #expect(SpectrumConfiguration().weightsFromFile == false)
        let sweep = SpectrumSweep(sigmas: [1, 2], q0s: [0.5], layers: 5, width: 30, samples: 2)
        #expect(sweep.pointCount == 2 && sweep.width == 30)
        #expect(SpectrumSweep(sigma: 1 ... 2, sigmaSteps: 2, q0: 0.5 ... 0.5, q0Steps: 1, layers: 5, width: 30, samples: 2) == sweep)
        // Invalid fields are typed errors naming the field.
        #expect(throws: SpectrumError.invalidConfiguration(field: "width", value: "0", expected: "at least 1")) {
            try SpectrumExperiment.run(SpectrumConfiguration(width: 0))
        }
        #expect(throws: SpectrumError.invalidConfiguration(field: "threads", value: "0", expected: "at least 1, or nil")) {
            try SpectrumExperiment.run(SpectrumConfiguration(threads: 0))
        }
        do {
            _ = try SpectrumExperiment.run(SpectrumConfiguration(weightsPath: "/nonexistent-weights"))
            Issue.record("a missing weights folder was accepted")
        } catch {
            guard case .weightsFile = error else { Issue.record("\(error)"); return }
            #expect(error.description.contains("/nonexistent-weights"))
        }
    }

    @Test func heInitialisationIsGaussianAtSquareRootTwo() throws {
        let report = try SpectrumExperiment.run(SpectrumConfiguration(
            activation: .relu, initialization: .he, width: 80, layers: 4, samples: 4, input: .fixedPoint))
        let field = try #require(report.meanField)
        expectNear(field.chi, 1, relative: 1e-12)
        #expect(report.text.contains("He σ_w = √2"))
        expectNear(try #require(report.law).mean, 1, relative: 1e-12)
    }

    @Test func threadsAreChosenBySizeAndRestored() throws {
        let limit = JacobianSpectrumAnalyzer<Double>.singleThreadWidthLimit
        #expect(JacobianSpectrumAnalyzer<Double>.automaticThreads(width: limit - 1) == 1)
        #expect(JacobianSpectrumAnalyzer<Double>.automaticThreads(width: limit) == nil)
        let before = OpenBLAS.threads
        var generator = SeededGenerator(seed: 8)
        let network = MultilayerPerceptron<Double>.gaussian(width: 50, layers: 5, sigmaW: 2.0.squareRoot(), activation: .relu, using: &generator)
        let x = Tensor<Double>.randomNormal([50], standardDeviation: 0.7, using: &generator)
        var results: [[Double]] = []
        for threads in [nil, 1, 2] as [Int?] {
            results.append(try JacobianSpectrumAnalyzer(network: network, threads: threads).eigenvalues(at: x))
            #expect(OpenBLAS.threads == before, "the process-wide setting is restored")
        }
        // Thread counts change the order of summation only.
        for values in results.dropFirst() {
            for (a, b) in zip(values, results[0]) { #expect(abs(a - b) <= 1e-12 * results[0][0]) }
        }
        // Through the experiment: same spectra on one and two threads.
        var c = SpectrumConfiguration(activation: .relu, initialization: .gaussian, width: 40, layers: 4,
                                      sigmaW: 2.0.squareRoot(), samples: 2, input: .fixedPoint, threads: 1)
        let one = try SpectrumExperiment.run(c).eigenvalues
        c.threads = 2
        let two = try SpectrumExperiment.run(c).eigenvalues
        for (a, b) in zip(one.joined(), two.joined()) { #expect(abs(a - b) <= 1e-12 * one[0][0]) }
        #expect(OpenBLAS.threads == before)
    }
}
