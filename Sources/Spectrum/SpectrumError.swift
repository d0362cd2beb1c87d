import IsometrySupport
import GridShards
import Networks
import TensorAlgebra

/// Why a spectrum could not be measured or compared: everything that can come from data or
/// user input (an input of the wrong width, NaN in an input or a weight, a degenerate network,
/// a malformed law or sweep file) is one of these, thrown, with the offending values in its
/// `description`.
///
/// Misuse that can only be a programming error (an analyzer asked for a shape it built
/// itself) stops with a message instead, which survives `-c release`.
public enum SpectrumError: Error, Equatable, CustomStringConvertible {
    // MARK: Networks and inputs

    /// The input's shape is not `[inputWidth]` of the network.
    case inputShape(shape: [Int], networkInputWidth: Int)
    /// Test images with as many pixels as a layer stack's input but another shape (`[28, 28]`
    /// images for a `[1, 784]` 1-D convolution), which the stack's own check names.
    case stackSamples(LayerStackInputError)
    /// The input holds NaN or infinite values.
    case nonFiniteInput(count: Int)
    /// A weight (or bias) of layer `layer` (1-based) holds NaN or infinite values.
    case nonFiniteWeights(layer: Int, tensor: String, count: Int)
    /// Layer `layer` (1-based) has a zero dimension, e.g. a `[0, 3]` or `[3, 0]` weight.
    case emptyLayer(layer: Int, shape: [Int])
    /// A pre-activation became NaN or infinite inside the network (the weights overflow).
    case nonFinitePreActivation(layer: Int, count: Int)
    /// The Jacobian itself overflows: a product of `layers` finite layer Jacobians holds `count`
    /// infinite or NaN entries (weights too large for the precision at this depth).
    case jacobianOverflows(layers: Int, count: Int)
    /// LAPACK's singular value decomposition failed (`info ≠ 0`).
    case singularValueDecomposition(routine: String, info: Int)
    /// Layer `layer` (0-based, as the stack counts them) keeps the stack's J from being
    /// block-diagonal over positions (`PositionwiseNetwork`): `problem` says how.
    case notPositionwise(layer: Int, kind: String, problem: String)

    // MARK: Configurations

    /// A configuration field has a value the experiment cannot run with.
    case invalidConfiguration(field: String, value: String, expected: String)
    /// The network file named by `weightsPath` cannot be used.
    case weightsFile(ModelFileError)
    /// The layer-stack file named by `weightsPath` cannot be used (its own one line: the file,
    /// the layer, the shapes).
    case layerStackFile(LayerStackError)
    /// The images named by `testImagesFolder` cannot be read (the reader's own line).
    case dataset(String)
    /// The stack named by `architecture` cannot be built as asked: the string, an even kernel for
    /// a centre-tap initialisation, or a scale (Networks' one line).
    case architecture(StackInitializationError)
    /// The variance map of random weights has no finite fixed point.
    case noFixedPoint(activation: Activation, sigmaW: Double, sigmaB: Double)

    // MARK: Measurements and laws

    /// A comparison was asked for without a single eigenvalue.
    case noEigenvalues
    /// Measured eigenvalues hold NaN or infinite values.
    case nonFiniteEigenvalues(count: Int)
    /// A law's table is malformed: `grid` and `values` (cumulative masses or densities) differ in length.
    case lawTableLengths(grid: Int, values: Int)
    /// A law's grid is not strictly increasing at `index`, or holds a negative or non-finite λ.
    case lawGridNotIncreasing(index: Int, value: Double)
    /// A law's density, cumulative mass or atom mass is negative, decreasing or non-finite at `index`.
    case lawInvalidMass(what: String, index: Int, value: Double)
    /// A law's atoms and continuous part do not add up to one.
    case lawTotalMass(total: Double)

    // MARK: Sweep files

    /// A sweep file or shard that cannot be read, or shards that do not merge (GridShards).
    case sweepFile(GridShardError)
    /// The measurement would need more memory than the budget allows (`MemoryBudget`).
    case tooLarge(what: String, estimatedBytes: Double, availableBytes: Double)

    public var description: String {
        switch self {
        case .inputShape(let shape, let width):
            shape.count == 1 ? "the input has width \(shape[0]), the network takes width \(width)"
                : "the input has shape \(shape), the network takes one vector of width \(width) (shape [\(width)])"
        case .stackSamples(let error):
            error.description
        case .nonFiniteInput(let count):
            "the input holds \(count) NaN or infinite value\(count == 1 ? "" : "s")"
        case .nonFiniteWeights(let layer, let tensor, let count):
            "layer \(layer) \(tensor) holds \(count) NaN or infinite value\(count == 1 ? "" : "s")"
        case .emptyLayer(let layer, let shape):
            "layer \(layer) weight has shape \(shape): a network needs at least one input and one output per layer"
        case .nonFinitePreActivation(let layer, let count):
            "the pre-activation of layer \(layer) holds \(count) NaN or infinite value\(count == 1 ? "" : "s") (the weights overflow)"
        case .jacobianOverflows(let layers, let count):
            "the Jacobian of the \(layers) layers holds \(count) infinite or NaN entr\(count == 1 ? "y" : "ies"): the weights are too large for this precision at this depth"
        case .singularValueDecomposition(let routine, let info):
            "\(routine) failed with info = \(info)"
        case .notPositionwise(let layer, let kind, let problem):
            "layer \(layer) (\(kind)): \(problem)"
        case .invalidConfiguration(let field, let value, let expected):
            "\(field) = \(value), expected \(expected)"
        case .weightsFile(let error):
            error.description
        case .layerStackFile(let error):
            error.description
        case .dataset(let text):
            text
        case .architecture(let error):
            error.description
        case .noFixedPoint(let activation, let sigmaW, let sigmaB):
            "the \(activation.rawValue) variance map at σ_w = \(compactNumber(sigmaW)), σ_b = \(compactNumber(sigmaB)) has no finite fixed point"
        case .noEigenvalues:
            "no eigenvalues to compare (every sample is empty)"
        case .nonFiniteEigenvalues(let count):
            "the eigenvalues hold \(count) NaN or infinite value\(count == 1 ? "" : "s")"
        case .lawTableLengths(let grid, let values):
            "the law's grid has \(grid) points but its table \(values) values"
        case .lawGridNotIncreasing(let index, let value):
            "the law's grid is not increasing, non-negative and finite at index \(index) (λ = \(value))"
        case .lawInvalidMass(let what, let index, let value):
            "the law's \(what) at index \(index) is \(value), expected finite, non-negative and non-decreasing"
        case .lawTotalMass(let total):
            "the law's atoms and continuous part add up to \(total), expected 1"
        case .sweepFile(let error): error.description
        case .tooLarge(let what, let bytes, let available):
            String(format: "%@ needs about %.1f GiB but this machine has %.1f GiB", what, bytes / 1_073_741_824, available / 1_073_741_824)
        }
    }
}
