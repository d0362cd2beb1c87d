import Foundation

// The safetensors format (Hugging Face): an 8-byte little-endian header length n, n bytes of
// JSON {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
// "__metadata__": {"key": "value"}}, then the tensors' bytes, little-endian, C order.
// Offsets are relative to the end of the header. Readable by Python's `safetensors`.

/// Why a safetensors file was refused; `source` names the file.
public struct SafetensorsError: Error, Equatable, CustomStringConvertible {
    public let source: String
    public let problem: String
    public var description: String { "\(source): \(problem)" }

    public init(source: String, problem: String) {
        self.source = source
        self.problem = problem
    }
}

/// A set of named tensors with string metadata, as stored in a `.safetensors` file.
public struct SafetensorsFile: Sendable {
    public enum DType: String, Sendable {
        case f32 = "F32", f64 = "F64"
        var byteCount: Int { self == .f32 ? 4 : 8 }
    }

    public struct Entry: Sendable {
        public var dtype: DType
        public var shape: [Int]
        public var bytes: [UInt8]
    }

    public var entries: [String: Entry] = [:]
    public var metadata: [String: String] = [:]

    public init() {}

    /// Adds a tensor under `name`, stored in its own precision.
    public mutating func set<Scalar: BLASScalar>(_ name: String, _ tensor: Tensor<Scalar>) {
        let array = tensor.numpyArray
        entries[name] = Entry(dtype: Scalar.self == Float.self ? .f32 : .f64, shape: tensor.shape, bytes: array.bytes)
    }

    /// The tensor stored under `name`, converted to `Scalar`, or nil.
    public func tensor<Scalar: BLASScalar>(_ name: String, as _: Scalar.Type = Scalar.self) -> Tensor<Scalar>? {
        guard let entry = entries[name] else { return nil }
        let array = NumpyArray(dtype: entry.dtype == .f32 ? .float32 : .float64, shape: entry.shape, bytes: entry.bytes)
        return Tensor(array)
    }

    /// The file's bytes. Tensors are laid out in name order.
    public func encoded() throws -> [UInt8] {
        var header: [String: Any] = [:]
        var offset = 0
        let names = entries.keys.sorted()
        for name in names {
            let entry = entries[name]!
            header[name] = ["dtype": entry.dtype.rawValue, "shape": entry.shape, "data_offsets": [offset, offset + entry.bytes.count]]
            offset += entry.bytes.count
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
        while json.count % 8 != 0 { json.append(0x20) }
        var out = withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) }
        out += json
        for name in names { out += entries[name]!.bytes }
        return out
    }

    /// Writes atomically: a temporary file in the same folder, then a rename.
    public func write(to url: URL) throws {
        try Data(try encoded()).write(to: url, options: .atomic)
    }

    /// Parses a file's bytes; `source` names it in errors.
    public init(data: [UInt8], source: String = "data") throws {
        func fail(_ problem: String) -> SafetensorsError { SafetensorsError(source: source, problem: problem) }
        guard data.count >= 8 else { throw fail("truncated: \(data.count) bytes, less than the 8-byte header length") }
        let headerLength = data[0 ..< 8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(data.count - 8), headerLength <= 100_000_000 else {
            throw fail("header length \(headerLength) runs past the end of the \(data.count)-byte file")
        }
        let dataStart = 8 + Int(headerLength)
        guard let object = try? JSONSerialization.jsonObject(with: Data(data[8 ..< dataStart])),
              let header = object as? [String: Any] else { throw fail("the header is not a JSON object") }
        let available = data.count - dataStart
        for (name, value) in header {
            if name == "__metadata__" {
                guard let metadata = value as? [String: String] else { throw fail("__metadata__ must map strings to strings") }
                self.metadata = metadata
                continue
            }
            guard let fields = value as? [String: Any], let dtypeName = fields["dtype"] as? String,
                  let shape = fields["shape"] as? [Int], let offsets = fields["data_offsets"] as? [Int], offsets.count == 2
            else { throw fail("tensor '\(name)': expected dtype, shape and data_offsets") }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw fail("tensor '\(name)': unsupported dtype \(dtypeName) (expected F32 or F64)")
            }
            var count = dtype.byteCount
            for extent in shape {
                guard extent >= 0 else { throw fail("tensor '\(name)': negative extent in shape \(shape)") }
                let (product, overflow) = count.multipliedReportingOverflow(by: extent)
                if overflow { throw fail("tensor '\(name)': shape \(shape) is too large") }
                count = product
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, end >= begin, end <= available else {
                throw fail("tensor '\(name)': data_offsets [\(begin), \(end)] run past the \(available) data bytes (truncated file?)")
            }
            guard end - begin == count else {
                throw fail("tensor '\(name)': shape \(shape) of \(dtypeName) needs \(count) bytes but data_offsets span \(end - begin)")
            }
            entries[name] = Entry(dtype: dtype, shape: shape, bytes: Array(data[(dataStart + begin) ..< (dataStart + end)]))
        }
    }

    /// Reads a `.safetensors` file.
    public init(contentsOf url: URL) throws {
        let contents: Data
        do { contents = try Data(contentsOf: url) } catch {
            throw SafetensorsError(source: url.path, problem: "cannot read: \((error as NSError).localizedDescription)")
        }
        try self.init(data: [UInt8](contents), source: url.path)
    }
}
