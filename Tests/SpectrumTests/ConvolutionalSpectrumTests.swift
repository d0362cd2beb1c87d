import Foundation
import Networks
import Spectrum
import TensorAlgebra
import Testing

/// Spectra of J Jᵀ of convolutional stacks (docs/theory.md §6): a centre-tap CNN is a dense
/// network per position, checked exactly against per-position MLPs built from the stack's own
/// weights; Dirac and delta-orthogonal CNNs against their laws at two depths each.
@Suite struct ConvolutionalSpectrumTests {
    /// The per-position dense network of a centre-tap stack, read from its convolution weights
    /// here rather than through PositionwiseNetwork: the centre tap of every `[out, in] + kernel`
    /// weight, and the bias.
    func centreTapPerceptron(_ stack: LayerStack<Double>, activation: Activation) -> MultilayerPerceptron<Double> {
        var weights: [Tensor<Double>] = [], biases: [Tensor<Double>?] = []
        for layer in stack.layers where !layer.parameters.isEmpty {
            let w = layer.parameters[0]
            let (out, inputs) = (w.shape[0], w.shape[1])
            let taps = w.count / (out * inputs)
            let centre = taps / 2   // odd kernels, row-major: the middle tap is the centre
            weights.append(Tensor(shape: [out, inputs], scalars: (0 ..< out * inputs).map { w.scalars[$0 * taps + centre] }))
            biases.append(layer.parameters.count > 1 ? layer.parameters[1] : nil)
        }
        return MultilayerPerceptron(weights: weights, biases: biases, activation: activation)
    }

    /// J Jᵀ of a delta-orthogonal CNN — 1-D and 2-D, ReLU and hard-tanh, with N(0, σ_b²) biases,
    /// a channel change at the first layer — has the union over positions of the eigenvalues
    /// of the dense networks of its centre taps at that position's input column, to 1e-10 of
    /// λ_max in float64: the dense J of the stack (the convolutions' own J·v with every tap,
    /// gesdd on a 256 × 256 J) against P MLP analyzers on 8 × 4 blocks, the same products in
    /// another order. The block analyzer gives the same eigenvalues and the same J (1e-12).
    @Test func deltaOrthogonalSpectrumIsTheUnionOfPerPositionNetworks() throws {
        var generator = SeededGenerator(seed: 3)
        for (architecture, shape, activation) in [
            ("conv8k3p1,relu,conv8k5p2,relu,conv8k3p2d2,relu", [4, 32], Activation.relu),
            ("conv8k3p1,hard-tanh,conv8k3p1,hard-tanh", [4, 4, 8], .hardTanh),
        ] {
            let stack = try LayerStack<Double>(architecture: architecture, inputShape: shape, initialization: .deltaOrthogonal,
                                               sigma: 1.3, sigmaB: 0.1, using: &generator)
            let perceptron = centreTapPerceptron(stack, activation: activation)
            let dense = LayerStackSpectrumAnalyzer(stack: stack)
            let blocks = try PositionwiseSpectrumAnalyzer(stack: stack)
            let positions = shape.dropFirst().reduce(1, *)
            #expect(blocks.network.positions == positions && blocks.network.widths == [4] + Array(repeating: 8, count: 2 * (shape.count == 2 ? 3 : 2)))
            for _ in 0 ..< 2 {
                let x = Tensor<Double>.randomNormal([shape.reduce(1, *)], standardDeviation: 0.9, using: &generator)
                var union: [Double] = []
                let reference = JacobianSpectrumAnalyzer(network: perceptron)
                for p in 0 ..< positions {
                    let column = Tensor<Double>(shape: [4], scalars: (0 ..< 4).map { x.scalars[$0 * positions + p] })
                    union += try reference.eigenvalues(at: column)
                }
                union.sort(by: >)
                let measured = try dense.eigenvalues(at: x)
                #expect(measured.count == 8 * positions && union.count == 8 * positions)
                let scale = union[0]
                #expect(scale > 0.1)
                #expect(zip(measured, union).allSatisfy { abs($0 - $1) <= 1e-10 * scale }, "\(architecture): dense J against the union")
                #expect(zip(try blocks.eigenvalues(at: x), union).allSatisfy { abs($0 - $1) <= 1e-10 * scale }, "\(architecture): blocks")
                let (jDense, jBlocks) = (try dense.jacobian(at: x), try blocks.jacobian(at: x))
                #expect(jDense.shape == jBlocks.shape)
                #expect(zip(jDense.scalars, jBlocks.scalars).allSatisfy { abs($0 - $1) <= 1e-12 * scale.squareRoot() })
            }
        }
    }

    /// Only centre-tap convolutions that keep positions in place, and pointwise activations,
    /// make J block-diagonal; anything else is named (layer, kind, why), and the experiment then
    /// measures the dense J and says there is no theory.
    @Test func stacksThatMixPositionsAreNamed() throws {
        var generator = SeededGenerator(seed: 5)
        func problem(_ architecture: String, _ shape: [Int], _ initialization: StackInitialization = .deltaOrthogonal) throws -> String? {
            let stack = try LayerStack<Double>(architecture: architecture, inputShape: shape, initialization: initialization, using: &generator)
            do { _ = try PositionwiseNetwork(stack) } catch {
                guard case .notPositionwise = error else { return "wrong error \(error)" }
                return error.description
            }
            return nil
        }
        #expect(try problem("conv4k3p1,relu", [4, 10]) == nil)
        #expect(try problem("conv4k3s2p1,relu", [4, 10])?.hasPrefix("layer 0 (conv1d 4 → 4 kernel 3 stride 2 padding 1): stride [2] moves positions") == true)
        #expect(try problem("conv4k3,relu", [4, 10])?.contains("padding [0] changes the positions; the positionwise form needs padding [1] (same)") == true)
        #expect(try problem("conv4k3p1,relu,maxpool2", [4, 10])?.hasPrefix("layer 2 (maxpool1d") == true)
        #expect(try problem("conv4k3p1,relu,conv4k3p1", [4, 4, 4], .he)?.contains("off-centre weights are non-zero: it mixes positions") == true)
        #expect(try problem("conv4k3p1,relu,flatten,dense3", [4, 6])?.hasPrefix("layer 2 (flatten)") == true)
        // The experiment falls back to the dense J for such a stack: no theory, the reason given.
        let report = try SpectrumExperiment.run(SpectrumConfiguration(
            samples: 2, architecture: "conv4k3s2p1,relu", inputShape: [4, 10], stackInitialization: .deltaOrthogonal))
        #expect(report.route.hasPrefix("layer stack: J by "))
        #expect(report.law == nil && report.theoryNote.contains("stride [2] moves positions"))
    }

    /// Reports name a deep CNN by its repeated block, once.
    @Test func repeatedBlocksAreWrittenOnce() {
        #expect(SpectrumExperiment.compactArchitecture("conv8k3p1,relu,conv8k3p1,relu,conv8k3p1,relu") == "(conv8k3p1,relu)×3")
        #expect(SpectrumExperiment.compactArchitecture("relu,relu") == "(relu)×2")
        #expect(SpectrumExperiment.compactArchitecture("conv8k3p1") == "conv8k3p1")
        #expect(SpectrumExperiment.compactArchitecture("conv4k3,relu,maxpool2,flatten,dense10") == "conv4k3,relu,maxpool2,flatten,dense10")
        #expect(SpectrumExperiment.compactArchitecture("conv8k3p1,relu,conv8k3p1,tanh") == "conv8k3p1,relu,conv8k3p1,tanh")
    }

    /// Dirac taps at σ = 1 make a hard-tanh CNN the identity on (−1, 1): J = I to the bit
    /// (every product is 1·v or an exact zero), so every eigenvalue of J Jᵀ is exactly 1.
    @Test func diracHardTanhAtSigmaOneIsTheIdentity() throws {
        var generator = SeededGenerator(seed: 2)
        let text = Array(repeating: "conv6k3p1,hard-tanh", count: 5).joined(separator: ",")
        let stack = try LayerStack<Double>(architecture: text, inputShape: [6, 5, 7], initialization: .dirac, using: &generator)
        let x = Tensor<Double>.randomUniform([6 * 35], in: -0.99 ..< 0.99, using: &generator)
        for analyzer in [LayerStackSpectrumAnalyzer(stack: stack) as any JacobianSpectrumMeasuring<Double>, try PositionwiseSpectrumAnalyzer(stack: stack)] {
            #expect(try analyzer.jacobian(at: x) == Tensor<Double>.identity(210))
            #expect(try analyzer.eigenvalues(at: x).allSatisfy { abs($0 - 1) <= 1e-15 }, "\(analyzer.route)")
        }
    }

    /// The bar: each row of the report within its band widened to twice its half-width. The
    /// 95 % band is ±1.96 standard errors, so this is ±3.9: a row of a correct theory falls
    /// outside with probability ~1e-4, while the plain band (the report's ✓) fails 1 row in 20
    /// by chance. λ_max's band is one-sided (the law of the maximum, or a bootstrap that cannot
    /// reach above the largest value), so it is checked as the band says.
    func expectRowsAgree(_ report: SpectrumReport, _ label: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(report.law != nil, "\(label): no law", sourceLocation: sourceLocation)
        for row in report.comparison.rows {
            guard let low = row.bandLow, let high = row.bandHigh, let theory = row.theory else {
                Issue.record("\(label): \(row.quantity) has no band", sourceLocation: sourceLocation)
                continue
            }
            let (value, centre) = report.comparison.model == .independentEigenvalues ? (row.measured, theory) : (theory, row.measured)
            let ok: Bool
            if row.quantity == "KS distance" {
                ok = row.measured <= high
            } else if row.quantity == "λ_max" {
                ok = row.agrees == true
            } else {
                let half = max(centre - low, high - centre)
                ok = abs(value - centre) <= 2 * half + 1e-12 * max(1, abs(theory))
            }
            #expect(ok, "\(label): \(row.quantity) measured \(row.measured), theory \(theory), band [\(low), \(high)]", sourceLocation: sourceLocation)
        }
    }

    /// Dirac hard-tanh CNNs at σ = 1.05, N(0, 0.5) inputs, 16 channels on 8 × 8 positions, 4
    /// samples (4096 eigenvalues, each an independent draw: J is diagonal): every eigenvalue is
    /// exactly 0 or σ^{2L}, and the identity law's rows agree at L = 2 and L = 8.
    @Test func diracCNNFollowsTheIdentityLawAtTwoDepths() throws {
        for layers in [2, 8] {
            let text = Array(repeating: "conv16k3p1,hard-tanh", count: layers).joined(separator: ",")
            let report = try SpectrumExperiment.run(SpectrumConfiguration(
                sigma: 1.05, q0: 0.5, samples: 4, architecture: text, inputShape: [16, 8, 8], stackInitialization: .dirac))
            #expect(report.route.hasPrefix("positionwise: 64 blocks of 16 × 16"))
            #expect(report.comparison.model == .independentEigenvalues)
            let top = pow(1.05, 2 * Double(layers))
            #expect(report.eigenvalues.joined().allSatisfy { $0 == 0 || abs($0 - top) <= 1e-12 * top })
            expectRowsAgree(report, "Dirac L = \(layers)")
        }
    }

    /// Delta-orthogonal hard-tanh CNNs at σ = 1, σ_b = 0, N(0, 1) inputs, 128 channels on 16
    /// positions, 10 networks: the layerwise free-probability law (p_l = 0.68, 0.84, 0.90, 0.93
    /// along the q-map; the fixed point q* = 0 would predict the identity) at L = 2 and L = 4.
    /// Finite C shows as an O(1/C) shortage of small eigenvalues (P(λ > 0.057) 0.5 % under the
    /// law at C = 128 for L = 2, 0.35 % at C = 256, docs/theory.md §6), inside the widened band.
    @Test func deltaOrthogonalCNNFollowsLayerwiseFreeProbabilityAtTwoDepths() throws {
        for layers in [2, 4] {
            let text = Array(repeating: "conv128k3p1,hard-tanh", count: layers).joined(separator: ",")
            let report = try SpectrumExperiment.run(SpectrumConfiguration(
                sigma: 1, q0: 1, samples: 10, architecture: text, inputShape: [128, 16], stackInitialization: .deltaOrthogonal))
            #expect(report.route.hasPrefix("positionwise: 16 blocks of 128 × 128"))
            #expect(report.comparison.model == .bootstrapOverSamples)
            // ‖J_x‖ ≤ σ^L = 1 exactly (orthogonal taps, |φ'| ≤ 1), and Σ(1 − p_l) < 1 puts an atom there.
            #expect(report.eigenvalues.joined().allSatisfy { $0 <= 1 + 1e-12 })
            expectRowsAgree(report, "delta-orthogonal L = \(layers)")
        }
    }
}
