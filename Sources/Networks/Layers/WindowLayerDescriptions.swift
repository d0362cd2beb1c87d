import TensorAlgebra

// How convolution and pooling layers are described, rebuilt from their descriptions (the
// loader's built-in kinds) and named in messages.

extension LayerDescription {
    /// A list-of-integers attribute (a kernel size, a stride), or nil.
    public func integers(_ key: String) -> [Int]? {
        if case .ints(let value) = attributes[key] { return value }
        return nil
    }

    /// "conv2d 32 → 64 kernel 3×3", "maxpool2d 2×2 stride 2×2", with padding, dilation and a
    /// missing bias only when they are not the defaults: for messages.
    var windowSummary: String? {
        func size(_ key: String) -> String? { integers(key).map { $0.map(String.init).joined(separator: "×") } }
        func extra(_ key: String, unless value: Int) -> String {
            guard let list = integers(key), !list.allSatisfy({ $0 == value }) else { return "" }
            return " \(key) \(size(key)!)"
        }
        switch kind {
        case "conv1d", "conv2d":
            guard let input = integer("in_channels"), let output = integer("out_channels"), let kernel = size("kernel") else { return nil }
            return "\(kind) \(input) → \(output) kernel \(kernel)" + extra("stride", unless: 1) + extra("padding", unless: 0)
                + extra("dilation", unless: 1) + (flag("bias") == false ? " without bias" : "")
        case "maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d":
            guard let kernel = size("kernel") else { return nil }
            return "\(kind) \(kernel)" + (integers("stride") == integers("kernel") ? "" : " stride \(size("stride") ?? "?")") + extra("padding", unless: 0)
        default:
            return nil
        }
    }
}

extension LayerStack {
    /// The largest kernel extent, stride, padding or dilation a description or an architecture
    /// string may give (10⁹ − 1: nine digits).
    static var windowExtentLimit: Int { 999_999_999 }

    /// A convolution or pooling layer of `description` (zero weights), or a one-line reason.
    static func windowLayer(_ description: LayerDescription, index: Int, path: String) throws(LayerStackError) -> any Layer<Scalar> {
        func invalid(_ problem: String) -> LayerStackError {
            LayerStackError(path: path, problem: .invalidLayer(layer: index, kind: description.kind, problem: problem))
        }
        let kind = description.kind
        if kind == "global-avgpool" { return GlobalAvgPool<Scalar>() }
        let rank = kind.hasSuffix("1d") ? 1 : 2
        func list(_ key: String, default value: [Int]?, minimum: Int) throws(LayerStackError) -> [Int]? {
            guard description.attributes[key] != nil else { return value }
            // The bound keeps the geometry's sums and products (input + 2·padding,
            // dilation·(kernel − 1)) far from overflow; no real window comes near it.
            guard let list = description.integers(key), list.count == rank, list.allSatisfy({ (minimum ... Self.windowExtentLimit).contains($0) }) else {
                throw invalid("\(key) must be a list of \(rank) whole number\(rank == 1 ? "" : "s") from \(minimum) to \(Self.windowExtentLimit)")
            }
            return list
        }
        guard let kernel = try list("kernel", default: nil, minimum: 1) else {
            throw invalid("needs kernel, a list of \(rank) whole number\(rank == 1 ? "" : "s") from 1 to \(Self.windowExtentLimit)")
        }
        let padding = try list("padding", default: Array(repeating: 0, count: rank), minimum: 0)!
        if kind.hasPrefix("conv") {
            guard let input = description.integer("in_channels"), let output = description.integer("out_channels"), input >= 1, output >= 1 else {
                throw invalid("needs whole numbers in_channels ≥ 1 and out_channels ≥ 1")
            }
            guard description.attributes["bias"] == nil || description.flag("bias") != nil else { throw invalid("bias must be true or false") }
            let stride = try list("stride", default: Array(repeating: 1, count: rank), minimum: 1)!
            let dilation = try list("dilation", default: Array(repeating: 1, count: rank), minimum: 1)!
            let weight = Tensor<Scalar>.zeros([output, input] + kernel)
            let bias: Tensor<Scalar>? = description.flag("bias") ?? true ? .zeros([output]) : nil
            if rank == 1 { return Conv1d(weight: weight, bias: bias, stride: stride[0], padding: padding[0], dilation: dilation[0]) }
            return Conv2d(weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation)
        }
        let stride = try list("stride", default: kernel, minimum: 1)!
        guard (0 ..< rank).allSatisfy({ 2 * padding[$0] <= kernel[$0] }) else {
            throw invalid("padding \(padding) exceeds half the kernel \(kernel)")
        }
        if kind.hasPrefix("max") { return MaxPool<Scalar>(kernel: kernel, stride: stride, padding: padding) }
        return AvgPool<Scalar>(kernel: kernel, stride: stride, padding: padding)
    }
}
