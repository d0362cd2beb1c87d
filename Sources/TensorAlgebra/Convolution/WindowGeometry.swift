/// Why a sliding window (a convolution's kernel, a pool's window) cannot run over an input:
/// one line naming the sizes, e.g. "kernel 5×5 exceeds the padded input 4×4 (input 4×4, padding 0×0)".
public struct WindowGeometryError: Error, Equatable, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Where a window slides over one channel plane: the spatial input size, kernel, stride, zero
/// padding and dilation, and the output size they give, for 1-D (`[L]`) or 2-D (`[H, W]`)
/// inputs. PyTorch's conventions (`floor` mode):
/// out = ⌊(in + 2·padding − dilation·(kernel − 1) − 1) / stride⌋ + 1.
///
/// Validated once, when it is made, so the kernels below index without checks: every extent
/// ≥ 1, padding ≥ 0, and the dilated kernel no larger than the padded input (otherwise there
/// is no output position, which a stride ≥ 1 alone can never cause). A 1-D geometry is held
/// as 2-D with height 1, so one set of loops serves both.
public struct WindowGeometry: Hashable, Sendable, CustomStringConvertible {
    /// The spatial rank: 1 (`[C, L]` samples) or 2 (`[C, H, W]` samples).
    public let spatialRank: Int
    public let inputSize: [Int]
    public let kernel: [Int]
    public let stride: [Int]
    public let padding: [Int]
    public let dilation: [Int]
    public let outputSize: [Int]

    // The 2-D view the loops use (height 1, kernel 1, stride 1, padding 0 for 1-D).
    @usableFromInline let h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow: Int

    /// Throws, naming the sizes, when an extent is < 1, a padding < 0, the lists' lengths
    /// differ from `inputSize`'s, or the dilated kernel exceeds the padded input. `stride`
    /// defaults to 1 (pass the kernel for a pool's PyTorch default), `padding` to 0,
    /// `dilation` to 1.
    public init(inputSize: [Int], kernel: [Int], stride: [Int]? = nil, padding: [Int]? = nil, dilation: [Int]? = nil) throws(WindowGeometryError) {
        let rank = inputSize.count
        guard rank == 1 || rank == 2 else {
            throw WindowGeometryError("spatial size \(inputSize) has rank \(rank), expected 1 ([L]) or 2 ([H, W])")
        }
        let stride = stride ?? Array(repeating: 1, count: rank)
        let padding = padding ?? Array(repeating: 0, count: rank)
        let dilation = dilation ?? Array(repeating: 1, count: rank)
        for (name, list) in [("kernel", kernel), ("stride", stride), ("padding", padding), ("dilation", dilation)] where list.count != rank {
            throw WindowGeometryError("\(name) \(list) has \(list.count) entries for the \(rank)-D input \(Self.size(inputSize))")
        }
        guard inputSize.allSatisfy({ $0 >= 1 }) else { throw WindowGeometryError("input \(Self.size(inputSize)) is empty") }
        guard kernel.allSatisfy({ $0 >= 1 }) else { throw WindowGeometryError("kernel \(Self.size(kernel)) has an extent < 1") }
        guard stride.allSatisfy({ $0 >= 1 }) else { throw WindowGeometryError("stride \(Self.size(stride)) has an extent < 1") }
        guard dilation.allSatisfy({ $0 >= 1 }) else { throw WindowGeometryError("dilation \(Self.size(dilation)) has an extent < 1") }
        guard padding.allSatisfy({ $0 >= 0 }) else { throw WindowGeometryError("padding \(Self.size(padding)) is negative") }
        let padded = (0 ..< rank).map { inputSize[$0] + 2 * padding[$0] }
        let span = (0 ..< rank).map { dilation[$0] * (kernel[$0] - 1) + 1 }
        guard (0 ..< rank).allSatisfy({ span[$0] <= padded[$0] }) else {
            let dilated = dilation.allSatisfy { $0 == 1 } ? "" : " (dilated \(Self.size(span)))"
            throw WindowGeometryError("kernel \(Self.size(kernel))\(dilated) exceeds the padded input \(Self.size(padded)) (input \(Self.size(inputSize)), padding \(Self.size(padding)))")
        }
        spatialRank = rank
        self.inputSize = inputSize
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        outputSize = (0 ..< rank).map { (padded[$0] - span[$0]) / stride[$0] + 1 }
        let last = rank - 1
        (h, w) = rank == 2 ? (inputSize[0], inputSize[1]) : (1, inputSize[0])
        (kh, kw) = rank == 2 ? (kernel[0], kernel[last]) : (1, kernel[0])
        (sh, sw) = rank == 2 ? (stride[0], stride[last]) : (1, stride[0])
        (ph, pw) = rank == 2 ? (padding[0], padding[last]) : (0, padding[0])
        (dh, dw) = rank == 2 ? (dilation[0], dilation[last]) : (1, dilation[0])
        (oh, ow) = rank == 2 ? (outputSize[0], outputSize[1]) : (1, outputSize[0])
    }

    /// Positions in one input plane (H·W or L).
    public var inputPlane: Int { h * w }
    /// Positions in one output plane.
    public var outputPlane: Int { oh * ow }
    /// Taps of the kernel (kh·kw or k).
    public var kernelTaps: Int { kh * kw }

    /// Stride 1, no padding, no dilation: every window lies inside the input, one step apart.
    @usableFromInline var isDenseValid: Bool { sh == 1 && sw == 1 && ph == 0 && pw == 0 && dh == 1 && dw == 1 }

    /// "28×28", "100": sizes as the messages print them.
    static func size(_ list: [Int]) -> String { list.map(String.init).joined(separator: "×") }

    public var description: String {
        "kernel \(Self.size(kernel)) stride \(Self.size(stride)) padding \(Self.size(padding))"
            + (dilation.allSatisfy { $0 == 1 } ? "" : " dilation \(Self.size(dilation))")
            + " on \(Self.size(inputSize)) → \(Self.size(outputSize))"
    }
}
