import Dispatch
import FileFormats
import Foundation
import Networks
import Spectrum
import TensorAlgebra
import Testing

/// The spectrum analyzer on any layer stack, against independent references: PyTorch's
/// jacrev J and numpy's eigenvalues for the trained PyTorch MLP (Tests/Fixtures/PyTorchMLP,
/// Scripts/make_stack_spectrum_fixture.py), the MultilayerPerceptron analyzer for the same
/// network, and a closed form in expectation for Gaussian ReLU networks.
@Suite struct StackSpectrumTests {
    static let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let pytorch = here.deletingLastPathComponent().appendingPathComponent("Fixtures/PyTorchMLP")

    func pytorchStack() throws -> LayerStack<Float> {
        try LayerStack<Float>(pytorchStateDict: Self.pytorch.appendingPathComponent("model.safetensors"), activation: .relu)
    }

    /// J of the logits at the 8 fixture images equals torch.func.jacrev to 1e-5 relative to the
    /// largest |J_ij| of each image: both are float32 sums of up to 1000 products, whose
    /// order differs between BLAS and PyTorch's kernels by a few ulps (ε = 6e-8) per term.
    @Test func jacobianEqualsJacrev() throws {
        let analyzer = LayerStackSpectrumAnalyzer(stack: try pytorchStack())
        #expect(analyzer.usesReverseMode && analyzer.inputCount == 784 && analyzer.outputCount == 10)
        let inputs = try Tensor<Float>(contentsOfNumpyFile: Self.pytorch.appendingPathComponent("inputs.npy"))
        let reference = try Tensor<Float>(contentsOfNumpyFile: Self.pytorch.appendingPathComponent("jacobians.npy"))
        #expect(reference.shape == [8, 10, 784])
        for i in 0 ..< 8 {
            let j = try analyzer.jacobian(at: inputs.row(i))
            #expect(j.shape == [10, 784])
            let expected = reference.row(i).scalars
            let scale = expected.map(abs).max()!
            let error = zip(j.scalars, expected).map { abs($0 - $1) }.max()!
            #expect(error <= 1e-5 * scale, "image \(i): largest difference \(error), scale \(scale)")
        }
    }

    /// The eigenvalues of J Jᵀ equal numpy's eigvalsh(J @ J.T) of jacrev's J to 1e-4 of λ_max:
    /// J agrees to 1e-5 (above), and |Δλ| ≤ 2‖J‖·‖ΔJ‖ ≤ 2·1e-5·√10·λ_max at worst (‖ΔJ‖ ≤
    /// ‖ΔJ‖_F), so 1e-4 holds with margin while catching any real error.
    @Test func eigenvaluesEqualNumpy() throws {
        let analyzer = LayerStackSpectrumAnalyzer(stack: try pytorchStack())
        let inputs = try Tensor<Float>(contentsOfNumpyFile: Self.pytorch.appendingPathComponent("inputs.npy"))
        let reference = try Tensor<Double>(contentsOfNumpyFile: Self.here.appendingPathComponent("Fixtures/pytorch_mlp_eigenvalues.npy"))
        #expect(reference.shape == [8, 10])
        for i in 0 ..< 8 {
            let values = try analyzer.eigenvalues(at: inputs.row(i))
            let expected = reference.row(i).scalars
            #expect(values.count == 10)
            #expect(zip(values, values.dropFirst()).allSatisfy { $0 >= $1 }, "descending")
            let error = zip(values, expected).map { abs($0 - $1) }.max()!
            #expect(error <= 1e-4 * expected[0], "image \(i): \(values) vs \(expected)")
        }
    }

    /// An identity classifier's network as a stack (its last φ included, `LayerStack(network)`)
    /// gives the MultilayerPerceptron analyzer's eigenvalues to 1e-10 of λ_max in float64:
    /// the same products in another order (the diagonal and active-subnetwork routes against
    /// the full J), so they differ by rounding, ~1e-15 relative per layer. Identity hard-tanh
    /// (diagonal route), orthogonal ReLU (active subnetwork, zero rows included) and Gaussian
    /// tanh (dense product).
    @Test func identityClassifierStackMatchesTheAnalyzer() throws {
        var generator = SeededGenerator(seed: 11)
        let classifier = IdentityClassifier<Double>(inputFeatures: 40, classes: 6, layers: 8, activation: .hardTanh, sigma: 1.05, using: &generator)
        let networks: [MultilayerPerceptron<Double>] = [
            classifier.network,
            MultilayerPerceptron(initialization: .orthogonal, width: 46, layers: 6, sigma: 1.4, sigmaB: 0.1, activation: .relu, using: &generator),
            MultilayerPerceptron(initialization: .gaussian, width: 46, layers: 5, sigma: 1.2, activation: .tanh, using: &generator),
        ]
        for (k, network) in networks.enumerated() {
            let reference = JacobianSpectrumAnalyzer(network: network)
            let analyzer = LayerStackSpectrumAnalyzer(stack: LayerStack(network))
            #expect(reference.isDiagonal == (k == 0))
            for _ in 0 ..< 3 {
                let x = Tensor<Double>.randomNormal([46], standardDeviation: 0.8, using: &generator)
                let expected = try reference.eigenvalues(at: x)
                let values = try analyzer.eigenvalues(at: x)
                #expect(values.count == expected.count)
                let error = zip(values, expected).map { abs($0 - $1) }.max()!
                #expect(error <= 1e-10 * expected[0], "network \(k) (\(reference.route)): largest difference \(error), λ_max \(expected[0])")
                let jacobianError = zip(try analyzer.jacobian(at: x).scalars, try reference.jacobian(at: x).scalars).map { abs($0 - $1) }.max()!
                #expect(jacobianError <= 1e-12, "network \(k): J differs by \(jacobianError)")
            }
        }
    }

    /// A non-square Gaussian ReLU network, 60 → 120 → 80 → 40 → 20, no biases, ReLU after every
    /// layer but the logits, W^l ~ N(0, σ_w²/n_{l−1}): each layer multiplies E‖J v‖² by
    /// σ_w²·n_l/n_{l−1}, each ReLU by ½ (zero biases and symmetric weights make every unit
    /// active with probability ½ independently of the direction), so
    /// E[mean eigenvalue] = E tr(J Jᵀ)/m = (n_0/m)·∏ σ_w² n_l/n_{l−1}·2^{−(L−1)} = σ_w^{2L}·2^{−(L−1)},
    /// 2 at He's σ_w² = 2. Measured over 300 networks, each at one N(0, 1) input: the mean
    /// within 4 standard errors of 2 (a fixed seed; the error of a correct implementation
    /// exceeds 4 SE with probability 6e-5).
    @Test func gaussianReLUMeanEigenvalueIsTheProductOfGains() throws {
        var generator = SeededGenerator(seed: 5)
        let widths = [60, 120, 80, 40, 20]
        var means: [Double] = []
        for _ in 0 ..< 300 {
            var layers: [any Layer<Double>] = []
            for l in 1 ..< widths.count {
                if l > 1 { layers.append(ActivationLayer<Double>(.relu)) }
                let weight = Tensor<Double>.randomNormal([widths[l], widths[l - 1]], standardDeviation: (2 / Double(widths[l - 1])).squareRoot(), using: &generator)
                layers.append(Dense(weight: weight))
            }
            let analyzer = LayerStackSpectrumAnalyzer(stack: LayerStack(layers: layers))
            let values = try analyzer.eigenvalues(at: .randomNormal([60], using: &generator))
            #expect(values.count == 20)
            means.append(values.reduce(0, +) / 20)
        }
        let mean = means.reduce(0, +) / Double(means.count)
        let variance = means.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(means.count - 1)
        let standardError = (variance / Double(means.count)).squareRoot()
        #expect(abs(mean - 2) <= 4 * standardError, "mean \(mean) ± \(standardError), expected 2")
        #expect(standardError < 0.1, "the band is informative: SE \(standardError)")
    }

    /// More inputs than outputs goes by forward mode: a 3 → 7 stack has J Jᵀ of rank 3, so 4
    /// exact zeros after the 3 squared singular values, which equal numpy-free closed form
    /// checks: their sum is ‖J‖_F² (the trace identity).
    @Test func wideOutputGoesByForwardModeWithZeros() throws {
        var generator = SeededGenerator(seed: 3)
        let stack = LayerStack<Double> {
            Dense(inputs: 3, outputs: 5, using: &generator)
            ActivationLayer(.leakyReLU(slope: 0.2))
            Dense(inputs: 5, outputs: 7, using: &generator)
            ActivationLayer(.tanh)
        }
        let analyzer = LayerStackSpectrumAnalyzer(stack: stack)
        #expect(!analyzer.usesReverseMode)
        let x = Tensor<Double>.randomNormal([3], using: &generator)
        let values = try analyzer.eigenvalues(at: x)
        #expect(values.count == 7 && values[3...].allSatisfy { $0 == 0 } && values[2] > 0)
        let j = try analyzer.jacobian(at: x)
        #expect(j.shape == [7, 3])
        expectNear(values.reduce(0, +), j.scalars.map { $0 * $0 }.reduce(0, +), relative: 1e-13)
        // The stack's own J (forward mode through every basis vector) is the same matrix.
        #expect(zip(j.scalars, stack.jacobian(at: x).scalars).allSatisfy { abs($0 - $1) <= 1e-14 })
    }

    /// Every error path, with its exact message.
    @Test func errorsAreTyped() throws {
        let stack = try pytorchStack()
        let analyzer = LayerStackSpectrumAnalyzer(stack: stack)
        #expect(throws: SpectrumError.inputShape(shape: [10], networkInputWidth: 784)) { try analyzer.eigenvalues(at: .zeros([10])) }
        #expect(SpectrumError.inputShape(shape: [10], networkInputWidth: 784).description == "the input has width 10, the network takes width 784")
        let nan = Tensor<Float>(shape: [784], scalars: (0 ..< 784).map { $0 == 3 ? .nan : 0 })
        #expect(throws: SpectrumError.nonFiniteInput(count: 1)) { try analyzer.eigenvalues(at: nan) }
        // A flattened image of the right count is taken whatever its shape.
        #expect(try analyzer.eigenvalues(at: .zeros([28, 28])).count == 10)

        let bad = Tensor<Double>(shape: [4, 4], scalars: (0 ..< 16).map { $0 == 6 ? .infinity : 0 })
        let broken = LayerStackSpectrumAnalyzer(stack: LayerStack<Double> { Dense(weight: bad); ActivationLayer(.relu) })
        #expect(throws: SpectrumError.nonFiniteWeights(layer: 0, tensor: "weight", count: 1)) { try broken.eigenvalues(at: .ones([4])) }
        #expect(SpectrumError.nonFiniteWeights(layer: 0, tensor: "weight", count: 1).description == "layer 0 weight holds 1 NaN or infinite value")

        // A finite network whose outputs overflow at this input.
        let huge = LayerStackSpectrumAnalyzer(stack: LayerStack<Float> {
            Dense(weight: Tensor<Float>.identity(2, scale: 1e30)); Dense(weight: Tensor<Float>.identity(2, scale: 1e30))
        })
        #expect(throws: SpectrumError.nonFinitePreActivation(layer: 1, count: 2)) { try huge.eigenvalues(at: .ones([2])) }
        let overflowing = LayerStackSpectrumAnalyzer(stack: LayerStack<Float> {
            Dense(weight: Tensor<Float>.identity(2, scale: 1e30)); Dense(weight: Tensor<Float>.identity(2, scale: 1e30))
        })
        #expect(throws: SpectrumError.jacobianOverflows(layers: 2, count: 2)) { try overflowing.eigenvalues(at: .zeros([2])) }
    }

    /// Four spectra computed at once, each task with its own analyzers, are bit-identical to the
    /// same four computed one after the other: no shared state between analyzers, none in the
    /// process's OpenBLAS setting (threads: nil). The MLP analyzer's active-subnetwork route and
    /// the stack analyzer both.
    @Test func concurrentSpectraEqualSerialOnes() throws {
        var generator = SeededGenerator(seed: 17)
        let network = MultilayerPerceptron<Double>(initialization: .gaussian, width: 90, layers: 6, sigma: 1.5, sigmaB: 0.05, activation: .relu, using: &generator)
        let stack = try pytorchStack()
        let inputs = (0 ..< 4).map { _ in Tensor<Double>.randomNormal([90], using: &generator) }
        let images = try Tensor<Float>(contentsOfNumpyFile: Self.pytorch.appendingPathComponent("inputs.npy"))
        @Sendable func spectrum(_ k: Int) throws -> [Double] {
            try JacobianSpectrumAnalyzer(network: network).eigenvalues(at: inputs[k])
                + LayerStackSpectrumAnalyzer(stack: stack).eigenvalues(at: images.row(k))
        }
        let serial = try (0 ..< 4).map(spectrum)
        let results = ConcurrentResults(count: 4)
        DispatchQueue.concurrentPerform(iterations: 4) { k in results.set(k, Result { try spectrum(k) }) }
        for k in 0 ..< 4 {
            let concurrent = try results.get(k)
            #expect(concurrent.map(\.bitPattern) == serial[k].map(\.bitPattern), "spectrum \(k)")
        }
    }
}

extension ConfigurationAndThreadTests {
    /// A library call leaves OpenBLAS's process-wide thread count alone unless given
    /// `threads:`: a probe layer reads the setting in the middle of the measurement. In the
    /// serialized suite of the other tests that set threads, so that none runs beside it.
    @Test func threadsAreLeftAloneUnlessGiven() throws {
        let before = OpenBLAS.threads
        let probe = ThreadProbe()
        var generator = SeededGenerator(seed: 2)
        let stack = LayerStack<Double>(inputShape: [8], layers: [Dense<Double>(inputs: 8, outputs: 4, using: &generator), ProbeLayer(probe: probe)])
        let analyzer = LayerStackSpectrumAnalyzer(stack: stack)
        _ = try analyzer.eigenvalues(at: .ones([8]))
        #expect(probe.seen == [before])
        let report = try SpectrumExperiment.run(stack: stack, configuration: SpectrumConfiguration(samples: 2))
        #expect(report.eigenvalues.count == 2 && report.law == nil)
        #expect(probe.seen == [before, before, before])
        let chosen = before == 1 ? 2 : 1
        analyzer.threads = chosen
        _ = try analyzer.eigenvalues(at: .ones([8]))
        #expect(probe.seen.last == chosen && OpenBLAS.threads == before, "set for the call, restored after")
    }

}

/// Results written by concurrent tasks, one slot each.
final class ConcurrentResults: @unchecked Sendable {
    private var slots: [Result<[Double], any Error>?]
    private let lock = NSLock()
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ k: Int, _ value: Result<[Double], any Error>) { lock.withLock { slots[k] = value } }
    func get(_ k: Int) throws -> [Double] { try lock.withLock { slots[k] }!.get() }
}

/// What OpenBLAS's thread count was whenever a probe layer ran forward.
final class ThreadProbe: @unchecked Sendable {
    var seen: [Int] = []
}

/// The identity, recording OpenBLAS's thread count in its forward pass.
struct ProbeLayer: Layer {
    typealias Scalar = Double
    let probe: ThreadProbe
    var layerDescription: LayerDescription { LayerDescription(kind: "probe") }
    func outputShape(forInput shape: [Int]) throws(LayerShapeMismatch) -> [Int] { shape }
    func forward(_ input: Tensor<Double>, into output: inout Tensor<Double>, pattern: inout Tensor<Double>) {
        probe.seen.append(OpenBLAS.threads)
        output = input
    }
    func jvp(_ tangent: Tensor<Double>, pattern: Tensor<Double>, into output: inout Tensor<Double>) { output = tangent }
    func vjp(_ cotangent: Tensor<Double>, pattern: Tensor<Double>, into inputCotangent: inout Tensor<Double>) { inputCotangent = cotangent }
}
