import Foundation
import TensorAlgebra
import FileFormats
import IsometrySupport

// Reading and writing a layer stack as safetensors: tensors under PyTorch's state_dict names
// (`<layer index>.weight`, `<layer index>.bias`), the architecture as JSON in the metadata
// (`isometry.architecture`), so that a file written here rebuilds its stack with no flags and
// loads into the same `nn.Sequential` in PyTorch; and PyTorch's own state dicts, which carry
// no architecture, given their activations.

extension LayerStack {
    /// A closure that builds the layers of kinds of the caller's own from their descriptions
    /// (nil for a kind it does not know either); its layers' parameters are then read from the
    /// file like the built-in ones'.
    public typealias CustomLayerBuilder = @Sendable (LayerDescription) -> (any Layer<Scalar>)?

    /// The stack described by `architecture`, its parameters read from `file`: layer by layer,
    /// a built-in layer's parameters found in the file with their shapes before it is built,
    /// and every layer chained to the one before (each sample's outputs within
    /// `MemoryBudget`); then no tensor left over, all finite. Nothing larger than the file
    /// is allocated for a description that does not fit it. `moduleIndices[l]` is the index
    /// layer l has in the file's names (default: l); `path` names the file in errors.
    public init(
        architecture: LayerStackArchitecture, parameters file: SafetensorsFile, path: String,
        moduleIndices: [Int]? = nil, customLayer: CustomLayerBuilder? = nil
    ) throws(LayerStackError) {
        func fail(_ problem: LayerStackError.Problem) -> LayerStackError { LayerStackError(path: path, problem: problem) }
        let indices = moduleIndices ?? Array(architecture.layers.indices)
        require(indices.count == architecture.layers.count, "LayerStack: \(indices.count) module indices for \(architecture.layers.count) layers")
        guard architecture.format == LayerStackArchitecture.currentFormat else {
            throw fail(.invalidArchitecture("format \"\(architecture.format)\", expected \"\(LayerStackArchitecture.currentFormat)\""))
        }
        guard !architecture.layers.isEmpty else { throw fail(.invalidArchitecture("no layers")) }
        guard !architecture.inputShape.isEmpty, architecture.inputShape.allSatisfy({ $0 >= 1 }) else {
            throw fail(.invalidArchitecture("input_shape \(architecture.inputShape), expected extents ≥ 1"))
        }
        if let problem = Self.sampleTooLarge(architecture.inputShape) {
            throw fail(.invalidArchitecture("input_shape \(architecture.inputShape): one sample \(problem)"))
        }
        // Layer by layer: a built-in layer's parameters (their shapes known from its description
        // alone) are found in the file before the layer is built, since building allocates them,
        // and each layer is chained before the next is built, so a weight made for other inputs
        // is named with the shape the layer receives.
        var layers: [any Layer<Scalar>] = []
        var shapes = [architecture.inputShape]
        func from(_ l: Int) -> String { l == 0 ? "the input" : "layer \(indices[l - 1]) (\(layers[l - 1].layerDescription))" }
        func checkTensor(_ name: String, shape expected: [Int], layer l: Int, kind: String) throws(LayerStackError) {
            let tensorName = "\(indices[l]).\(name)"
            guard let entry = file.entries[tensorName] else {
                throw fail(.missingTensor(name: tensorName, layer: indices[l], kind: kind, expected: expected))
            }
            guard entry.shape == expected else {
                // A weight whose input extent alone differs was made for other inputs: say which.
                if name == "weight", let takes = Self.inputTaken(byWeight: entry.shape, expected: expected, receives: shapes[l]) {
                    throw fail(.weightTakesOtherInput(name: tensorName, layer: indices[l], kind: kind, shape: entry.shape, takes: takes,
                                                      receives: shapes[l], from: from(l)))
                }
                throw fail(.wrongShape(name: tensorName, layer: indices[l], kind: kind, shape: entry.shape, expected: "\(expected)"))
            }
        }
        for (l, description) in architecture.layers.enumerated() {
            let layer: any Layer<Scalar>
            if let custom = customLayer?(description) {
                layer = custom
            } else {
                for (name, shape) in description.builtInParameterShapes {
                    try checkTensor(name, shape: shape, layer: l, kind: description.description)
                }
                guard let built = try Self.builtInLayer(description, index: indices[l], path: path) else {
                    throw fail(.unknownLayerKind(layer: indices[l], kind: description.kind))
                }
                layer = built
            }
            do { shapes.append(try layer.outputShape(forInput: shapes[l])) } catch {
                throw fail(.layersDoNotChain(layer: indices[l], kind: layer.layerDescription.description,
                                             takes: error.expected, receives: shapes[l], from: from(l)))
            }
            if let problem = Self.sampleTooLarge(shapes[l + 1]) {
                throw fail(.layerTooLarge(layer: indices[l], kind: layer.layerDescription.description, outputShape: shapes[l + 1], problem: problem))
            }
            layers.append(layer)
        }
        var used: Set<String> = []
        var values: [[Tensor<Scalar>]] = []
        for (l, layer) in layers.enumerated() {
            var loaded: [Tensor<Scalar>] = []
            let kind = layer.layerDescription.description
            for (name, parameter) in zip(layer.parameterNames, layer.parameters) {
                let tensorName = "\(indices[l]).\(name)"
                try checkTensor(name, shape: parameter.shape, layer: l, kind: kind)
                used.insert(tensorName)
                let tensor = file.tensor(tensorName, as: Scalar.self)!
                let bad = tensor.withUnsafeBufferPointer { $0.reduce(0) { $1.isFinite ? $0 : $0 + 1 } }
                if bad > 0 { throw fail(.nonFiniteValues(name: tensorName, count: bad)) }
                loaded.append(tensor)
            }
            values.append(loaded)
        }
        let extra = file.entries.keys.filter { !used.contains($0) }.sorted()
        if !extra.isEmpty { throw fail(.unexpectedTensors(extra)) }
        for l in layers.indices {
            layers[l].updateParameters { index, parameter in parameter = values[l][index] }
        }
        if let classes = architecture.classDimensions {
            guard classes.features >= 1, classes.classes >= 1, architecture.inputShape == [classes.width],
                  case .success(let shapes) = Self.chain(inputShape: architecture.inputShape, layers: layers),
                  shapes.last == [classes.width]
            else {
                throw fail(.invalidArchitecture("class_dimensions \(classes.features) + \(classes.classes) do not fit input \(architecture.inputShape) and the last layer's output"))
            }
        }
        self.init(inputShape: architecture.inputShape, layers: layers, classDimensions: architecture.classDimensions)
    }

    /// Why one sample of `shape` cannot be held (more values than an `Int` counts, or more bytes
    /// than `MemoryBudget` allows), or nil when it can.
    static func sampleTooLarge(_ shape: [Int]) -> String? {
        guard let count = MemoryBudget.product(shape), let bytes = MemoryBudget.product([count, MemoryLayout<Scalar>.stride]) else {
            return "holds more values than memory can address"
        }
        return MemoryBudget.allows(Double(bytes)) ? nil : MemoryBudget.explain(bytes: bytes, limit: MemoryBudget.defaultLimit)
    }

    /// The per-sample input a dense (`[out, in]`) or convolution (`[out, in] + kernel`) weight
    /// of shape `shape` takes ("[24]", "[3, H, W]"), when it differs from the `expected` weight
    /// in the input extent alone and that extent is not what the layer `receives` (then the
    /// tensor was made for other inputs; otherwise the description is at fault); nil otherwise.
    static func inputTaken(byWeight shape: [Int], expected: [Int], receives: [Int]) -> String? {
        guard shape.count == expected.count, shape.count >= 2, shape[1] != expected[1],
              shape.indices.allSatisfy({ $0 == 1 || shape[$0] == expected[$0] }),
              shape.count == 2 ? receives != [shape[1]] : receives.first != shape[1]
        else { return nil }
        let sizes = ["", "L", "H, W"]
        return shape.count == 2 ? "[\(shape[1])]" : shape.count <= 4 ? "[\(shape[1]), \(sizes[shape.count - 2])]" : nil
    }

    /// A built-in layer of `description`'s kind with zero parameters, or nil for another kind.
    static func builtInLayer(_ description: LayerDescription, index: Int, path: String) throws(LayerStackError) -> (any Layer<Scalar>)? {
        func invalid(_ problem: String) -> LayerStackError {
            LayerStackError(path: path, problem: .invalidLayer(layer: index, kind: description.kind, problem: problem))
        }
        guard let kind = BuiltInLayerKind(rawValue: description.kind) else { return nil }
        switch kind {
        case .dense:
            guard let inputs = description.integer("inputs"), let outputs = description.integer("outputs"), inputs >= 1, outputs >= 1 else {
                throw invalid("needs whole numbers inputs ≥ 1 and outputs ≥ 1")
            }
            guard description.attributes["bias"] == nil || description.flag("bias") != nil else { throw invalid("bias must be true or false") }
            let bias = description.flag("bias") ?? true
            return Dense<Scalar>(weight: .zeros([outputs, inputs]), bias: bias ? .zeros([outputs]) : nil)
        case .flatten:
            return Flatten<Scalar>()
        case .conv1d, .conv2d, .maxpool1d, .maxpool2d, .avgpool1d, .avgpool2d, .globalAvgPool:
            return try windowLayer(description, index: index, path: path)
        case .leakyReLU:
            let slope = description.attributes["slope"] == nil ? 0.01 : description.number("slope")
            guard let slope, slope.isFinite else { throw invalid("slope must be a finite number") }
            return ActivationLayer<Scalar>(.leakyReLU(slope: slope))
        case .relu, .hardTanh, .tanh, .erf, .identity:
            // The kind is the function's own name (``Nonlinearity/kind``).
            return ActivationLayer<Scalar>(Nonlinearity(name: kind.rawValue)!)
        }
    }

    // MARK: Files

    /// Reads a stack from a safetensors file that carries its architecture (one written by
    /// ``write(to:metadata:)``): no flags needed.
    public init(contentsOf url: URL, customLayer: CustomLayerBuilder? = nil) throws(LayerStackError) {
        let file = try Self.readFile(url)
        guard let json = file.metadata[LayerStackArchitecture.metadataKey] else {
            throw LayerStackError(path: url.path, problem: .missingArchitecture)
        }
        let architecture = try Self.decodeArchitecture(json, path: url.path)
        try self.init(architecture: architecture, parameters: file, path: url.path, customLayer: customLayer)
    }

    /// Reads a PyTorch `nn.Sequential` of `Linear` and activation modules saved with
    /// `safetensors.torch.save_file(model.state_dict(), path)`: dense layers from the
    /// `<index>.weight` (and `<index>.bias`) tensors in index order, `activations[k]` after
    /// dense layer k, none after the last (its outputs are the logits), so there is one
    /// activation fewer than dense layers. The indices need not be consecutive (a `Dropout`
    /// module between two `Linear`s holds no tensor either); errors name layers by the file's
    /// indices, and the stack, written back, numbers its layers 0, 1, 2, ….
    public init(pytorchStateDict url: URL, activations: [Nonlinearity]) throws(LayerStackError) {
        try self.init(stateDict: try Self.readFile(url), path: url.path, activations: activations)
    }

    /// The same with one activation after every dense layer but the last.
    public init(pytorchStateDict url: URL, activation: Nonlinearity) throws(LayerStackError) {
        let file = try Self.readFile(url)
        let dense = Self.denseIndices(file).weights.count
        try self.init(stateDict: file, path: url.path, activations: Array(repeating: activation, count: max(dense - 1, 0)))
    }

    /// The same with the activation by name ("relu", "leaky-relu:0.2", …).
    public init(pytorchStateDict url: URL, activation name: String) throws(LayerStackError) {
        guard let function = Nonlinearity(name: name) else {
            throw LayerStackError(path: url.path, problem: .unknownActivation(name))
        }
        try self.init(pytorchStateDict: url, activation: function)
    }

    /// A PyTorch state dict already read (`path` names it in errors).
    public init(stateDict file: SafetensorsFile, path: String, activations: [Nonlinearity]) throws(LayerStackError) {
        func fail(_ problem: LayerStackError.Problem) -> LayerStackError { LayerStackError(path: path, problem: problem) }
        let (weights, stray) = Self.denseIndices(file)
        if !stray.isEmpty { throw fail(.unexpectedTensors(stray)) }
        guard !weights.isEmpty else { throw fail(.noLayers(found: file.entries.keys.sorted())) }
        guard activations.count == weights.count - 1 else {
            throw fail(.activationCount(given: activations.count, denseLayers: weights.count))
        }
        var descriptions: [LayerDescription] = []
        var indices: [Int] = []
        for (k, index) in weights.enumerated() {
            let name = "\(index).weight"
            let shape = file.entries[name]!.shape
            guard shape.count == 2, shape.allSatisfy({ $0 >= 1 }) else {
                throw fail(.wrongShape(name: name, layer: index, kind: "dense", shape: shape, expected: "a non-empty matrix [outputs, inputs]"))
            }
            descriptions.append(LayerDescription(kind: "dense", attributes: [
                "inputs": .int(shape[1]), "outputs": .int(shape[0]), "bias": .bool(file.entries["\(index).bias"] != nil),
            ]))
            indices.append(index)
            if k < activations.count {
                descriptions.append(ActivationLayer<Scalar>(activations[k]).layerDescription)
                indices.append(index + 1)
            }
        }
        let inputs = file.entries["\(weights[0]).weight"]!.shape[1]
        try self.init(architecture: LayerStackArchitecture(inputShape: [inputs], layers: descriptions),
                      parameters: file, path: path, moduleIndices: indices)
    }

    /// The module indices of the `<index>.weight` tensors, ascending, and the names that are
    /// neither `<index>.weight` nor `<index>.bias` of such an index.
    static func denseIndices(_ file: SafetensorsFile) -> (weights: [Int], stray: [String]) {
        var weights: Set<Int> = [], biases: [Int: String] = [:], stray: [String] = []
        for name in file.entries.keys {
            let parts = name.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 2, let index = Int(parts[0]), parts[0].allSatisfy({ $0.isASCII && $0.isNumber }),
                  parts[0] == "0" || parts[0].first != "0"
            else { stray.append(name); continue }
            switch parts[1] {
            case "weight": weights.insert(index)
            case "bias": biases[index] = name
            default: stray.append(name)
            }
        }
        stray += biases.filter { !weights.contains($0.key) }.map(\.value)
        return (weights.sorted(), stray.sorted())
    }

    static func readFile(_ url: URL) throws(LayerStackError) -> SafetensorsFile {
        do { return try SafetensorsFile(contentsOf: url) } catch let error as SafetensorsError {
            throw LayerStackError(path: url.path, problem: .container(error.description))
        } catch {
            throw LayerStackError(path: url.path, problem: .container("'\(quotedValue(url.path))': cannot read: \(quotedValue("\(error)"))"))
        }
    }

    /// The architecture from its metadata JSON, or a one-line reason.
    public static func decodeArchitecture(_ json: String, path: String) throws(LayerStackError) -> LayerStackArchitecture {
        do { return try JSONDecoder().decode(LayerStackArchitecture.self, from: Data(json.utf8)) } catch {
            let detail: String
            switch error as? DecodingError {
            case .keyNotFound(let key, let context)?:
                detail = "missing \"\(key.stringValue)\"" + Self.place(context.codingPath)
            case .typeMismatch(_, let context)?, .valueNotFound(_, let context)?:
                detail = context.debugDescription + Self.place(context.codingPath)
            case .dataCorrupted(let context)?:
                detail = context.codingPath.isEmpty ? "not JSON" : context.debugDescription + Self.place(context.codingPath)
            default:
                detail = "\(error)"
            }
            throw LayerStackError(path: path, problem: .invalidArchitecture(detail))
        }
    }

    static func place(_ path: [any CodingKey]) -> String {
        path.isEmpty ? "" : " at " + path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
    }

    /// The file in memory: every parameter under its state-dict name, the architecture JSON
    /// under `isometry.architecture`, and `metadata`.
    public func safetensorsFile(metadata: [String: String] = [:]) -> SafetensorsFile {
        var file = SafetensorsFile()
        for (name, value) in parameters { file.set(name, value) }
        file.metadata = metadata.merging([LayerStackArchitecture.metadataKey: architecture.json()]) { $1 }
        return file
    }

    /// Writes the stack atomically (`AtomicFile`, through the streaming writer: no copy of
    /// the weights), readable by ``init(contentsOf:customLayer:)`` and by PyTorch's
    /// `load_state_dict` for the same `nn.Sequential`.
    public func write(to url: URL, metadata: [String: String] = [:]) throws {
        var writer = SafetensorsStreamWriter<Scalar>(
            metadata: metadata.merging([LayerStackArchitecture.metadataKey: architecture.json()]) { $1 })
        for (name, value) in parameters { writer.set(name, value) }
        try writer.write(to: url)
    }
}

/// The layer kinds a stack's architecture may name that ``LayerStack`` builds itself (any other
/// needs a ``LayerStack/CustomLayerBuilder``): the one list the loader dispatches on
/// (exhaustively, so a kind added here must be built) and its messages name.
enum BuiltInLayerKind: String, CaseIterable {
    case dense, flatten
    case conv1d, conv2d, maxpool1d, maxpool2d, avgpool1d, avgpool2d
    case globalAvgPool = "global-avgpool"
    // Activations, under their ``Nonlinearity/kind``.
    case relu, leakyReLU = "leaky-relu", hardTanh = "hard-tanh", tanh, erf, identity

    var isActivation: Bool {
        switch self {
        case .relu, .leakyReLU, .hardTanh, .tanh, .erf, .identity: true
        case .dense, .flatten, .conv1d, .conv2d, .maxpool1d, .maxpool2d, .avgpool1d, .avgpool2d, .globalAvgPool: false
        }
    }

    /// "dense, flatten, conv1d, …, identity": every kind, for messages.
    static let names = allCases.map(\.rawValue).joined(separator: ", ")
    /// "relu, leaky-relu, hard-tanh, tanh, erf, identity".
    static let activationNames = allCases.filter(\.isActivation).map(\.rawValue).joined(separator: ", ")
}

extension LayerDescription {
    /// The parameters the built-in layer of this description has, by local name, computed from
    /// the attributes alone (nothing allocated): a dense layer's `[outputs, inputs]` weight, a
    /// convolution's `[out, in] + kernel`, and their biases. Empty for kinds without parameters,
    /// for other kinds, and for attributes the builder refuses (it names them).
    var builtInParameterShapes: [(name: String, shape: [Int])] {
        let bias = flag("bias") ?? true
        func withBias(_ weight: [Int]) -> [(name: String, shape: [Int])] { [("weight", weight)] + (bias ? [("bias", [weight[0]])] : []) }
        switch BuiltInLayerKind(rawValue: kind) {
        case .dense?:
            guard let inputs = integer("inputs"), let outputs = integer("outputs"), inputs >= 1, outputs >= 1 else { return [] }
            return withBias([outputs, inputs])
        case .conv1d?, .conv2d?:
            let rank = kind == BuiltInLayerKind.conv1d.rawValue ? 1 : 2
            guard let input = integer("in_channels"), let output = integer("out_channels"), input >= 1, output >= 1,
                  let kernel = integers("kernel"), kernel.count == rank, kernel.allSatisfy({ $0 >= 1 })
            else { return [] }
            return withBias([output, input] + kernel)
        default:
            return []
        }
    }

    /// The values of ``builtInParameterShapes``, `Int.max` when they overflow.
    var builtInParameterCount: Int {
        builtInParameterShapes.reduce(0) { saturatingSum($0, MemoryBudget.product($1.shape) ?? .max) }
    }
}

/// a + b, or `Int.max` when it overflows (counts of values, where "too many" is all that matters).
func saturatingSum(_ a: Int, _ b: Int) -> Int {
    let (sum, overflow) = a.addingReportingOverflow(b)
    return overflow ? .max : sum
}
