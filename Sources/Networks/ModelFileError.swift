import TensorAlgebra
import FileFormats
import IsometrySupport

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
    /// A folder of `.npy` layers breaks the naming rule (`W1.npy … WL.npy`, optional
    /// `b1.npy … bL.npy`, consecutive, no other `W<n>.npy` or `b<n>.npy`); `problem` names
    /// the file, e.g. "W3.npy found but W2.npy missing".
    case layerFiles(path: String, problem: String)

    /// Paths, names and metadata values come from files and are quoted through
    /// `quotedValue`, so a hostile file cannot put escape sequences, line breaks or megabytes
    /// into the one line.
    public var description: String {
        switch self {
        case .safetensors(let error): error.description
        case .numpy(let error): error.description
        case .unreadable(let path, let reason): "\(quotedValue(path)): cannot read: \(quotedValue(reason))"
        case .noLayers(let path, let found):
            "\(quotedValue(path)): no layers.0.weight or W1.npy (expected one weight per layer), found: \(found.isEmpty ? "nothing" : found.prefix(8).map { quotedValue($0) }.joined(separator: ", "))"
        case .wrongShape(let path, let tensor, let shape, let expected):
            "\(quotedValue(path)): \(quotedValue(tensor)) has shape \(shape), expected \(expected)"
        case .layersDoNotChain(let path, let layer, let shape, let previousOutputs):
            "\(quotedValue(path)): layer \(layer) weight has shape \(shape) but layer \(layer - 1) outputs \(previousOutputs) values: expected [_, \(previousOutputs)]"
        case .inconsistentBiases(let path, let layers):
            "\(quotedValue(path)): biases for layers \(layers) only; expected none or all"
        case .architectureMismatch(let path, let found, let expected):
            "\(quotedValue(path)): the file has \(found), expected \(expected)"
        case .unknownActivation(let path, let name):
            "\(quotedValue(path)): unknown activation '\(quotedValue(name))' in metadata (expected one of \(Activation.allCases.map(\.rawValue).joined(separator: ", ")))"
        case .invalidMetadata(let path, let key, let value, let expected):
            "\(quotedValue(path)): metadata \(quotedValue(key)) = '\(quotedValue(value))', expected \(expected)"
        case .nonFiniteValues(let path, let tensor, let count):
            "\(quotedValue(path)): \(quotedValue(tensor)) holds \(count) NaN or infinite values"
        case .layerFiles(let path, let problem):
            "\(quotedValue(path)): \(problem)"
        }
    }
}
