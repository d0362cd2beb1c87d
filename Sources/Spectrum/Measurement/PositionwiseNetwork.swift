import IsometrySupport
import Networks
import TensorAlgebra

/// The dense network that every position of a convolutional stack runs, when each convolution
/// has weight on its centre tap only (Dirac, delta-orthogonal) and keeps positions in place
/// (stride 1, `same` zero padding d·(k − 1)/2, odd kernel), and every other layer is a
/// pointwise activation (docs/theory.md §6).
///
/// Such a convolution computes y[:, x] = W_c·u[:, x] + b at every position x, with W_c the
/// centre tap: its off-centre taps multiply exact zeros. So the stack is P copies of one dense
/// network of widths C_0 → … → C_L (P the number of positions), each on its own column u[:, x]
/// of the input, and J is block-diagonal over positions (after ordering the flattened `[C, …]`
/// coordinates by position): the blocks are J_x = D_L W_L ⋯ D_1 W_1 with the same W_l and each
/// position's own activation pattern D_l, and the eigenvalues of J Jᵀ are the union over x of
/// those of J_x J_xᵀ.
public struct PositionwiseNetwork<Scalar: BLASScalar>: Sendable {
    /// One step of the per-position network.
    public enum Step: Sendable {
        /// A convolution's centre tap `[out, in]` and its bias (nil without one).
        case affine(weight: Tensor<Scalar>, bias: Tensor<Scalar>?)
        case activation(Nonlinearity)
    }

    public let steps: [Step]
    /// C_0, then the width after every step.
    public let widths: [Int]
    /// The spatial extents of the input (`[L]` or `[H, W]`), kept by every layer.
    public let spatialShape: [Int]

    /// Positions P: the product of the spatial extents.
    public var positions: Int { spatialShape.reduce(1, *) }

    /// The per-position network of `stack`, or why it has none: `SpectrumError.notPositionwise`
    /// naming the first layer that is not a centre-tap convolution keeping positions in place
    /// or a pointwise activation (a pool, flatten or dense layer mixes positions; a stride,
    /// another padding or an off-centre weight moves or mixes them).
    public init(_ stack: LayerStack<Scalar>) throws(SpectrumError) {
        let input = stack.inputShape
        guard input.count == 2 || input.count == 3 else {
            throw .notPositionwise(layer: 0, kind: stack.layers.first?.layerDescription.description ?? "input",
                                   problem: "the input \(input) has no positions; expected [C, L] or [C, H, W]")
        }
        var steps: [Step] = []
        var widths = [input[0]]
        for (l, layer) in stack.layers.enumerated() {
            let description = layer.layerDescription
            func refuse(_ problem: String) -> SpectrumError {
                .notPositionwise(layer: l, kind: description.description, problem: problem)
            }
            if let activation = layer as? ActivationLayer<Scalar> {
                steps.append(.activation(activation.function))
                widths.append(widths[widths.count - 1])
                continue
            }
            guard description.kind == "conv1d" || description.kind == "conv2d" else {
                throw refuse("it mixes or moves positions; only centre-tap convolutions and activations keep them apart")
            }
            let weight = layer.parameters[0]
            let kernel = Array(weight.shape.dropFirst(2))
            let stride = description.integers("stride") ?? kernel.map { _ in 1 }
            let padding = description.integers("padding") ?? kernel.map { _ in 0 }
            let dilation = description.integers("dilation") ?? kernel.map { _ in 1 }
            if kernel.contains(where: { $0 % 2 == 0 }) { throw refuse("kernel \(kernel) has no centre tap") }
            if stride.contains(where: { $0 != 1 }) { throw refuse("stride \(stride) moves positions; the positionwise form needs stride 1") }
            let same = zip(kernel, dilation).map { $1 * ($0 - 1) / 2 }
            if padding != same { throw refuse("padding \(padding) changes the positions; the positionwise form needs padding \(same) (same)") }
            let (out, inputs) = (weight.shape[0], weight.shape[1])
            let taps = kernel.reduce(1, *)
            let centre = kernel.reduce(0) { $0 * $1 + $1 / 2 }
            var tap = [Scalar](repeating: 0, count: out * inputs)
            var offCentre = 0
            weight.withUnsafeBufferPointer { w in
                for o in 0 ..< out {
                    for i in 0 ..< inputs {
                        for t in 0 ..< taps {
                            let value = w[(o * inputs + i) * taps + t]
                            if t == centre { tap[o * inputs + i] = value } else if value != 0 { offCentre += 1 }
                        }
                    }
                }
            }
            if offCentre > 0 { throw refuse("\(offCentre) off-centre weight\(offCentre == 1 ? " is" : "s are") non-zero: it mixes positions") }
            let bias = layer.parameters.count > 1 && layer.parameters[1].count == out ? layer.parameters[1] : nil
            steps.append(.affine(weight: Tensor(shape: [out, inputs], scalars: tap), bias: bias))
            widths.append(out)
        }
        self.steps = steps
        self.widths = widths
        spatialShape = Array(input.dropFirst())
    }

    /// The per-position network as a stack of `Dense` and `ActivationLayer` on `[C_0]`: what
    /// one column u[:, x] of the input goes through.
    public var stack: LayerStack<Scalar> {
        LayerStack(inputShape: [widths[0]], layers: steps.map { step -> any Layer<Scalar> in
            switch step {
            case .affine(let weight, let bias): Dense(weight: weight, bias: bias)
            case .activation(let function): ActivationLayer(function)
            }
        })
    }

    /// The input's columns, `[P, C_0]`: row x is u[:, x] of a `[C_0, …]` input (flattened).
    public func positionInputs(_ input: Tensor<Scalar>) -> Tensor<Scalar> {
        require(input.count == widths[0] * positions,
                "PositionwiseNetwork.positionInputs: input has \(input.count) scalars, expected \(widths[0]) × \(positions)")
        let (c, p) = (widths[0], positions)
        var columns = [Scalar](repeating: 0, count: c * p)
        input.withUnsafeBufferPointer { u in
            for channel in 0 ..< c {
                for x in 0 ..< p { columns[x * c + channel] = u[channel * p + x] }
            }
        }
        return Tensor(shape: [p, c], scalars: columns)
    }
}
