import Foundation
import Networks
import Testing
import TensorAlgebra

/// Initialisations of a layer stack's dense and convolution layers (`StackInitialization`):
/// the isometric ones against exact identities, the random ones against their variance
/// formulas, and seeds.
@Suite struct StackInitializationTests {
    func stack<Scalar: BLASScalar>(
        _ text: String, _ shape: [Int], _ initialization: StackInitialization, sigma: Double = 1, sigmaB: Double = 0, seed: UInt64 = 1
    ) throws(StackInitializationError) -> LayerStack<Scalar> {
        var generator = SeededGenerator(seed: seed)
        return try LayerStack<Scalar>(architecture: text, inputShape: shape, initialization: initialization, sigma: sigma, sigmaB: sigmaB,
                                      using: &generator)
    }

    /// The weights of the stack's parameterised layers, in order.
    func weights<Scalar>(_ stack: LayerStack<Scalar>) -> [Tensor<Scalar>] {
        stack.layers.filter { !$0.parameters.isEmpty }.map { $0.parameters[0] }
    }

    // MARK: Dirac

    /// At σ = 1 every output of a Dirac convolution is 1·x plus products with exact zeros (the
    /// other taps, the other channels, the zero padding) and a zero bias: every product and every
    /// partial sum is exact in floating point, with or without FMA, so the convolution returns x
    /// bit for bit; hard-tanh is the identity on (−1, 1). So the whole CNN is the identity, to
    /// the bit (no ulp of slack is needed), in Float and Double.
    @Test(arguments: [
        ("conv8k3p1,hard-tanh,conv8k3p1,hard-tanh,conv8k5p2,hard-tanh,conv8k3p1nb,hard-tanh,conv8k3p2d2,hard-tanh", [8, 20]),
        ("conv8k3p1,hard-tanh,conv8k5p2,hard-tanh,conv8k3p1nb,hard-tanh,conv8k3p1,hard-tanh", [8, 6, 7]),
    ])
    func diracHardTanhCNNIsTheIdentityOnTheOpenInterval(_ text: String, _ shape: [Int]) throws {
        try expectIdentity(Float.self, text, shape)
        try expectIdentity(Double.self, text, shape)
    }

    func expectIdentity<Scalar: BLASScalar>(_: Scalar.Type, _ text: String, _ shape: [Int]) throws {
        let network: LayerStack<Scalar> = try stack(text, shape, .dirac)
        var generator = SeededGenerator(seed: 9)
        let input = Tensor<Scalar>.randomUniform([5] + shape, in: -0.999 ..< 0.999, using: &generator)
        let output = network(input)
        #expect(output.shape == input.shape)
        #expect(output.scalars == input.scalars, "\(Scalar.self) \(text): not the identity to the bit")
    }

    /// PyTorch's `dirac_`/`eye_` for in ≠ out: w[i, i, centre] = σ for i < min(out, in). So a
    /// widening layer copies its inputs into the first channels and zeros the rest, and a
    /// narrowing one keeps the first channels.
    @Test func diracWithUnequalChannelsIsThePartialIdentity() throws {
        let network: LayerStack<Double> = try stack("conv6k3p1,conv4k5p2,flatten,dense30,dense10", [4, 3], .dirac, sigma: 2)
        var generator = SeededGenerator(seed: 2)
        let x = Tensor<Double>.randomNormal([1, 4, 3], using: &generator)
        let workspace = network.makeWorkspace(batchSize: 1)
        network.forward(x, in: workspace)
        let wide = workspace.activations[1].scalars, narrow = workspace.activations[2].scalars
        #expect(Array(wide[0 ..< 12]) == x.scalars.map { 2 * $0 } && wide[12...].allSatisfy { $0 == 0 })
        #expect(narrow == x.scalars.map { 4 * $0 })
        // Dense 12 → 30 → 10: eye_ scaled by σ, twice.
        let logits = workspace.output.scalars
        #expect(logits == narrow.prefix(10).map { 4 * $0 })
        for weight in weights(network) {
            let (out, inputs) = (weight.shape[0], weight.shape[1])
            let taps = weight.count / (out * inputs)
            let centre = taps / 2
            for o in 0 ..< out {
                for i in 0 ..< inputs {
                    for t in 0 ..< taps {
                        #expect(weight.scalars[(o * inputs + i) * taps + t] == (o == i && t == centre ? 2 : 0))
                    }
                }
            }
        }
    }

    // MARK: Delta-orthogonal

    /// The centre taps are σ·H with HᵀH = I (out ≥ in) or HHᵀ = I (out < in), every other tap 0.
    /// H is drawn in Double (Householder QR: orthogonal to about n·1e-16) and rounded once: in
    /// Float each entry moves by at most 2⁻²⁴ relative, so an entry of HᵀH (products summed in
    /// Double here) moves by at most 2·2⁻²⁴·σ² ≈ 1.2e-7·σ² (Cauchy–Schwarz over the two
    /// columns): 1e-6 relative to σ² leaves a factor 8. Double: 1e-12.
    @Test(arguments: [false, true]) func deltaOrthogonalCentreTapsAreScaledIsometries(_ double: Bool) throws {
        let sigma = 1.3
        let texts = [("conv16k3p1,tanh,conv16k5p2,conv32k3p1,conv24k3p1,flatten,dense40,dense10", [16, 9]),
                     ("conv8k3p1,relu,conv12k3p1,conv5k5p2,gap,dense10", [8, 5, 6])]
        for (text, shape) in texts {
            let all: [(shape: [Int], values: [Double])] = double
                ? weights(try stack(text, shape, .deltaOrthogonal, sigma: sigma) as LayerStack<Double>).map { ($0.shape, $0.scalars) }
                : weights(try stack(text, shape, .deltaOrthogonal, sigma: sigma) as LayerStack<Float>).map { ($0.shape, $0.scalars.map(Double.init)) }
            let tolerance = double ? 1e-12 : 1e-6
            for (weightShape, values) in all {
                let (out, inputs) = (weightShape[0], weightShape[1])
                let kernel = Array(weightShape.dropFirst(2))
                let taps = kernel.reduce(1, *)
                let centre = kernel.reduce(0) { $0 * $1 + $1 / 2 }
                for o in 0 ..< out {
                    for i in 0 ..< inputs {
                        for t in 0 ..< taps where t != centre { #expect(values[(o * inputs + i) * taps + t] == 0) }
                    }
                }
                func h(_ o: Int, _ i: Int) -> Double { values[(o * inputs + i) * taps + centre] }
                // The Gram matrix of the short side: columns when tall, rows when wide.
                let n = min(out, inputs)
                var worst = 0.0
                for a in 0 ..< n {
                    for b in 0 ..< n {
                        let gram = out >= inputs ? (0 ..< out).reduce(0) { $0 + h($1, a) * h($1, b) }
                            : (0 ..< inputs).reduce(0) { $0 + h(a, $1) * h(b, $1) }
                        worst = max(worst, abs(gram - (a == b ? sigma * sigma : 0)) / (sigma * sigma))
                    }
                }
                #expect(worst <= tolerance, "\(text) \(weightShape): Gram off by \(worst) relative")
            }
        }
    }

    /// A linear delta-orthogonal CNN (no activation, σ = 1, stride 1, zero padding keeping the
    /// size): every off-centre tap is 0, so the zero padding is only ever read by zero weights
    /// and each position's channel vector x_p is multiplied by the centre taps alone: y_p =
    /// H_L ⋯ H_1 x_p, and ‖y_p‖ = ‖x_p‖ exactly because each Hᵢ is orthogonal. The inputs are
    /// zero near the border, as the identity is usually stated, though with zero off-centre
    /// taps it holds at the border too. Checked against the per-position product of the centre
    /// taps computed here (an independent reference for the convolution) and against the norm;
    /// rounding only: 1e-12 in Double, 1e-5 in Float (four layers of 12-term sums, ~1e-7 each).
    @Test func linearDeltaOrthogonalCNNPreservesTheNorm() throws {
        try expectNormPreserved(Double.self, tolerance: 1e-12)
        try expectNormPreserved(Float.self, tolerance: 1e-5)
    }

    func expectNormPreserved<Scalar: BLASScalar>(_: Scalar.Type, tolerance: Double) throws {
        let (channels, length, border) = (12, 24, 3)
        let network: LayerStack<Scalar> = try stack("conv12k3p1,conv12k5p2,identity,conv12k3p1nb,conv12k7p3", [channels, length], .deltaOrthogonal, seed: 4)
        var generator = SeededGenerator(seed: 6)
        var x = Tensor<Scalar>.randomNormal([2, channels, length], using: &generator)
        x.withUnsafeMutableBufferPointer { v in
            for i in v.indices where (i % length) < border || (i % length) >= length - border { v[i] = 0 }
        }
        let y = network(x)
        let centres: [[Double]] = weights(network).map { w in
            let taps = w.shape[2]
            return (0 ..< channels * channels).map { Double(w.scalars[$0 * taps + taps / 2]) }
        }
        let (xs, ys) = (x.scalars.map(Double.init), y.scalars.map(Double.init))
        for b in 0 ..< 2 {
            var inNorm = 0.0, outNorm = 0.0
            for p in 0 ..< length {
                var v = (0 ..< channels).map { xs[(b * channels + $0) * length + p] }
                for h in centres { v = (0 ..< channels).map { o in (0 ..< channels).reduce(0) { $0 + h[o * channels + $1] * v[$1] } } }
                for c in 0 ..< channels {
                    let measured = ys[(b * channels + c) * length + p]
                    #expect(abs(measured - v[c]) <= tolerance * max(1, abs(v[c])), "\(Scalar.self) position \(p) channel \(c)")
                }
                inNorm += (0 ..< channels).reduce(0) { $0 + xs[(b * channels + $1) * length + p] * xs[(b * channels + $1) * length + p] }
                outNorm += (0 ..< channels).reduce(0) { $0 + ys[(b * channels + $1) * length + p] * ys[(b * channels + $1) * length + p] }
            }
            #expect(abs(outNorm.squareRoot() / inNorm.squareRoot() - 1) <= tolerance, "\(Scalar.self): ‖y‖/‖x‖ = \(outNorm.squareRoot() / inNorm.squareRoot())")
        }
    }

    // MARK: He and Glorot

    /// The sample mean and variance of n weights against the formulas, within 5 standard errors
    /// of each estimate: the mean's SE is σ/√n; the variance's is σ²·√(2/n) for a normal and
    /// σ²·√(0.8/n) for a uniform (its fourth central moment is 9/5·σ⁴). A miss of 5 SE has
    /// probability below 1e-6 for a fresh draw; the seeds here are fixed, so the test is
    /// deterministic. Glorot's draws also stay inside its bound.
    @Test(arguments: [
        ("conv64k3p1,relu,conv64k3p1", [64, 8, 8]),        // 2-D, fan-in 576
        ("conv48k5p2,relu,conv80k7p3,gap,dense300", [16, 30]),  // 1-D, fan-in 80 and 336; dense fan-in 80
    ])
    func heAndGlorotSampleVariancesMatchTheirFormulas(_ text: String, _ shape: [Int]) throws {
        for initialization in [StackInitialization.he, .glorot] {
            let network: LayerStack<Double> = try stack(text, shape, initialization, seed: 11)
            for w in weights(network) {
                let n = Double(w.count)
                let taps = w.shape.dropFirst(2).reduce(1, *)
                let (fanIn, fanOut) = (Double(w.shape[1] * taps), Double(w.shape[0] * taps))
                let bound = (6 / (fanIn + fanOut)).squareRoot()
                let variance = initialization == .he ? 2 / fanIn : bound * bound / 3
                let values = w.scalars
                let mean = values.reduce(0, +) / n
                let sampleVariance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
                let varianceError = variance * ((initialization == .he ? 2 : 0.8) / n).squareRoot()
                #expect(abs(mean) <= 5 * (variance / n).squareRoot(), "\(initialization) \(w.shape): mean \(mean)")
                #expect(abs(sampleVariance - variance) <= 5 * varianceError,
                        "\(initialization) \(w.shape): variance \(sampleVariance), expected \(variance) ± \(varianceError)")
                if initialization == .glorot { #expect(values.allSatisfy { abs($0) <= bound }) }
            }
            // Biases start at 0 without σ_b.
            for layer in network.layers where layer.parameters.count == 2 { #expect(layer.parameters[1].scalars.allSatisfy { $0 == 0 }) }
        }
    }

    /// N(0, σ_b²) biases when σ_b > 0, drawn after each weight, for every initialisation but PyTorch's.
    @Test func biasesAreNormalWithSigmaB() throws {
        let network: LayerStack<Double> = try stack("conv400k3p1,relu,flatten,dense600", [1, 5], .dirac, sigmaB: 0.3)
        let biases = network.layers.filter { $0.parameters.count == 2 }.flatMap { $0.parameters[1].scalars }
        let n = Double(biases.count)
        let variance = biases.reduce(0) { $0 + $1 * $1 } / n
        // Mean known (0): the variance estimate's SE is 0.09·√(2/n).
        #expect(abs(variance - 0.09) <= 5 * 0.09 * (2 / n).squareRoot(), "\(variance)")
    }

    // MARK: Seeds, PyTorch's default, refusals

    @Test func seedsReproduceAndDifferentSeedsDiffer() throws {
        let text = "conv8k3p1,tanh,conv8k3p1,flatten,dense10"
        for initialization in StackInitialization.allCases {
            let a: LayerStack<Float> = try stack(text, [2, 7], initialization, sigma: 1.1, sigmaB: 0.05, seed: 3)
            let b: LayerStack<Float> = try stack(text, [2, 7], initialization, sigma: 1.1, sigmaB: 0.05, seed: 3)
            let c: LayerStack<Float> = try stack(text, [2, 7], initialization, sigma: 1.1, sigmaB: 0.05, seed: 4)
            let (pa, pb, pc) = (a.parameters.map(\.value.scalars), b.parameters.map(\.value.scalars), c.parameters.map(\.value.scalars))
            #expect(pa == pb, "\(initialization): the same seed gives the same stack")
            #expect(pa != pc, "\(initialization): another seed gives another stack (dirac through its σ_b biases)")
            #expect(a.parameterNames == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"])
        }
    }

    /// `.pytorch` is the stack `init(architecture:inputShape:using:)` builds, and `initialize`
    /// redraws it exactly as the layers' own initialisers do.
    @Test func pytorchIsTheLayersOwnDefault() throws {
        let text = "conv6k3,relu,maxpool2,conv4k3nb,flatten,dense10"
        var g1 = SeededGenerator(seed: 5), g2 = SeededGenerator(seed: 99), g3 = SeededGenerator(seed: 5)
        let reference = try LayerStack<Float>(architecture: text, inputShape: [1, 12, 12], using: &g1)
        let viaCase: LayerStack<Float> = try stack(text, [1, 12, 12], .pytorch, seed: 5)
        var redrawn = try LayerStack<Float>(architecture: text, inputShape: [1, 12, 12], using: &g2)
        try redrawn.initialize(.pytorch, using: &g3)
        #expect(viaCase.parameters.map(\.value.scalars) == reference.parameters.map(\.value.scalars))
        #expect(redrawn.parameters.map(\.value.scalars) == reference.parameters.map(\.value.scalars))
    }

    @Test func evenKernelsAndBadScalesAreRefusedNamingTheLayer() throws {
        for initialization in [StackInitialization.dirac, .deltaOrthogonal] {
            #expect(throws: StackInitializationError.evenKernel(layer: 2, kind: "conv1d 8 → 8 kernel 4 padding 1", kernel: [4], initialization: initialization)) {
                let _: LayerStack<Float> = try stack("conv8k3p1,relu,conv8k4p1,relu,gap,dense10", [1, 20], initialization)
            }
            do {
                let _: LayerStack<Float> = try stack("conv8k3p1,relu,conv8k2,gap,dense10", [1, 9, 9], initialization)
                Issue.record("an even 2-D kernel was accepted")
            } catch {
                #expect(error.description.hasPrefix("layer 2 (conv2d 8 → 8 kernel 2×2) has kernel 2×2: \(initialization.rawValue) initialisation puts the weight on the centre tap"),
                        "\(error.description)")
            }
        }
        // He, Glorot and PyTorch's default have no centre tap to need.
        for initialization in [StackInitialization.he, .glorot, .pytorch] {
            let _: LayerStack<Float> = try stack("conv8k4p1,relu,gap,dense10", [1, 20], initialization)
        }
        #expect(throws: StackInitializationError.invalidScale(name: "sigma", value: 0)) {
            let _: LayerStack<Float> = try stack("flatten,dense10", [1, 20], .dirac, sigma: 0)
        }
        #expect(throws: StackInitializationError.invalidScale(name: "sigmaB", value: -1)) {
            let _: LayerStack<Float> = try stack("flatten,dense10", [1, 20], .he, sigmaB: -1)
        }
        do {
            let _: LayerStack<Float> = try stack("conv8k3,dense10", [1, 20], .he)
            Issue.record("a bad string was accepted")
        } catch {
            guard case .architecture = error else { Issue.record("\(error)"); return }
            #expect(error.description.hasPrefix("architecture token 1 'dense10'"))
        }
    }
}
