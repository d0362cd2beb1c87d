import Foundation
import IsometrySupport
import Networks
import TensorAlgebra

extension SpectrumConfiguration {
    /// The per-sample shapes an architecture's layers produce (input first) and its parameter
    /// count, from the descriptions alone (no weight is allocated); nil for a kind it does not
    /// know or a window that does not fit (the parser has said so already).
    static func architectureSize(_ architecture: LayerStackArchitecture) -> (shapes: [[Int]], parameters: Int)? {
        var shape = architecture.inputShape
        var shapes = [shape], parameters = 0
        for description in architecture.layers {
            let kind = description.kind
            if kind == "dense", let inputs = description.integer("inputs"), let outputs = description.integer("outputs") {
                parameters += inputs * outputs + outputs
                shape = [outputs]
            } else if kind.hasPrefix("conv") || kind.hasPrefix("maxpool") || kind.hasPrefix("avgpool"),
                      let kernel = description.integers("kernel"),
                      let geometry = try? WindowGeometry(inputSize: Array(shape.dropFirst()), kernel: kernel, stride: description.integers("stride"),
                                                         padding: description.integers("padding"), dilation: description.integers("dilation")) {
                let channels = kind.hasPrefix("conv") ? description.integer("out_channels") ?? shape[0] : shape[0]
                if kind.hasPrefix("conv") { parameters += channels * shape[0] * kernel.reduce(1, *) + channels }
                shape = [channels] + geometry.outputSize
            } else if kind == "global-avgpool" {
                shape = [shape[0]]
            } else if kind == "flatten" {
                shape = [shape.reduce(1, *)]
            } else if Nonlinearity(name: kind) != nil {
                // Pointwise: the shape stays.
            } else {
                return nil
            }
            shapes.append(shape)
        }
        return (shapes, parameters)
    }

    /// Bytes a measurement of the stack `architecture` describes on `inputShape` holds, before
    /// any weight is drawn: its parameters and the stack's workspace, and the dense J (the
    /// directions through every layer, J twice) unless `initialization` puts every weight on
    /// centre taps of convolutions that keep positions in place, whose J goes block by block
    /// (``PositionwiseSpectrumAnalyzer``: C_L × C_0 per position). nil when the string does not
    /// parse (its own error says why).
    public static func estimatedBytes(
        architecture text: String, inputShape: [Int], initialization: StackInitialization, samples: Int, precision: Precision
    ) -> Double? {
        guard let architecture = try? ArchitectureString.parse(text, inputShape: inputShape),
              let (shapes, parameters) = architectureSize(architecture) else { return nil }
        let element = precision == .float ? 4.0 : 8.0
        let (n, m) = (Double(inputShape.reduce(1, *)), Double(shapes[shapes.count - 1].reduce(1, *)))
        let units = shapes.reduce(0.0) { $0 + Double($1.reduce(1, *)) }
        let positionwise = initialization.needsCentreTap && architecture.layers.allSatisfy { d in
            guard d.kind.hasPrefix("conv") else { return Nonlinearity(name: d.kind) != nil }
            let kernel = d.integers("kernel") ?? [], dilation = d.integers("dilation") ?? kernel.map { _ in 1 }
            return (d.integers("stride") ?? []).allSatisfy { $0 == 1 }
                && d.integers("padding") == zip(kernel, dilation).map { $1 * ($0 - 1) / 2 }
        }
        let widest = Double(shapes.map { $0.first ?? 1 }.max() ?? 1)
        let working = positionwise ? 4 * units + 4 * widest * widest : Double(min(m, n) + 2) * units * 2 + 2 * m * n
        return (Double(parameters) + working) * element + Double(samples) * m * 16
    }
}

extension SpectrumExperiment {
    /// The analyzer for `stack`: block by block (``PositionwiseSpectrumAnalyzer``) when its J is
    /// block-diagonal over positions, else the dense J (``LayerStackSpectrumAnalyzer``), after a
    /// memory check when `checkingMemory`. Threads as the caller asks, or chosen by the width of what is decomposed
    /// (C for a block, the widest layer for the dense J) when `chooseThreads`.
    static func analyzer<Scalar: BLASScalar>(
        for stack: LayerStack<Scalar>, _ c: SpectrumConfiguration, chooseThreads: Bool, checkingMemory: Bool = true
    ) throws(SpectrumError) -> any JacobianSpectrumMeasuring<Scalar> {
        if let blocks = try? PositionwiseSpectrumAnalyzer(stack: stack) {
            let width = blocks.network.widths.max() ?? 0
            blocks.threads = c.threads ?? (chooseThreads ? JacobianSpectrumAnalyzer<Scalar>.automaticThreads(width: width) : nil)
            return blocks
        }
        if checkingMemory { try checkMemory(stack: stack, c) }
        let dense = LayerStackSpectrumAnalyzer(stack: stack)
        let widest = stack.shapes.map { $0.reduce(1, *) }.max() ?? 0
        dense.threads = c.threads ?? (chooseThreads ? JacobianSpectrumAnalyzer<Scalar>.automaticThreads(width: widest) : nil)
        return dense
    }

    /// The string with a repeated block written once: "(conv64k3p1,hard-tanh)×8" for eight
    /// pairs, so that a deep CNN's report and figure title stay one line; as it is otherwise.
    public static func compactArchitecture(_ text: String) -> String {
        let tokens = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        for period in 1 ... max(1, tokens.count / 2) where tokens.count % period == 0 && tokens.count / period > 1 {
            let block = Array(tokens[0 ..< period])
            if (0 ..< tokens.count).allSatisfy({ tokens[$0] == block[$0 % period] }) {
                return "(\(block.joined(separator: ",")))×\(tokens.count / period)"
            }
        }
        return text
    }

    /// "delta-orthogonal σ = 1 (σ_b = 0)", "dirac σ = 1.1", "pytorch".
    static func initializationText(_ c: SpectrumConfiguration) -> String {
        let initialization = c.stackInitialization ?? .pytorch
        guard initialization.usesSigma else {
            return initialization.rawValue + (c.sigmaB > 0 && initialization != .pytorch ? " (σ_b = \(compactNumber(c.sigmaB)))" : "")
        }
        return "\(initialization.rawValue) σ = \(compactNumber(c.sigma))" + (c.sigmaB > 0 ? ", σ_b = \(compactNumber(c.sigmaB))" : "")
    }

    /// A stack drawn from `configuration.architecture` on `inputShape` by its
    /// `stackInitialization` (anew for every sample when random and `redrawWeights`), measured
    /// at N(0, q0) inputs or the test images, and compared with ``PositionwiseTheory`` when it
    /// has one (N(0, q0) inputs only).
    static func runArchitecture<Scalar: BLASScalar>(
        _ c: SpectrumConfiguration, _: Scalar.Type, chooseThreads: Bool, progress: ((Int, Int) -> Void)?
    ) throws(SpectrumError) -> SpectrumReport {
        guard let architecture = c.architecture, let shape = c.inputShape else {
            fatalError("runArchitecture: validate() lets no configuration without architecture and inputShape through")
        }
        let initialization = c.stackInitialization ?? .pytorch
        // Sized from the string, before a weight is drawn.
        if let bytes = SpectrumConfiguration.estimatedBytes(architecture: architecture, inputShape: shape, initialization: initialization,
                                                            samples: c.samples, precision: c.precision),
           !MemoryBudget.allows(bytes) {
            throw .tooLarge(what: "the stack \(architecture) on \(shape)", estimatedBytes: bytes, availableBytes: Double(MemoryBudget.physicalMemory))
        }
        var generator = SeededGenerator(seed: c.seed)
        func draw() throws(SpectrumError) -> LayerStack<Scalar> {
            do {
                return try LayerStack<Scalar>(architecture: architecture, inputShape: shape, initialization: initialization,
                                              sigma: c.sigma, sigmaB: c.sigmaB, using: &generator)
            } catch { throw .architecture(error) }
        }
        var stack = try draw()
        var analyzer = try Self.analyzer(for: stack, c, chooseThreads: chooseThreads)
        let width = analyzer.inputCount
        let images = try c.testImagesFolder.map { folder throws(SpectrumError) in try testImages(folder, count: c.samples) }
        if let images, images.features != width {
            throw .inputShape(shape: images.imageShape, networkInputWidth: width)
        }
        let network = try? PositionwiseNetwork(stack)
        let theory = network.map { PositionwiseTheory($0, initialization: initialization, sigma: c.sigma, sigmaB: c.sigmaB, q0: c.q0) }
        let law = images == nil ? theory?.law() : nil
        let note: String
        if let folder = c.testImagesFolder {
            note = "none at data: inputs are \(imagesText(c.samples, folder)); measured statistics only"
        } else if let theory {
            note = theory.choice == .freeProbability && law == nil
                ? "none: the variance map diverges within \(theory.layers) layers" : theory.note
        } else {
            var reason = "J is not block-diagonal over positions"
            do { _ = try PositionwiseNetwork(stack) } catch { reason = error.description }
            note = "none for this network (\(reason)): measured statistics only"
        }
        let redraw = c.redrawWeights && initialization.isRandom
        var pixels = Tensor<Scalar>.zeros([1, width])
        var eigenvalues: [[Double]] = []
        let start = Date()
        var measuredSeconds = 0.0
        for sample in 0 ..< c.samples {
            if redraw && sample > 0 {
                stack = try draw()
                analyzer = try Self.analyzer(for: stack, c, chooseThreads: chooseThreads)
            }
            let input: Tensor<Scalar>
            if let images {
                images.gather([sample], into: &pixels)
                input = pixels.reshaped([width])
            } else {
                input = .randomNormal([width], standardDeviation: Scalar(c.q0.squareRoot()), using: &generator)
            }
            let t0 = Date()
            eigenvalues.append(try analyzer.eigenvalues(at: input))
            measuredSeconds += Date().timeIntervalSince(t0)
            progress?(sample + 1, c.samples)
        }
        let model: SamplingModel = law != nil ? theory?.samplingModel ?? .bootstrapOverSamples : .bootstrapOverSamples
        let comparison = try SpectrumComparison(
            eigenvalues: eigenvalues, law: law, model: model,
            atomTolerance: Scalar.self == Float.self ? 1e-4 : 1e-9, seed: c.seed &+ 1)
        var described = c
        described.width = analyzer.outputCount
        described.layers = stack.layerCount
        if let activation = theory?.activation { described.activation = activation }
        let inputs = c.testImagesFolder.map { imagesText(c.samples, $0) } ?? "inputs N(0, q0 = \(compactNumber(c.q0)))"
        let kind = network != nil ? "CNN" : "layer stack"
        var report = SpectrumReport(
            configuration: described,
            subject: "\(initializationText(c)) \(kind) \(compactArchitecture(architecture)) on \(shape), at \(inputs)",
            route: analyzer.route, law: law, theoryNote: note, comparison: comparison,
            secondsPerSample: measuredSeconds / Double(max(c.samples, 1)),
            totalSeconds: Date().timeIntervalSince(start), eigenvalues: eigenvalues)
        if law != nil, let theory { report.finiteWidth = theory.channels }
        return report
    }
}
