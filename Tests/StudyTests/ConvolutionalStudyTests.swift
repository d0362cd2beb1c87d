import Datasets
import Foundation
import GridShards
import Networks
import Spectrum
import Study
import Testing
import TensorAlgebra
import Training

/// Sequences of length 12 in two classes: a bump on the left or on the right half, plus noise.
func bumpSequences(_ count: Int, seed: UInt64) throws -> TensorDataset {
    var generator = SeededGenerator(seed: seed)
    var features: [Float] = [], labels: [Int] = []
    for i in 0 ..< count {
        let label = i % 2
        let noise = Tensor<Float>.randomNormal([12], standardDeviation: 0.3, using: &generator).scalars
        features += (0 ..< 12).map { p in noise[p] + ((p < 6) == (label == 0) ? 1 : 0) }
        labels.append(label)
    }
    return try TensorDataset(features: features, sampleShape: [12], labels: labels)
}

func convolutionalGrid(depths: [Int] = [1, 3], epochs: Int = 2, activation: Activation = .hardTanh) -> StudyGrid {
    StudyGrid(depths: depths, sigmas: [1], initializations: [.identity, .orthogonal, .he], seeds: [0], activation: activation,
              training: TrainingConfiguration(batchSize: 10, epochs: epochs, learningRate: 0.05, trainLimit: 60), precision: .double,
              spectrumInputs: 2, convolution: ConvolutionalNetwork(channels: 6, kernel: 3))
}

@Suite struct ConvolutionalStudyTests {
    /// For a linear CNN with i.i.d. N(0, 2/fan_in) kernels, E‖J δx‖²/‖δx‖² follows the window
    /// recursion exactly (no mean-field approximation: nothing depends on the input). The Monte
    /// Carlo mean of tr(JᵀJ)/n over 300 draws must lie within 4 standard errors of it; the
    /// recursion without borders, (C/in)·2^L, lies far outside, so the test sees the padding.
    @Test func theConvolutionalMeanFieldIsTheMonteCarloMeanOfALinearHeCNN() throws {
        let (channels, length, depth) = (16, 8, 4)
        let field = ConvolutionalMeanField(kernels: .gaussian(sigmaW: 2.0.squareRoot()), activation: .linear, inputChannels: 1,
                                           channels: channels, kernel: 3, positions: [length])
        let theory = field.meanEigenvalue(secondMoments: Array(repeating: 1, count: length), layers: depth)
        let text = ConvolutionalNetwork(channels: channels, kernel: 3).architecture(depth: depth, activation: .linear, classes: 2)
        var samples: [Double] = []
        for seed in 0 ..< 300 {
            var generator = SeededGenerator(seed: UInt64(seed))
            let stack = try LayerStack<Double>(architecture: text, inputShape: [1, length], initialization: .he, using: &generator)
            let trunk = LayerStack<Double>(inputShape: [1, length], layers: Array(stack.layers.prefix(2 * depth)))
            let j = trunk.jacobian(at: .zeros([1, length]))
            samples.append(j.scalars.reduce(0) { $0 + $1 * $1 } / Double(length))
        }
        let mean = samples.reduce(0, +) / Double(samples.count)
        let se = (samples.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(samples.count - 1) / Double(samples.count)).squareRoot()
        #expect(abs(mean - theory) <= 4 * se, "Monte Carlo \(mean) ± \(se), recursion \(theory)")
        let borderless = Double(channels) * pow(2, Double(depth))
        #expect(borderless - theory > 8 * se, "the borders lower the gain: \(theory) against \(borderless)")
        // Delta-orthogonal kernels never read the padding: σ^{2L} (∏ χ_l of a linear network).
        let orthogonal = ConvolutionalMeanField(kernels: .deltaOrthogonal(sigma: 1.1), activation: .linear, inputChannels: 1,
                                                channels: channels, kernel: 3, positions: [length])
        #expect(abs(orthogonal.meanEigenvalue(secondMoments: Array(repeating: 0.5, count: length), layers: depth) - pow(1.21, Double(depth))) < 1e-12)
    }

    /// The Dirac arm: Dirac σ·δ where the channels match, delta-orthogonal where they do not
    /// (the lifting convolution, the head). At σ = 1 with hard-tanh each channel c of position p
    /// carries u = h_c x_p, h the lifting's unit column, unchanged while |u| < 1 and saturated
    /// after: J's column for x_p is h_c·1[|h_c x_p| < 1], so the measured mean of JᵀJ is
    /// Σ_p Σ_c h_c² 1[|h_c x_p| < 1] / n, counted here from the weights and the data.
    @Test func theDiracArmLiftsOrthogonallyAndMeasuresItsUnsaturatedShare() throws {
        let train = try bumpSequences(60, seed: 1), test = try bumpSequences(20, seed: 2)
        let study = try ConvolutionalStudy(grid: convolutionalGrid(depths: [3], epochs: 1), train: train, test: test)
        let point = study.grid.point(0)
        #expect(point.arm.initialization == .identity && study.grid.label(point.arm) == "Dirac σ = 1")
        let stack: LayerStack<Double> = study.stack(point)
        let h = stack.layers[0].parameters[0].scalars.enumerated().filter { $0.offset % 3 == 1 }.map(\.element)
        #expect(stack.layers[0].parameters[0].scalars.enumerated().allSatisfy { $0.offset % 3 == 1 || $0.element == 0 })
        #expect(abs(h.reduce(0) { $0 + $1 * $1 } - 1) < 1e-12, "a unit column on the centre tap")
        for l in [2, 4] {
            let w = stack.layers[l].parameters[0].scalars
            #expect(w == (0 ..< 6 * 6 * 3).map { $0 % 3 == 1 && ($0 / 3) % 7 == 0 ? 1 : 0 }, "layer \(l) is δ")
        }
        let head = stack.layers[7].parameters[0]
        let gram = matmul(head, head, transposeB: true)
        #expect(zip(gram.scalars, Tensor<Double>.identity(2).scalars).allSatisfy { abs($0 - $1) < 1e-12 }, "orthonormal rows")
        let result = try study.run(0)
        var values = [Double](repeating: 0, count: 24)
        values.withUnsafeMutableBufferPointer { train.gatherFeatures([0, 1][...], into: $0.baseAddress!) }
        let expected = values.map { x in h.reduce(0) { $0 + (abs($1 * x) < 1 ? $1 * $1 : 0) } }.reduce(0, +) / 24
        #expect(abs(result.measuredMean! - expected) < 1e-12, "\(result.measuredMean!) against \(expected)")
        #expect(result.chi == nil && result.theoryUnitFraction != nil && result.theoryMean != nil)
    }

    /// The Dirac arm's theory for one input channel, at σ = 1 with hard-tanh and inputs x_p = c
    /// everywhere: a channel passes while |w c/√C| < 1, so the mean is E[w² 1[|w| < a]] =
    /// erf(a/√2) − √(2/π)·a·e^{−a²/2} with a = √C/c, and a position's eigenvalue vanishes only
    /// when all C channels saturate: the share is 1 − (1 − erf(a/√2))^C. The quadrature's
    /// midpoint rule is off by at most half a node's mass at each of the two jumps (≈ 1e-3):
    /// tolerance 3e-3.
    @Test func theDiracTheoryWeighsTheLiftedUnitsByTheirSquares() throws {
        let c: Float = 2
        let constant = try TensorDataset(features: Array(repeating: c, count: 20 * 12), sampleShape: [12], labels: (0 ..< 20).map { $0 % 2 })
        let study = try ConvolutionalStudy(grid: convolutionalGrid(depths: [7], epochs: 1), train: constant, test: constant)
        let theory = study.theory(study.grid.point(0))
        let a = Double(6).squareRoot() / Double(c)
        let mean = erf(a / 2.0.squareRoot()) - (2 / Double.pi).squareRoot() * a * exp(-a * a / 2)
        let share = 1 - pow(1 - erf(a / 2.0.squareRoot()), 6)
        #expect(abs(theory.mean - mean) < 3e-3 && abs(theory.unitFraction! - share) < 3e-3, "\(theory) against \(mean), \(share)")
    }

    @Test func aGridTrainsEveryArmAndReproduces() throws {
        let train = try bumpSequences(60, seed: 1), test = try bumpSequences(20, seed: 2)
        let study = try ConvolutionalStudy(grid: convolutionalGrid(), train: train, test: test)
        #expect(study.grid.pointCount == 6 && study.grid.data?.trainImages == 60 && study.inputShape == [1, 12])
        #expect(study.grid.arms.map(study.grid.label) == ["Dirac σ = 1", "delta-orthogonal σ_w = 1", "He (σ_w = √2)"])
        let results = try (0 ..< 6).map { try study.run($0) }
        for r in results {
            #expect(!r.diverged && r.epochTestAccuracy.count == 2 && r.epochTrainLoss.count == 2, "\(r)")
            #expect(r.distanceFromIdentity.count == r.depth && r.layerAccuracy.isEmpty)
            #expect(r.measuredMean != nil && r.theoryMean != nil && (r.initialization == .identity) == (r.chi == nil))
        }
        #expect(results.contains { ($0.testAccuracy ?? 0) > 0.9 }, "a separable toy problem: \(results.map(\.testAccuracy))")
        #expect(try study.run(4).withoutTiming == results[4].withoutTiming, "a point's numbers depend on its seed alone")
        // The grid line keeps the network: the file reads back as this grid.
        let read = try StudyGrid.fileFormat.read(study.grid.csv(results), path: "study.csv")
        #expect(read.grid == study.grid && read.grid.convolution == ConvolutionalNetwork(channels: 6, kernel: 3))
    }

    /// The study's network is `train --architecture`'s: the same string, the same initial weights.
    @Test func aPointsNetworkIsTheArchitectureStringsStack() throws {
        let study = try ConvolutionalStudy(grid: convolutionalGrid(depths: [2]), train: try bumpSequences(60, seed: 1), test: try bumpSequences(20, seed: 2))
        let point = study.grid.point(1)
        #expect(study.architecture(point) == "conv6k3p1,hard-tanh,conv6k3p1,hard-tanh,flatten,dense2")
        var generator = SeededGenerator(seed: point.seed)
        let expected = try LayerStack<Double>(architecture: study.architecture(point), inputShape: [1, 12], initialization: .deltaOrthogonal,
                                              sigma: 1, using: &generator)
        let built: LayerStack<Double> = study.stack(point)
        #expect(built.parameters.map(\.value.scalars) == expected.parameters.map(\.value.scalars))
    }

    @Test func badConvolutionalGridsAreRefused() throws {
        let train = try bumpSequences(20, seed: 1)
        var grid = convolutionalGrid()
        grid.initializations = [.identity, .gaussian]
        #expect(grid.problem == .invalidGrid(name: "initializations", value: "gaussian",
                                             expected: "identity (Dirac), orthogonal (delta-orthogonal) or he for a convolutional grid"))
        grid = convolutionalGrid()
        grid.convolution?.kernel = 4
        #expect(throws: StudyError.invalidGrid(name: "kernel", value: "4", expected: "odd, 1 … 99 (Dirac and delta-orthogonal kernels need a centre tap)")) {
            try ConvolutionalStudy(grid: grid, train: train, test: train)
        }
        grid = convolutionalGrid()
        grid.convolution = nil
        #expect(throws: StudyError.invalidGrid(name: "convolution", value: "none", expected: "a ConvolutionalNetwork (an MLP grid runs with Study)")) {
            try ConvolutionalStudy(grid: grid, train: train, test: train)
        }
        // An MLP grid's line is what it was: no convolution key.
        let line = StudyGrid.fileFormat.text(grid: StudyGrid(), rows: []).split(separator: "\n")[0]
        #expect(!line.contains("convolution"), "\(line)")
    }
}
