import Foundation

/// One layer's kind and configuration, without its weights: what a checkpoint's
/// architecture metadata holds for each layer, as a flat JSON object such as
/// `{"kind": "dense", "inputs": 20, "outputs": 30, "bias": true}` or
/// `{"kind": "leaky-relu", "slope": 0.01}`.
///
/// A kind name and open attributes rather than an enum of layer kinds: convolutions
/// (`{"kind": "conv2d", "in_channels": 3, "kernel": [3, 3], …}`), pooling and a user's own
/// layers describe themselves without this type changing, and a reader that does not know a
/// kind says so by name (``LayerStack/init(architecture:parameters:path:moduleIndices:customLayer:)``
/// takes a closure for kinds of its own).
public struct LayerDescription: Hashable, Sendable, Codable, CustomStringConvertible {
    /// A JSON scalar or a list of integers (kernel sizes, strides).
    public enum Attribute: Hashable, Sendable, Codable {
        case bool(Bool), int(Int), number(Double), text(String), ints([Int])

        public init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let value = try? container.decode(Bool.self) { self = .bool(value) }
            else if let value = try? container.decode(Int.self) { self = .int(value) }
            else if let value = try? container.decode(Double.self) { self = .number(value) }
            else if let value = try? container.decode(String.self) { self = .text(value) }
            else if let value = try? container.decode([Int].self) { self = .ints(value) }
            else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "a layer attribute is a boolean, a number, a string or a list of integers")
            }
        }

        public func encode(to encoder: Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .bool(let value): try container.encode(value)
            case .int(let value): try container.encode(value)
            case .number(let value): try container.encode(value)
            case .text(let value): try container.encode(value)
            case .ints(let value): try container.encode(value)
            }
        }

        var text: String {
            switch self {
            case .bool(let value): "\(value)"
            case .int(let value): "\(value)"
            case .number(let value): "\(value)"
            case .text(let value): value
            case .ints(let value): "\(value)"
            }
        }
    }

    /// "dense", "flatten", "relu", "leaky-relu", "hard-tanh", "tanh", "erf", "identity", or a
    /// kind of the caller's own.
    public var kind: String
    public var attributes: [String: Attribute]

    public init(kind: String, attributes: [String: Attribute] = [:]) {
        self.kind = kind
        self.attributes = attributes
    }

    /// An integer attribute (a JSON number without fraction), or nil.
    public func integer(_ key: String) -> Int? {
        switch attributes[key] {
        case .int(let value): value
        case .number(let value) where value == value.rounded() && abs(value) < 1e15: Int(value)
        default: nil
        }
    }

    /// A number attribute, or nil.
    public func number(_ key: String) -> Double? {
        switch attributes[key] {
        case .int(let value): Double(value)
        case .number(let value): value
        default: nil
        }
    }

    /// A boolean attribute, or nil.
    public func flag(_ key: String) -> Bool? {
        if case .bool(let value) = attributes[key] { return value }
        return nil
    }

    /// "dense 20 → 30", "leaky-relu slope 0.01", "flatten": for error messages.
    public var description: String {
        if kind == "dense", let inputs = integer("inputs"), let outputs = integer("outputs") {
            return "dense \(inputs) → \(outputs)\(flag("bias") == false ? " without bias" : "")"
        }
        if let summary = windowSummary { return summary }
        let details = attributes.keys.sorted().map { "\($0) \(attributes[$0]!.text)" }
        return ([kind] + details).joined(separator: " ")
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Decodes the flat object: "kind" and any other keys as attributes.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        kind = try container.decode(String.self, forKey: Key(stringValue: "kind"))
        attributes = [:]
        for key in container.allKeys where key.stringValue != "kind" {
            attributes[key.stringValue] = try container.decode(Attribute.self, forKey: key)
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(kind, forKey: Key(stringValue: "kind"))
        for (key, value) in attributes { try container.encode(value, forKey: Key(stringValue: key)) }
    }
}

/// A whole stack's architecture: the per-sample input shape and every layer's description,
/// stored as JSON under ``LayerStackArchitecture/metadataKey`` in a checkpoint's metadata so
/// that the file rebuilds its own stack without flags.
public struct LayerStackArchitecture: Hashable, Sendable, Codable {
    /// "isometry-layer-stack/1".
    public static let currentFormat = "isometry-layer-stack/1"
    /// The safetensors metadata key holding the JSON.
    public static let metadataKey = "isometry.architecture"

    public var format: String
    /// The per-sample input shape: `[20]`, `[C, L]`, `[C, H, W]`.
    public var inputShape: [Int]
    public var layers: [LayerDescription]
    /// Where the network carries class dimensions (Kubota et al.'s identity classifier), nil
    /// for a plain network.
    public var classDimensions: ClassDimensions?

    public init(inputShape: [Int], layers: [LayerDescription], classDimensions: ClassDimensions? = nil) {
        self.format = Self.currentFormat
        self.inputShape = inputShape
        self.layers = layers
        self.classDimensions = classDimensions
    }

    enum CodingKeys: String, CodingKey {
        case format, inputShape = "input_shape", layers, classDimensions = "class_dimensions"
    }

    /// Compact JSON with sorted keys, so the same stack always writes the same bytes.
    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding strings, numbers and arrays cannot fail.
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }
}

/// The class dimensions of an identity classifier (Kubota et al.; docs/theory.md §1): every
/// layer is `features + classes` wide, the input's last `classes` entries are zero, and the
/// last `classes` units of a layer's output are its readout of the class scores (the logits at
/// the last layer). A stack with class dimensions can be read layer by layer.
public struct ClassDimensions: Hashable, Sendable, Codable {
    /// D: the data's features, the first entries of every layer.
    public var features: Int
    /// C: the classes, the last entries of every layer.
    public var classes: Int

    public init(features: Int, classes: Int) {
        self.features = features
        self.classes = classes
    }

    /// The units of a layer that hold the class scores.
    public var classRange: Range<Int> { features ..< features + classes }
    public var width: Int { features + classes }
}
