import IsometrySupport

/// Why a file cannot be read as a ``LayerStack``: one type for every problem (the container,
/// the architecture, a tensor missing, extra or of the wrong shape, layers that do not chain,
/// activations that do not match the layers), whose ``description`` is one line naming the
/// file, the layer and the shapes.
///
/// Layers are numbered by their index in the file (`2.weight` belongs to layer 2), as PyTorch
/// numbers the modules of an `nn.Sequential`.
public struct LayerStackError: Error, Equatable, CustomStringConvertible {
    public enum Problem: Equatable, Sendable {
        /// The safetensors container is unreadable or malformed (its own one line).
        case container(String)
        /// No `<index>.weight` tensors at all.
        case noLayers(found: [String])
        /// The file has no architecture metadata (and no activations were given).
        case missingArchitecture
        /// The architecture metadata is not the JSON of a ``LayerStackArchitecture``.
        case invalidArchitecture(String)
        /// A layer kind the reader does not know (and no custom layer closure built).
        case unknownLayerKind(layer: Int, kind: String)
        /// A layer description lacks or misstates an attribute.
        case invalidLayer(layer: Int, kind: String, problem: String)
        /// An activation name no ``Nonlinearity`` has.
        case unknownActivation(String)
        /// `given` activations for `denseLayers` dense layers (which need one fewer: the last is linear).
        case activationCount(given: Int, denseLayers: Int)
        /// A parameter of the architecture is not in the file.
        case missingTensor(name: String, layer: Int, kind: String, expected: [Int])
        /// Tensors no layer takes.
        case unexpectedTensors([String])
        /// A tensor of another shape than its layer's parameter.
        case wrongShape(name: String, layer: Int, kind: String, shape: [Int], expected: String)
        /// Layer `layer` cannot take the shape the layer before outputs.
        case layersDoNotChain(layer: Int, kind: String, takes: String, receives: [Int], from: String)
        /// A weight made for other inputs (its input channels or features differ): the layer
        /// with it would take `takes` but receives `receives` from the layer before (or the input).
        case weightTakesOtherInput(name: String, layer: Int, kind: String, shape: [Int], takes: String, receives: [Int], from: String)
        /// One sample's output of layer `layer` cannot be held (`problem` says why, with the
        /// estimate and the limit).
        case layerTooLarge(layer: Int, kind: String, outputShape: [Int], problem: String)
        /// A tensor holds NaN or infinity.
        case nonFiniteValues(name: String, count: Int)
    }

    public let path: String
    public let problem: Problem

    public init(path: String, problem: Problem) {
        self.path = path
        self.problem = problem
    }

    public var description: String {
        let file = "'\(quotedValue(path))'"
        func names(_ list: [String]) -> String {
            list.prefix(8).map { "'\(quotedValue($0))'" }.joined(separator: ", ") + (list.count > 8 ? " and \(list.count - 8) more" : "")
        }
        switch problem {
        case .container(let text):
            return text
        case .noLayers(let found):
            return "\(file): no '<index>.weight' tensor (a PyTorch nn.Sequential state dict names them 0.weight, 2.weight, …), found: \(found.isEmpty ? "nothing" : names(found))"
        case .missingArchitecture:
            return "\(file): no '\(LayerStackArchitecture.metadataKey)' metadata; for a PyTorch state dict pass the activations (e.g. activation: .relu)"
        case .invalidArchitecture(let detail):
            return "\(file): metadata '\(LayerStackArchitecture.metadataKey)' is not a layer-stack architecture: \(quotedValue(detail))"
        case .unknownLayerKind(let layer, let kind):
            return "\(file): layer \(layer) has unknown kind '\(quotedValue(kind))' (known: \(BuiltInLayerKind.names))"
        case .invalidLayer(let layer, let kind, let problem):
            return "\(file): layer \(layer) (\(quotedValue(kind))) \(quotedValue(problem))"
        case .unknownActivation(let name):
            return "\(file): unknown activation '\(quotedValue(name))' (expected one of \(Self.activationNames))"
        case .activationCount(let given, let dense):
            return "\(file): \(given) activation\(given == 1 ? "" : "s") for \(dense) dense layer\(dense == 1 ? "" : "s"); expected \(max(dense - 1, 0)) (one after every dense layer but the last, whose outputs are the logits)"
        case .missingTensor(let name, let layer, let kind, let expected):
            return "\(file): layer \(layer) (\(quotedValue(kind))) needs tensor '\(quotedValue(name))' of shape \(expected), not in the file"
        case .unexpectedTensors(let list):
            return "\(file): tensor\(list.count == 1 ? "" : "s") \(names(list)) belong\(list.count == 1 ? "s" : "") to no layer"
        case .wrongShape(let name, let layer, let kind, let shape, let expected):
            return "\(file): '\(quotedValue(name))' of layer \(layer) (\(quotedValue(kind))) has shape \(shape), expected \(expected)"
        case .layersDoNotChain(let layer, let kind, let takes, let receives, let from):
            return "\(file): layer \(layer) (\(quotedValue(kind))) takes \(takes) but receives \(receives) from \(from)"
        case .weightTakesOtherInput(let name, let layer, let kind, let shape, let takes, let receives, let from):
            return "\(file): '\(quotedValue(name))' of layer \(layer) (\(quotedValue(kind))) has shape \(shape), so the layer takes \(takes), but it receives \(receives) from \(from)"
        case .layerTooLarge(let layer, let kind, let shape, let problem):
            return "\(file): layer \(layer) (\(quotedValue(kind))) outputs \(shape) per sample, which \(problem)"
        case .nonFiniteValues(let name, let count):
            return "\(file): '\(quotedValue(name))' holds \(count) NaN or infinite value\(count == 1 ? "" : "s")"
        }
    }

    static var activationNames: String { BuiltInLayerKind.activationNames }
}
