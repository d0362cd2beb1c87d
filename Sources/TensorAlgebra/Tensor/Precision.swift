/// The scalar type a computation runs in, for configurations and command-line flags that pick
/// `Tensor<Float>` or `Tensor<Double>` at run time.
public enum Precision: String, Sendable, Codable, CaseIterable {
    case float, double

    /// Bytes per scalar, for memory estimates.
    public var bytesPerScalar: Int { self == .float ? 4 : 8 }
}
