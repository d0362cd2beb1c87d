import TensorAlgebra
import FileFormats

/// Why a network or classifier file cannot be used: every case names the file and the value
/// that is wrong, so `description` is one line a user can act on.
public enum ModelFileError: Error, Equatable, CustomStringConvertible {
    /// The safetensors container itself is malformed (its own error says where).
    case safetensors(SafetensorsError)
    /// A `.npy` layer file is malformed.
    case numpy(NumpyFileError)
    /// The file could not be read at all.
    case unreadable(path: String, reason: String)
    /// A folder of `.npy` layers is missing or holds no `W1.npy`.
    case noLayers(path: String, found: [String])
    /// A tensor has a shape the model cannot take.
    case wrongShape(path: String, tensor: String, shape: [Int], expected: String)
    /// Layer `layer` takes inputs of another width than the layer before outputs.
    case layersDoNotChain(path: String, layer: Int, shape: [Int], previousOutputs: Int)
    /// Some layers have a bias and others do not.
    case inconsistentBiases(path: String, layersWithBias: [Int])
    /// The file's layer count or width differs from what the caller expects.
    case architectureMismatch(path: String, found: String, expected: String)
    /// The `activation` metadata names no known activation.
    case unknownActivation(path: String, name: String)
    /// A metadata value is unusable (not a number, out of range, inconsistent).
    case invalidMetadata(path: String, key: String, value: String, expected: String)
    /// A tensor holds NaN or infinity.
    case nonFiniteValues(path: String, tensor: String, count: Int)

    public var description: String {
        switch self {
        case .safetensors(let error): error.description
        case .numpy(let error): error.description
        case .unreadable(let path, let reason): "\(path): cannot read: \(reason)"
        case .noLayers(let path, let found):
            "\(path): no layers.0.weight or W1.npy (expected one weight per layer), found: \(found.isEmpty ? "nothing" : found.prefix(8).joined(separator: ", "))"
        case .wrongShape(let path, let tensor, let shape, let expected):
            "\(path): \(tensor) has shape \(shape), expected \(expected)"
        case .layersDoNotChain(let path, let layer, let shape, let previousOutputs):
            "\(path): layer \(layer) weight has shape \(shape) but layer \(layer - 1) outputs \(previousOutputs) values: expected [_, \(previousOutputs)]"
        case .inconsistentBiases(let path, let layers):
            "\(path): biases for layers \(layers) only; expected none or all"
        case .architectureMismatch(let path, let found, let expected):
            "\(path): the file has \(found), expected \(expected)"
        case .unknownActivation(let path, let name):
            "\(path): unknown activation '\(name)' in metadata (expected one of \(Activation.allCases.map(\.rawValue).joined(separator: ", ")))"
        case .invalidMetadata(let path, let key, let value, let expected):
            "\(path): metadata \(key) = '\(value)', expected \(expected)"
        case .nonFiniteValues(let path, let tensor, let count):
            "\(path): \(tensor) holds \(count) NaN or infinite values"
        }
    }
}
