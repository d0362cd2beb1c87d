import Foundation
import TensorAlgebra
import FileFormats
import IsometrySupport

/// Why an architecture string does not describe a stack for its input: one line naming the
/// token (by position and text) and, for shapes, what it takes and what it receives.
public struct ArchitectureStringError: Error, Equatable, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A layer stack written as one line, one comma-separated token per module of the
/// `nn.Sequential` (so token k is module k, and a PyTorch state dict's `k.weight` belongs to
/// it):
///
/// | token | layer |
/// | --- | --- |
/// | `conv<out>k<k>[s<stride>][p<padding>][d<dilation>][nb]` | ``Conv2d`` on `[C, H, W]`, ``Conv1d`` on `[C, L]` (square kernel; the input channels are the incoming ones; s, p, d in any order; `nb`: no bias) |
/// | `maxpool<k>[s<stride>][p<padding>]`, `avgpool<k>[…]` | ``MaxPool`` / ``AvgPool`` of the input's rank (stride defaults to k) |
/// | `gap` | ``GlobalAvgPool``: `[C, …]` → `[C]` |
/// | `flatten` | ``Flatten`` |
/// | `dense<n>[nb]` | ``Dense`` from the incoming vector's width to n |
/// | `relu`, `tanh`, `erf`, `hard-tanh`, `identity`, `leaky-relu[:slope]` | ``ActivationLayer`` |
///
/// e.g. `conv32k3,relu,maxpool2,conv64k3,relu,maxpool2,flatten,dense128,relu,dense10` on
/// `[1, 28, 28]`. Shapes are followed token by token, so every channel count and width is
/// implied, and the first token that cannot take what it receives is named. Widths and
/// channel counts may have up to 18 digits (the memory budget, not the syntax, decides how
/// large a layer may be); kernels, strides, paddings and dilations go up to 999999999.
public enum ArchitectureString {
    /// The architecture (layer descriptions and input shape) the string describes on
    /// `inputShape`, or the first token at fault.
    ///
    /// Nothing of the size the string describes is allocated: every token's per-sample output
    /// and the parameters up to it are counted and checked against `MemoryBudget` (in
    /// float32; ``LayerStack/init(architecture:inputShape:using:)`` checks in its own scalar)
    /// before the next token is read.
    public static func parse(_ text: String, inputShape: [Int]) throws(ArchitectureStringError) -> LayerStackArchitecture {
        try parse(text, inputShape: inputShape, as: Float.self)
    }

    /// ``parse(_:inputShape:)`` with the memory checks in `Scalar`.
    static func parse<Scalar: BLASScalar>(_ text: String, inputShape: [Int], as _: Scalar.Type) throws(ArchitectureStringError) -> LayerStackArchitecture {
        guard !inputShape.isEmpty, inputShape.allSatisfy({ $0 >= 1 }) else {
            throw ArchitectureStringError("input shape \(inputShape) needs extents ≥ 1")
        }
        if let problem = LayerStack<Scalar>.sampleTooLarge(inputShape) {
            throw ArchitectureStringError("input shape \(inputShape): one sample \(problem)")
        }
        let tokens = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard !text.trimmingCharacters(in: .whitespaces).isEmpty else { throw ArchitectureStringError("architecture is empty; expected tokens such as conv32k3,relu,maxpool2,flatten,dense10") }
        var shape = inputShape
        var descriptions: [LayerDescription] = []
        var parameters = 0
        for (k, token) in tokens.enumerated() {
            func fail(_ problem: String) -> ArchitectureStringError {
                ArchitectureStringError("architecture token \(k) '\(quotedValue(token))': \(problem)")
            }
            let description = try describe(token, shape: shape, fail: fail)
            // Dense and convolution shapes follow from the description alone: no weights are
            // allocated until every token has passed (a misplaced token after a large layer
            // costs nothing).
            let layerParameters = description.builtInParameterCount
            parameters = saturatingSum(parameters, layerParameters)
            let bytes = MemoryBudget.product([parameters, MemoryLayout<Scalar>.stride])
            if !(bytes.map { MemoryBudget.allows(Double($0)) } ?? false) {
                let count = layerParameters == .max ? "more parameters than memory can address" : "\(layerParameters) parameters"
                let need = bytes.map { MemoryBudget.explain(bytes: $0, limit: MemoryBudget.defaultLimit) } ?? "takes more values than memory can address"
                throw fail("(\(description)) has \(count); holding them with the layers before it \(need)")
            }
            if description.kind == "dense" {
                shape = [description.integer("outputs")!]
            } else if description.kind.hasPrefix("conv") {
                do {
                    let g = try WindowGeometry(inputSize: Array(shape.dropFirst()), kernel: description.integers("kernel")!,
                                               stride: description.integers("stride"), padding: description.integers("padding"),
                                               dilation: description.integers("dilation"))
                    shape = [description.integer("out_channels")!] + g.outputSize
                } catch {
                    let sizes = shape.count == 3 ? "H, W" : "L"
                    throw fail("(\(description)) takes [\(shape[0]), \(sizes)] with room for its window (\(error)) but receives \(shape)")
                }
            }
            if description.kind == "dense" || description.kind.hasPrefix("conv") {
                if let problem = LayerStack<Scalar>.sampleTooLarge(shape) { throw fail("(\(description)) outputs \(shape) per sample, which \(problem)") }
                descriptions.append(description)
                continue
            }
            let layer: any Layer<Float>
            do {
                guard let built = try LayerStack<Float>.builtInLayer(description, index: k, path: "") else { throw fail("unknown layer") }
                layer = built
            } catch let error as ArchitectureStringError { throw error } catch let error as LayerStackError {
                if case .invalidLayer(_, _, let problem) = error.problem { throw fail(problem) }
                throw fail(error.description)
            } catch {
                throw fail("\(error)")
            }
            do { shape = try layer.outputShape(forInput: shape) } catch {
                throw fail("(\(description)) takes \(error.expected) but receives \(shape)")
            }
            descriptions.append(description)
        }
        return LayerStackArchitecture(inputShape: inputShape, layers: descriptions)
    }

    static let grammar = "conv<out>k<k>[s<stride>][p<padding>][d<dilation>][nb], maxpool<k>[s<stride>][p<padding>], avgpool<k>[…], gap, flatten, dense<n>[nb], or an activation (\(LayerStackError.activationNames))"

    /// One token's layer description on the incoming per-sample shape.
    static func describe(_ token: String, shape: [Int], fail: (String) -> ArchitectureStringError) throws(ArchitectureStringError) -> LayerDescription {
        if token.isEmpty { throw fail("empty token; expected \(grammar)") }
        if token == "flatten" { return LayerDescription(kind: "flatten") }
        if token == "gap" { return LayerDescription(kind: "global-avgpool") }
        if let function = Nonlinearity(name: token) { return ActivationLayer<Float>(function).layerDescription }
        var rest = Substring(token)
        func number(after prefix: String) -> Int? {
            guard rest.hasPrefix(prefix) else { return nil }
            let digits = rest.dropFirst(prefix.count).prefix { $0.isASCII && $0.isNumber }
            // Up to 18 digits (any Int): how large a width may be is the memory budget's call.
            guard !digits.isEmpty, digits.count <= 18, let value = Int(digits) else { return nil }
            rest = rest.dropFirst(prefix.count + digits.count)
            return value
        }
        /// The optional s/p/d settings, in any order, each at most once.
        func settings(_ allowed: String) -> [Character: Int]? {
            var found: [Character: Int] = [:]
            while let key = rest.first, allowed.contains(key), found[key] == nil, let value = number(after: String(key)) { found[key] = value }
            return rest.isEmpty ? found : nil
        }
        func noBias() -> Bool {
            guard rest.hasSuffix("nb") else { return false }
            rest = rest.dropLast(2)
            return true
        }
        func checkWindow(_ values: [Int], _ names: String) throws(ArchitectureStringError) {
            let limit = LayerStack<Float>.windowExtentLimit
            if let large = values.first(where: { $0 > limit }) { throw fail("\(names) go up to \(limit), got \(large)") }
        }
        let spatial = shape.count - 1
        if token.hasPrefix("dense") {
            let bias = !noBias()
            guard let width = number(after: "dense"), width >= 1, rest.isEmpty else { throw fail("expected dense<n>[nb] with n ≥ 1") }
            guard shape.count == 1 else { throw fail("(dense) takes a vector but receives \(shape); put flatten or gap before it") }
            return LayerDescription(kind: "dense", attributes: ["inputs": .int(shape[0]), "outputs": .int(width), "bias": .bool(bias)])
        }
        for pool in ["maxpool", "avgpool"] where token.hasPrefix(pool) {
            guard let kernel = number(after: pool), kernel >= 1 else { throw fail("expected \(pool)<k>[s<stride>][p<padding>] with k ≥ 1") }
            let found = settings("sp")
            let stride = found?["s"] ?? kernel, padding = found?["p"] ?? 0
            guard found != nil, stride >= 1 else { throw fail("expected \(pool)<k>[s<stride>][p<padding>] with k, stride ≥ 1") }
            try checkWindow([kernel, stride, padding], "k, s and p")
            guard spatial == 1 || spatial == 2 else { throw fail("(\(pool)) takes [C, L] or [C, H, W] but receives \(shape)") }
            let list = { (value: Int) in LayerDescription.Attribute.ints(Array(repeating: value, count: spatial)) }
            return LayerDescription(kind: "\(pool)\(spatial)d", attributes: ["kernel": list(kernel), "stride": list(stride), "padding": list(padding)])
        }
        if token.hasPrefix("conv") {
            let bias = !noBias()
            guard let channels = number(after: "conv"), channels >= 1, let kernel = number(after: "k"), kernel >= 1 else {
                throw fail("expected conv<out>k<k>[s<stride>][p<padding>][d<dilation>][nb] with out, k ≥ 1")
            }
            let found = settings("spd")
            let stride = found?["s"] ?? 1, padding = found?["p"] ?? 0, dilation = found?["d"] ?? 1
            guard found != nil, stride >= 1, dilation >= 1 else {
                throw fail("expected conv<out>k<k>[s<stride>][p<padding>][d<dilation>][nb], stride and dilation ≥ 1")
            }
            try checkWindow([kernel, stride, padding, dilation], "k, s, p and d")
            guard spatial == 1 || spatial == 2 else { throw fail("(conv) takes [C, L] or [C, H, W] but receives \(shape)") }
            let list = { (value: Int) in LayerDescription.Attribute.ints(Array(repeating: value, count: spatial)) }
            return LayerDescription(kind: "conv\(spatial)d", attributes: [
                "in_channels": .int(shape[0]), "out_channels": .int(channels), "kernel": list(kernel), "stride": list(stride),
                "padding": list(padding), "dilation": list(dilation), "bias": .bool(bias),
            ])
        }
        throw fail("unknown layer; expected \(grammar)")
    }
}

extension LayerStack {
    /// The stack an architecture string describes on `inputShape` (``ArchitectureString``),
    /// initialised as PyTorch initialises `nn.Linear` and `nn.Conv1d/2d` (uniform in
    /// ±1/√fan_in), layer by layer in order. The string's memory checks are made in `Scalar`
    /// before any weight is drawn; a workspace's are
    /// ``checkTrainingMemory(batchSize:evaluationBatchSize:lossBytes:limit:)``'s.
    public init(architecture text: String, inputShape: [Int], using generator: inout SeededGenerator) throws(ArchitectureStringError) {
        let architecture = try ArchitectureString.parse(text, inputShape: inputShape, as: Scalar.self)
        var layers: [any Layer<Scalar>] = []
        for (k, description) in architecture.layers.enumerated() {
            // The parser built every token once already, so this cannot fail.
            guard let layer = try? Self.builtInLayer(description, index: k, path: "") else { fatalError("unbuildable \(description)") }
            switch layer {
            case let dense as Dense<Scalar>:
                layers.append(Dense<Scalar>(inputs: dense.inputs, outputs: dense.outputs, bias: dense.hasBias, using: &generator))
            case let conv as Conv2d<Scalar>:
                layers.append(Conv2d<Scalar>(inChannels: conv.core.inChannels, outChannels: conv.core.outChannels, kernel: conv.core.kernel,
                                             stride: conv.stride, padding: conv.padding, dilation: conv.dilation, bias: conv.core.hasBias, using: &generator))
            case let conv as Conv1d<Scalar>:
                layers.append(Conv1d<Scalar>(inChannels: conv.core.inChannels, outChannels: conv.core.outChannels, kernel: conv.core.kernel[0],
                                             stride: conv.core.stride[0], padding: conv.core.padding[0], dilation: conv.core.dilation[0],
                                             bias: conv.core.hasBias, using: &generator))
            default:
                layers.append(layer)
            }
        }
        self.init(inputShape: inputShape, layers: layers)
    }

    /// Reads a PyTorch `nn.Sequential` saved with `save_file(model.state_dict(), path)` whose
    /// modules the architecture string lists one token per module (so `3.weight` belongs to
    /// token 3), on per-sample inputs of `inputShape`: every tensor is checked against its
    /// layer's shape. Throws ``ArchitectureStringError`` for the string, ``LayerStackError``
    /// for the file.
    public init(pytorchStateDict url: URL, architecture text: String, inputShape: [Int]) throws {
        let architecture = try ArchitectureString.parse(text, inputShape: inputShape, as: Scalar.self)
        try self.init(architecture: architecture, parameters: try Self.readFile(url), path: url.path)
    }
}
