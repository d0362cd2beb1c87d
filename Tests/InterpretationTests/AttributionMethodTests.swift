import Foundation
import Networks
import Testing
import TensorAlgebra
import TestSupport
@testable import Interpretation

// The attribution methods against Captum 0.9 (Benchmarks/Peers/captum_attributions.py, fixtures
// in Tests/Fixtures/Attribution) and against exact identities of piecewise-linear stacks.

/// One network of the Captum fixtures and its reference maps.
struct CaptumFixture: CustomStringConvertible, Sendable {
    let tag: String
    let architecture: String
    let inputShape: [Int]
    /// The two occlusions of the script: window, strides, baseline value.
    let occlusions: [(window: [Int], strides: [Int], baseline: Double)]

    static let mlp = CaptumFixture(tag: "mlp", architecture: "dense16,relu,dense12,hard-tanh,dense4", inputShape: [10],
                                   occlusions: [([3], [2], 0), ([2], [1], 0.5)])
    static let cnn = CaptumFixture(tag: "cnn", architecture: "conv3k3p1,relu,maxpool2,conv4k3,relu,flatten,dense5", inputShape: [1, 8, 8],
                                   occlusions: [([1, 3, 3], [1, 2, 2], 0), ([1, 2, 2], [1, 1, 1], -0.2)])

    var description: String { tag }
    func url(_ name: String) -> URL { fixtures.appendingPathComponent("Attribution").appendingPathComponent("\(tag)_\(name)") }
    func stack() throws -> LayerStack<Double> {
        try LayerStack<Double>(pytorchStateDict: url("model.safetensors"), architecture: architecture, inputShape: inputShape)
    }
    func array(_ name: String) throws -> Tensor<Double> { try Tensor<Double>(contentsOfNumpyFile: url("\(name).npy")) }
    var inputs: Tensor<Double> { get throws { try array("inputs") } }
    var targets: [Int] { get throws { try array("targets").scalars.map { Int($0) } } }
}

/// Every map within `tolerance` of the reference's largest entry, sample by sample.
func expectMaps(_ found: Tensor<Double>, _ reference: Tensor<Double>, tolerance: Double, _ what: String,
                sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(found.count == reference.count, "\(what): \(found.shape) vs \(reference.shape)", sourceLocation: sourceLocation)
    guard found.count == reference.count else { return }
    let n = reference.shape[0], width = reference.count / n
    let (a, b) = (found.scalars, reference.scalars)
    for i in 0 ..< n {
        let error = relativeToLargest(Array(a[i * width ..< (i + 1) * width]), Array(b[i * width ..< (i + 1) * width]))
        #expect(error <= tolerance, "\(what), sample \(i): \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct CaptumAttributionTests {
    /// Both sides compute in float64 from the same float32 weights, so the maps differ by the
    /// order of sums (≈1e-15 relative): IG and SmoothGrad are held to 1e-12 of the map's
    /// largest entry (measured on this fixture: gradients and smoothgrad ≤ 2.3e-16, IG ≤ 2.5e-15
    /// for every rule), tight enough to see IG's float32-rounded weights, which Isometry
    /// reproduces (unrounded Gauss–Legendre weights move the maps by 1.2e-9). Occlusion is held
    /// to 1e-7 because Captum rounds its result to float32 (`.float()`: up to 6e-8 relative;
    /// measured 4.9e-8).
    static let tolerance = 1e-12
    static let occlusionTolerance = 1e-7

    @Test(arguments: [CaptumFixture.mlp, .cnn])
    func gradientsMatchSaliencyAndInputXGradient(_ fixture: CaptumFixture) throws {
        let (stack, x, t) = (try fixture.stack(), try fixture.inputs, try fixture.targets)
        expectMaps(try Gradient().attributions(stack, inputs: x, targets: t), try fixture.array("saliency"), tolerance: 1e-12, "gradient")
        let reference = try fixture.array("input_x_gradient")
        expectMaps(try GradientTimesInput().attributions(stack, inputs: x, targets: t), reference, tolerance: 1e-12, "gradient × input")
        expectMaps(try Linearisation().attributions(stack, inputs: x, targets: t), reference, tolerance: 1e-12, "linearisation")
        expectMaps(try SwitchedProjectionContribution().attributions(stack, inputs: x, targets: t), reference, tolerance: 1e-12, "switched projection")
    }

    @Test(arguments: [CaptumFixture.mlp, .cnn])
    func integratedGradientsMatchCaptumForEveryRule(_ fixture: CaptumFixture) throws {
        let (stack, x, t) = (try fixture.stack(), try fixture.inputs, try fixture.targets)
        let baseline = try fixture.array("baseline")
        for rule in IntegrationRule.allCases {
            for steps in [16, 50] {
                for (name, base) in [("zero", nil), ("base", baseline)] as [(String, Tensor<Double>?)] {
                    // Small batches too: the paths of several samples per batch, and one per batch.
                    for rows in [512, steps] {
                        let maps = try IntegratedGradients(steps: steps, baseline: base, rule: rule, batchRows: rows).attributions(stack, inputs: x, targets: t)
                        expectMaps(maps, try fixture.array("ig_\(rule.rawValue)_\(steps)_\(name)"), tolerance: Self.tolerance,
                                   "\(fixture) IG \(rule.rawValue) \(steps) \(name) rows \(rows)")
                    }
                }
            }
        }
    }

    @Test(arguments: [CaptumFixture.mlp, .cnn])
    func smoothGradMatchesNoiseTunnelOnTheRecordedNoise(_ fixture: CaptumFixture) throws {
        let (stack, x, t) = (try fixture.stack(), try fixture.inputs, try fixture.targets)
        let gradient = try SmoothGrad<Double>(samples: 5, batchRows: 7).attributions(stack, inputs: x, targets: t, noise: try fixture.array("smoothgrad_noise"))
        expectMaps(gradient, try fixture.array("smoothgrad"), tolerance: Self.tolerance, "\(fixture) smoothgrad")
        let inner = try SmoothGrad<Double>(samples: 3, inner: GradientTimesInput())
            .attributions(stack, inputs: x, targets: t, noise: try fixture.array("smoothgrad_ixg_noise"))
        expectMaps(inner, try fixture.array("smoothgrad_ixg"), tolerance: Self.tolerance, "\(fixture) smoothgrad over gradient × input")
    }

    @Test(arguments: [CaptumFixture.mlp, .cnn])
    func occlusionMatchesCaptumsAveragingOfWindows(_ fixture: CaptumFixture) throws {
        let (stack, x, t) = (try fixture.stack(), try fixture.inputs, try fixture.targets)
        for (k, setting) in fixture.occlusions.enumerated() {
            for rows in [512, 5] {
                let maps = try Occlusion<Double>(window: setting.window, strides: setting.strides, baselineValue: setting.baseline, batchRows: rows)
                    .attributions(stack, inputs: x, targets: t)
                expectMaps(maps, try fixture.array("occlusion_\(k == 0 ? "a" : "b")"), tolerance: Self.occlusionTolerance, "\(fixture) occlusion \(setting)")
            }
        }
    }

    /// Nodes and weights as Captum's approximation_parameters gives them: Gauss–Legendre nodes to
    /// 1e-14 (Newton's method against numpy's refined eigenvalues: a few ulps), Riemann nodes to
    /// one float32 ulp (1.2e-7 at most below 1: torch's vectorised linspace), Riemann weights
    /// exactly Captum's after its float32 rounding, Gauss–Legendre weights to 1 float32 ulp (their
    /// doubles may differ in the last bits before the rounding).
    @Test func integrationNodesAreCaptums() throws {
        let fixture = CaptumFixture.mlp
        for rule in IntegrationRule.allCases {
            for steps in [16, 50] {
                let reference = try fixture.array("nodes_\(rule.rawValue)_\(steps)")
                let (alphas, weights) = rule.nodes(steps: steps)
                for k in 0 ..< steps {
                    let alpha = reference[0, k], size = Double(Float(reference[1, k]))
                    #expect(abs(alphas[k] - alpha) <= (rule == .gaussLegendre ? 1e-14 : 1.2e-7), "\(rule) \(steps) node \(k)")
                    if rule == .gaussLegendre {
                        #expect(abs(weights[k] - size) <= 1.2e-7 * size, "\(rule) \(steps) weight \(k)")
                    } else {
                        #expect(weights[k] == size, "\(rule) \(steps) weight \(k)")
                    }
                }
            }
        }
    }
}

@Suite struct AttributionIdentityTests {
    let stack: LayerStack<Double>
    let inputs: Tensor<Double>
    let targets = [0, 2, 1, 2, 0]

    init() throws {
        var generator = SeededGenerator(seed: 24)
        stack = try LayerStack<Double>(architecture: "conv3k3p1,relu,maxpool2,conv4k3,hard-tanh,flatten,dense3", inputShape: [1, 6, 6], using: &generator)
        inputs = .randomNormal([5, 1, 6, 6], using: &generator)
    }

    /// On a piecewise-linear stack W(x)_t ⊙ x is gradient × input, and the decomposition adds
    /// up: Σ map + b_t(x) = F_t(x), Σ_l layer shares = b_t(x), b_t(x) = the switched projection's
    /// b̂_t. Rounding only: 1e-12 of the largest entry.
    @Test func linearisationIsGradientTimesInputPlusItsBiasShare() throws {
        let decomposition = try Linearisation<Double>().decomposition(stack, inputs: inputs, targets: targets)
        let times = try GradientTimesInput<Double>().attributions(stack, inputs: inputs, targets: targets)
        expectMaps(decomposition.attributions, times, tolerance: 1e-12, "W(x) ⊙ x against gradient × input")
        let intercepts = try SwitchedProjectionContribution<Double>().intercepts(stack, inputs: inputs, targets: targets)
        let outputs = stack(inputs)
        for i in 0 ..< 5 {
            let sum = decomposition.attributions.row(i).scalars.reduce(0, +)
            let f = outputs[i, targets[i]]
            #expect(abs(decomposition.outputs[i] - f) <= 1e-12 * max(1, abs(f)))
            #expect(abs(sum + decomposition.biasShares[i] - f) <= 1e-12 * max(1, abs(f)))
            let layers = decomposition.layerBiasShares.reduce(0) { $0 + $1[i] }
            #expect(abs(layers - decomposition.biasShares[i]) <= 1e-12 * max(1, abs(f)))
            #expect(abs(intercepts[i] - decomposition.biasShares[i]) <= 1e-12 * max(1, abs(f)))
        }
        #expect(decomposition.completenessError <= 1e-12)
    }

    /// IG's completeness residual |Σ a − (F_t(x) − F_t(0))| shrinks as the quadrature resolves the
    /// path's region crossings: with Gauss–Legendre, the mean over samples at 32 steps is below
    /// that at 4, at 512 below a tenth of it, and below the linearisation's own residual
    /// |b_t(x) − F_t(0)|, which no step count changes.
    @Test func integratedGradientsResidualShrinksWithSteps() throws {
        func residual(_ steps: Int) throws -> Double {
            let method = IntegratedGradients<Double>(steps: steps)
            let maps = try method.attributions(stack, inputs: inputs, targets: targets)
            return try CompletenessResidual<Double>().scores(stack, method: method, inputs: inputs, targets: targets, attributions: maps).mean
        }
        let residuals = try [4, 32, 512].map(residual)
        #expect(residuals[2] < 0.1 * residuals[0], "\(residuals)")
        #expect(residuals[1] < residuals[0], "\(residuals)")
        let exact = GradientTimesInput<Double>()
        let maps = try exact.attributions(stack, inputs: inputs, targets: targets)
        let linear = try CompletenessResidual<Double>().scores(stack, method: exact, inputs: inputs, targets: targets, attributions: maps).mean
        #expect(residuals[2] < linear, "IG \(residuals[2]) vs W(x)⊙x \(linear)")
    }

    /// The residual is measured from the method's own baseline (shared or one per sample) unless
    /// the metric names one: the reference |Σ a − (F_t(x) − F_t(x̄_i))| is formed here from
    /// forward passes of x̄ (the same sums in the same order: 1e-12 of the output's scale).
    @Test func completenessResidualUsesTheMethodsBaseline() throws {
        var generator = SeededGenerator(seed: 31)
        let shared = Tensor<Double>.randomNormal([1, 6, 6], using: &generator)
        let perSample = Tensor<Double>.randomNormal([5, 1, 6, 6], using: &generator)
        let outputs = stack(inputs)
        for (baseline, rows) in [(shared, [0, 0, 0, 0, 0]), (perSample, [0, 1, 2, 3, 4])] {
            let method = IntegratedGradients<Double>(steps: 8, baseline: baseline)
            let maps = try method.attributions(stack, inputs: inputs, targets: targets)
            let residual = try CompletenessResidual<Double>().scores(stack, method: method, inputs: inputs, targets: targets, attributions: maps)
            let explicit = try CompletenessResidual<Double>(baseline: baseline).scores(stack, method: Gradient(), inputs: inputs, targets: targets,
                                                                                      attributions: maps)
            let start = stack(baseline.reshaped([baseline.shape[0], 1, 6, 6]))
            for i in 0 ..< 5 {
                let f = outputs[i, targets[i]]
                let reference = abs(maps.row(i).scalars.reduce(0, +) - (f - start[rows[i], targets[i]]))
                #expect(abs(residual.values[i] - reference) <= 1e-12 * max(1, abs(f)), "sample \(i)")
                #expect(explicit.values[i] == residual.values[i])
            }
        }
        #expect(throws: InterpretationError.invalidAttributionSetting(method: "completeness-residual", setting: "baseline", value: "of shape [3, 36]",
                                                                      requirement: "of shape [1, 6, 6] or [36] (shared), or [5, 1, 6, 6] or [5, 36] (one per sample)")) {
            try CompletenessResidual<Double>(baseline: .zeros([3, 36])).scores(self.stack, method: Gradient(), inputs: self.inputs, targets: self.targets,
                                                                              attributions: self.inputs)
        }
    }

    /// Integrated Gradients and Occlusion with one baseline per sample are, sample by sample,
    /// the method run on that sample alone with its baseline (the same rows through the same
    /// arithmetic, batched otherwise: 1e-12).
    @Test func perSampleBaselinesAreEachSamplesOwn() throws {
        var generator = SeededGenerator(seed: 32)
        let baselines = Tensor<Double>.randomNormal([5, 1, 6, 6], using: &generator)
        let methods: [(Tensor<Double>?) -> any AttributionMethod<Double>] = [
            { IntegratedGradients(steps: 6, baseline: $0) }, { Occlusion(window: [1, 2, 2], strides: [1, 2, 2], baseline: $0) },
        ]
        for make in methods {
            let maps = try make(baselines).attributions(stack, inputs: inputs, targets: targets)
            for i in 0 ..< 5 {
                let one = try make(baselines.row(i).reshaped([1, 6, 6])).attributions(stack, inputs: inputs.row(i).reshaped([1, 1, 6, 6]), targets: [targets[i]])
                #expect(relativeToLargest(maps.row(i).scalars, one.scalars) <= 1e-12, "\(make(nil).name) sample \(i)")
            }
        }
    }

    /// On an affine stack F(x) = W x + b, occluding one feature with the zero baseline drops the
    /// target by exactly W_tj x_j: the map of 1-feature windows is W_t ⊙ x and adds up to
    /// F_t(x) − F_t(0). 1e-12: one difference of two forward passes per feature.
    @Test func occlusionOfSingleFeaturesOnAnAffineStackIsTheExactContribution() throws {
        var generator = SeededGenerator(seed: 3)
        let affine = try LayerStack<Double>(architecture: "conv2k3p1,avgpool2,flatten,dense4", inputShape: [1, 6, 6], using: &generator)
        let maps = try Occlusion<Double>(window: [1, 1, 1]).attributions(affine, inputs: inputs, targets: [3, 0, 1, 2, 3])
        let zero = affine(Tensor<Double>.zeros([1, 1, 6, 6]))
        for (i, t) in [3, 0, 1, 2, 3].enumerated() {
            let x = inputs.row(i)
            let (w, _) = affine.linearization(at: x)
            let exact = (0 ..< 36).map { w[t, $0] * x.scalars[$0] }
            #expect(relativeToLargest(maps.row(i).scalars, exact) <= 1e-12)
            let f = affine(x).scalars[t]
            #expect(abs(maps.row(i).scalars.reduce(0, +) - (f - zero[0, t])) <= 1e-12 * max(1, abs(f)))
        }
    }

    /// The seeded SmoothGrad draws its noise from SeededGenerator(seed:) in sample, copy, feature
    /// order, scaled by σ: the same draws given explicitly give the same maps (exactly), and σ = 0
    /// gives the inner method's map (every copy is x: (g + g + g)/3 is g to one rounding, 1e-15).
    @Test func smoothGradNoiseIsTheSeededGeneratorsAndZeroNoiseIsTheInnerMethod() throws {
        let smooth = SmoothGrad<Double>(samples: 4, standardDeviation: 0.3, seed: 9)
        var generator = SeededGenerator(seed: 9)
        let noise = Tensor<Double>(shape: [20, 36], scalars: (0 ..< 720).map { _ in 0.3 * generator.nextNormal() })
        let seeded = try smooth.attributions(stack, inputs: inputs, targets: targets)
        #expect(seeded == (try smooth.attributions(stack, inputs: inputs, targets: targets, noise: noise)))
        let quiet = try SmoothGrad<Double>(samples: 3, standardDeviation: 0).attributions(stack, inputs: inputs, targets: targets)
        expectMaps(quiet, try Gradient<Double>().attributions(stack, inputs: inputs, targets: targets), tolerance: 1e-15, "σ = 0")
    }

    /// Seeded noise drawn chunk by chunk (SmoothGrad's batchRows 4 with 4 copies: one sample per
    /// chunk) is the same draw as all of it at once in sample, copy, feature order: equal maps.
    @Test func smoothGradDrawsPerChunkInTheAllAtOnceOrder() throws {
        let smooth = SmoothGrad<Double>(samples: 4, standardDeviation: 0.3, seed: 9, batchRows: 4)
        var generator = SeededGenerator(seed: 9)
        let noise = Tensor<Double>(shape: [20, 36], scalars: (0 ..< 720).map { _ in 0.3 * generator.nextNormal() })
        #expect(try smooth.attributions(stack, inputs: inputs, targets: targets) == (try smooth.attributions(stack, inputs: inputs, targets: targets, noise: noise)))
    }

    /// Insens is the switched projections' Ω(x), the same for every target. This checks the
    /// method's plumbing (batching, threads, targets ignored); Ω(x) itself is checked
    /// independently in ConvolutionalInterpretationTests' insensIsTheMeanDisplacementOfTheInactiveUnits
    /// and InterpretationTests' insensStepReachesTheSwitchingHyperplane.
    @Test func insensIsOmegaForEveryTarget() throws {
        let a = try Insens<Double>(threads: 2).attributions(stack, inputs: inputs, targets: targets)
        let b = try Insens<Double>(threads: 1).attributions(stack, inputs: inputs, targets: [1, 1, 1, 1, 1])
        #expect(a == b)
        for i in 0 ..< 5 {
            let omega = try SwitchedLinearProjections(stack, at: inputs.row(i)).insens().map
            #expect(a.row(i).scalars == omega)
        }
    }

    /// The Kubota map of readout layer ℓ is SampleAnalysis's class increments W^ℓ[D+t, j]·x^{ℓ−1}[j]
    /// (computed there from the classifier's own pre-activations), to rounding (1e-12).
    @Test func kubotaContributionIsTheClassIncrement() throws {
        let classifier = perturbedClassifier(.relu)
        let stack = classifier.stack
        let x = randomInputs(3, features: 12, classes: 3, seed: 4)
        let targets = [2, 0, 1]
        for layer in 0 ..< 4 {
            let maps = try KubotaContribution<Double>(layer: layer).attributions(stack, inputs: x, targets: targets)
            #expect(maps.shape == [3, 15])
            for i in 0 ..< 3 {
                let analysis = try classifier.analyse(Array(x.row(i).scalars[0 ..< 12]), index: i, label: 0)
                let increment = analysis.increments[layer][targets[i]]
                #expect(relativeToLargest(Array(maps.row(i).scalars[0 ..< 12]), increment) <= 1e-12)
                #expect(maps.row(i).scalars[12...].allSatisfy { $0 == 0 })
            }
        }
        let last = try KubotaContribution<Double>().attributions(stack, inputs: x, targets: targets)
        #expect(last == (try KubotaContribution<Double>(layer: 3).attributions(stack, inputs: x, targets: targets)))
        #expect(throws: InterpretationError.needsClassDimensions(analysis: "Kubota contribution maps")) {
            try KubotaContribution<Double>().attributions(self.stack, inputs: self.inputs, targets: self.targets)
        }
        #expect(throws: InterpretationError.layerOutOfRange(layer: 4, layers: 4)) {
            try KubotaContribution<Double>(layer: 4).attributions(stack, inputs: x, targets: targets)
        }
        // A readout layer reading 7 hidden units into the D + C = 5: no class increments.
        var generator = SeededGenerator(seed: 8)
        let wide = LayerStack<Double>(inputShape: [5], layers: [Dense(inputs: 5, outputs: 7, using: &generator), ActivationLayer(activation: .relu),
                                                              Dense(inputs: 7, outputs: 5, using: &generator)],
                                      classDimensions: ClassDimensions(features: 3, classes: 2))
        #expect(throws: InterpretationError.invalidAttributionSetting(method: "kubota-contribution", setting: "readout layer", value: "2 reading shape [7]",
                                                                      requirement: "a dense layer reading the 5 = D + C units")) {
            try KubotaContribution<Double>().attributions(wide, inputs: .zeros([1, 5]), targets: [0])
        }
    }
}

@Suite struct AttributionSettingTests {
    let stack: LayerStack<Double>
    let inputs: Tensor<Double>

    init() throws {
        var generator = SeededGenerator(seed: 5)
        stack = try LayerStack<Double>(architecture: "conv2k3,relu,flatten,dense3", inputShape: [1, 5, 5], using: &generator)
        inputs = .randomNormal([2, 1, 5, 5], using: &generator)
    }

    @Test func badSettingsThrowOneLineNamingTheValue() throws {
        let cases: [(any AttributionMethod<Double>, InterpretationError)] = [
            (IntegratedGradients(steps: 0), .invalidAttributionSetting(method: "integrated-gradients", setting: "steps", value: "0", requirement: "at least 1 for gausslegendre")),
            (IntegratedGradients(steps: 1, rule: .riemannLeft),
             .invalidAttributionSetting(method: "integrated-gradients", setting: "steps", value: "1", requirement: "at least 2 for riemann_left")),
            (IntegratedGradients(baseline: .zeros([24])),
             .invalidAttributionSetting(method: "integrated-gradients", setting: "baseline", value: "of shape [24]",
                                        requirement: "of shape [1, 5, 5] or [25] (shared), or [2, 1, 5, 5] or [2, 25] (one per sample)")),
            (IntegratedGradients(baseline: Tensor(shape: [25], scalars: [.nan] + [Double](repeating: 0, count: 24))),
             .invalidAttributionSetting(method: "integrated-gradients", setting: "baseline", value: "with 1 NaN or infinite values", requirement: "finite")),
            (IntegratedGradients(batchRows: 0), .invalidAttributionSetting(method: "integrated-gradients", setting: "batch rows", value: "0", requirement: "at least 1")),
            (SmoothGrad(batchRows: 0), .invalidAttributionSetting(method: "smoothgrad", setting: "batch rows", value: "0", requirement: "at least 1")),
            (Occlusion(batchRows: 0), .invalidAttributionSetting(method: "occlusion", setting: "batch rows", value: "0", requirement: "at least 1")),
            (SmoothGrad(standardDeviation: -0.1), .invalidAttributionSetting(method: "smoothgrad", setting: "standard deviation", value: "-0.1", requirement: "finite and at least 0")),
            (SmoothGrad(samples: 0), .invalidAttributionSetting(method: "smoothgrad", setting: "samples", value: "0", requirement: "at least 1")),
            (Occlusion(window: [1, 6, 2]), .invalidAttributionSetting(method: "occlusion", setting: "window", value: "[1, 6, 2]", requirement: "at least 1 and within the input's [1, 5, 5] along each axis")),
            (Occlusion(window: [1, 2, 2], strides: [1, 3, 1]),
             .invalidAttributionSetting(method: "occlusion", setting: "strides", value: "[1, 3, 1]", requirement: "at least 1 and at most the window [1, 2, 2] along each axis it does not cover")),
            (Occlusion(baseline: .zeros([2, 25, 1])),
             .invalidAttributionSetting(method: "occlusion", setting: "baseline", value: "of shape [2, 25, 1]",
                                        requirement: "of shape [1, 5, 5] or [25] (shared), or [2, 1, 5, 5] or [2, 25] (one per sample)")),
        ]
        for (method, error) in cases {
            #expect(throws: error) { try method.attributions(stack, inputs: inputs, targets: [0, 1]) }
            #expect(!error.description.contains("\n"))
        }
        // SmoothGrad's explicit noise: 3 copies of 2 inputs are 6 rows, not 5.
        let noiseError = InterpretationError.invalidAttributionSetting(method: "smoothgrad", setting: "noise", value: "of shape [5, 25]",
                                                                        requirement: "of shape [6, 1, 5, 5] or [6, 25]: 3 copies of each of the 2 inputs")
        #expect(throws: noiseError) { try SmoothGrad<Double>(samples: 3).attributions(stack, inputs: inputs, targets: [0, 1], noise: .zeros([5, 25])) }
        #expect(noiseError.description == "smoothgrad: noise of shape [5, 25] is not allowed; it must be of shape [6, 1, 5, 5] or [6, 25]: 3 copies of each of the 2 inputs")
        #expect(InterpretationError.invalidAttributionSetting(method: "smoothgrad", setting: "standard deviation", value: "-0.1", requirement: "finite and at least 0").description
                == "smoothgrad: standard deviation -0.1 is not allowed; it must be finite and at least 0")
    }

    @Test func theRegistryMakesMethodsByName() throws {
        var settings = AttributionSettings<Double>()
        settings.steps = 16
        settings.rule = .riemannMiddle
        let methods = try AttributionMethods.named("gradient,integrated-gradients", settings: settings)
        #expect(methods.map(\.name) == ["gradient", "integrated-gradients"])
        let ig = try #require(methods[1] as? IntegratedGradients<Double>)
        #expect(ig.steps == 16 && ig.rule == .riemannMiddle)
        // Names are the registry's; summaries tell configurations apart.
        #expect(ig.summary == "integrated-gradients (16 steps, riemann_middle, zero baseline)")
        #expect(Gradient<Double>().summary == "gradient")
        #expect(SmoothGrad<Double>(samples: 5, standardDeviation: 0.5, seed: 3, inner: IntegratedGradients(steps: 4)).summary
                == "smoothgrad-integrated-gradients (5 copies, σ 0.5, seed 3, of integrated-gradients (4 steps, gausslegendre, zero baseline))")
        #expect(Occlusion<Double>(window: [1, 2, 2], baselineValue: 0.5).summary == "occlusion (window [1, 2, 2], strides 1, baseline 0.5)")
        #expect(KubotaContribution<Double>(layer: 2).summary == "kubota-contribution (readout layer 2)")
        // Every kind's method answers to the kind's name.
        for kind in AttributionMethodKind.allCases {
            #expect(try kind.method(AttributionSettings<Double>()).name == kind.rawValue)
        }
        #expect(throws: InterpretationError.unknownAttributionMethod(name: "saliency", known: AttributionMethodKind.allCases.map(\.rawValue))) {
            try AttributionMethods.named("gradient,saliency") as [any AttributionMethod<Double>]
        }
        settings.steps = 0
        #expect(throws: InterpretationError.invalidAttributionSetting(method: "integrated-gradients", setting: "steps", value: "0",
                                                                      requirement: "at least 2 for riemann_middle")) {
            try AttributionMethods.named("integrated-gradients", settings: settings)
        }
        // Every method gives maps of the inputs' shape (Kubota needs class dimensions: apart).
        for kind in AttributionMethodKind.allCases where !kind.needsClassDimensions {
            var quick = AttributionSettings<Double>()
            quick.samples = 3
            quick.steps = 4
            let maps = try kind.method(quick).attributions(stack, inputs: inputs, targets: [2, 0])
            #expect(maps.shape == inputs.shape, "\(kind)")
            // Targets come from labels: one outside the 3 outputs is a typed error, not a crash.
            #expect(throws: InterpretationError.labelOutOfRange(label: 3, classes: 3), "\(kind)") {
                try kind.method(quick).attributions(stack, inputs: inputs, targets: [0, 3])
            }
            #expect(throws: InterpretationError.labelOutOfRange(label: -1, classes: 3), "\(kind)") {
                try kind.method(quick).attributions(stack, inputs: inputs, targets: [-1, 0])
            }
        }
    }
}

/// Occlusion and SmoothGrad on a stack with class dimensions (an identity classifier's flat
/// D + C input): only the D feature columns are perturbed, the class columns stay 0 and get a
/// map of 0, and Occlusion's window is a 2-D patch of the D = s² features laid out [1, s, s].
@Suite struct AttributionClassDimensionTests {
    let classifier = perturbedClassifier(.relu, features: 16, classes: 3)
    let inputs = randomInputs(3, features: 16, classes: 3, seed: 7)
    let targets = [2, 0, 1]

    /// The reference occludes hand-built copies: for each 3 × 3 place of the 4 × 4 image (2 × 2
    /// places at stride 1) the covered features are set to 0.5, the class columns left 0, and
    /// F_t(x) − F_t(copy) is credited to the covered features, averaged over coverage. Both sides
    /// take the same differences of forward passes, summed in another order: 1e-12.
    @Test func occlusionTakesSquarePatchesOfTheFeaturesOnly() throws {
        let stack = classifier.stack
        let occlusion = Occlusion<Double>(baselineValue: 0.5)
        #expect(try occlusion.occludedShape(on: stack) == [1, 4, 4])
        let maps = try occlusion.attributions(stack, inputs: inputs, targets: targets)
        #expect(maps.shape == [3, 19])
        for i in 0 ..< 3 {
            let x = inputs.row(i).scalars
            let unit = 16 + targets[i]
            let f = stack(Tensor(shape: [1, 19], scalars: x)).scalars[unit]
            var credit = [Double](repeating: 0, count: 16), covered = [Double](repeating: 0, count: 16)
            for top in 0 ..< 2 {
                for left in 0 ..< 2 {
                    var copy = x
                    let cells = (top ..< top + 3).flatMap { r in (left ..< left + 3).map { r * 4 + $0 } }
                    for c in cells { copy[c] = 0.5 }
                    let drop = f - stack(Tensor(shape: [1, 19], scalars: copy)).scalars[unit]
                    for c in cells { credit[c] += drop; covered[c] += 1 }
                }
            }
            let reference = (0 ..< 16).map { credit[$0] / covered[$0] }
            let row = maps.row(i).scalars
            #expect(relativeToLargest(Array(row[0 ..< 16]), reference) <= 1e-12)
            #expect(row[16...].allSatisfy { $0 == 0 })
        }
        // D = 12 is no square: 1-D windows over the features; an image shape of another size throws.
        let flat = perturbedClassifier(.relu).stack
        #expect(try occlusion.occludedShape(on: flat) == [12])
        #expect(throws: InterpretationError.invalidAttributionSetting(
            method: "occlusion", setting: "image shape", value: "[1, 5, 5]",
            requirement: "positive extents holding the stack's 16 features (its 3 class columns are not occluded)")) {
            try Occlusion<Double>(imageShape: [1, 5, 5]).attributions(stack, inputs: inputs, targets: targets)
        }
    }

    /// The reference is the mean of Gradient's maps at hand-built noisy copies x + (ε, 0): the
    /// seeded noise drawn D per copy in sample, copy, feature order, the class columns left 0.
    /// Same gradients, summed in the same order: 1e-12.
    @Test func smoothGradNoisesTheFeaturesOnly() throws {
        let stack = classifier.stack
        let smooth = SmoothGrad<Double>(samples: 4, standardDeviation: 0.2, seed: 11)
        let maps = try smooth.attributions(stack, inputs: inputs, targets: targets)
        var generator = SeededGenerator(seed: 11)
        var copies: [Double] = [], repeated: [Int] = []
        for i in 0 ..< 3 {
            for _ in 0 ..< 4 {
                let x = inputs.row(i).scalars
                copies += (0 ..< 16).map { x[$0] + 0.2 * generator.nextNormal() } + [0, 0, 0]
                repeated.append(targets[i])
            }
        }
        let gradients = try Gradient<Double>().attributions(stack, inputs: Tensor(shape: [12, 19], scalars: copies), targets: repeated)
        for i in 0 ..< 3 {
            let reference = (0 ..< 19).map { j in (0 ..< 4).reduce(0.0) { $0 + gradients[i * 4 + $1, j] } / 4 }
            #expect(relativeToLargest(maps.row(i).scalars, reference) <= 1e-12)
        }
        // The D-wide noise given explicitly is the same draw.
        var again = SeededGenerator(seed: 11)
        let noise = Tensor<Double>(shape: [12, 16], scalars: (0 ..< 192).map { _ in 0.2 * again.nextNormal() })
        #expect(maps == (try smooth.attributions(stack, inputs: inputs, targets: targets, noise: noise)))
    }
}

/// Batches held to StackLinearisation.workingBytes (32 MB): on a stack of 2,000 + 4,000 + 4,000
/// + 3 units a row takes about 240 KB, so 150 rows go as two batches (checked). The results
/// are the one-batch computations of each half (75 rows, one batch each): the same rows through
/// GEMMs of other heights, 1e-12 of the largest entry.
@Suite struct AttributionBoundedBatchTests {
    @Test func batchesBeyondTheWorkingBoundGiveEachHalfsResult() throws {
        var generator = SeededGenerator(seed: 40)
        let stack = try LayerStack<Double>(architecture: "dense4000,relu,dense3", inputShape: [2000], using: &generator)
        #expect(GeneratedBatches(stack, rows: 150).rows < 150)
        let inputs = Tensor<Double>.randomNormal([150, 2000], using: &generator)
        let targets = (0 ..< 150).map { $0 % 3 }
        let halves = [0 ..< 75, 75 ..< 150]
        let outputs = stack.boundedOutputs(inputs)
        let gradients = try Gradient<Double>().attributions(stack, inputs: inputs, targets: targets)
        let residual = try CompletenessResidual<Double>().scores(stack, method: Gradient(), inputs: inputs, targets: targets, attributions: gradients)
        for half in halves {
            let part = inputs.rows(half), partTargets = Array(targets[half])
            expectMaps(outputs.rows(half), stack(part), tolerance: 1e-12, "outputs \(half)")
            let partGradients = try Gradient<Double>().attributions(stack, inputs: part, targets: partTargets)
            expectMaps(gradients.rows(half), partGradients, tolerance: 1e-12, "gradients \(half)")
            let partResidual = try CompletenessResidual<Double>().scores(stack, method: Gradient(), inputs: part, targets: partTargets,
                                                                        attributions: partGradients)
            for (a, b) in zip(residual.values[half], partResidual.values) { #expect(abs(a - b) <= 1e-12 * max(1, abs(b))) }
        }
    }

    /// Rows streamed one at a time (the perturbation metrics' way): every third is answered by
    /// the caller and gives its slot away, so the 200 forwarded rows of 300 fill one full batch
    /// and a shorter last one; each is read once, in order, with the outputs of its own row's
    /// one-row pass (other GEMM heights: 1e-12 of the largest entry).
    @Test func streamedRowsSkipTheAnsweredOnesAndReadTheirOwnOutputs() throws {
        var generator = SeededGenerator(seed: 41)
        let stack = try LayerStack<Double>(architecture: "dense4000,relu,dense3", inputShape: [2000], using: &generator)
        let inputs = Tensor<Double>.randomNormal([300, 2000], using: &generator)
        let engine = GeneratedBatches(stack, rows: 256)
        #expect(engine.rows < 200)
        var read: [Int] = []
        var outputs = [[Double]](repeating: [], count: 300)
        inputs.withUnsafeBufferPointer { x in
            engine.forward(rows: 300, fill: { r, y in
                y.baseAddress!.update(from: x.baseAddress! + r * 2000, count: 2000)
                return r % 3 != 0
            }, read: { r, f in
                read.append(r)
                outputs[r] = Array(f)
            })
        }
        #expect(read == (0 ..< 300).filter { $0 % 3 != 0 })
        for r in read { expectMaps(Tensor(shape: [1, 3], scalars: outputs[r]), stack(inputs.rows(r ..< r + 1)), tolerance: 1e-12, "row \(r)") }
    }
}
