import CZlib
import Foundation
@_spi(RawBLAS) import TensorAlgebra
import IsometrySupport

// The safetensors format (Hugging Face): an 8-byte little-endian header length n, n bytes of
// JSON {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
// "__metadata__": {"key": "value"}}, then the tensors' bytes, little-endian, C order.
// Offsets are relative to the end of the header. Readable by Python's `safetensors`.
//
// The reader is as strict as the reference implementation's `validate` (and stricter on
// duplicate keys, which its JSON layer may keep silently): the header is at most 100 MB and
// inside the file, starts with '{' and is UTF-8 JSON without repeated keys at any level;
// extents and offsets are JSON integers (not `true`, `3.0` or negative); shapes multiply
// without overflow; every tensor spans exactly shape × dtype size bytes; sorted by offset,
// the tensors tile the data with no gap, no overlap and no trailing byte. Only regular files
// are opened, and the memory reading implies (twice the file: its bytes, then each tensor's
// copy) is checked against ``MemoryBudget`` before reading.
//
// Checksums: the writer stores the CRC-32 (zlib's `crc32`, the polynomial of gzip and PNG) of
// every tensor's bytes in the metadata under the key `crc32.<tensor name>`, as 8 lowercase
// hexadecimal digits (e.g. "crc32.layers.0.weight": "1c291ca3"). The reader verifies every
// such key and throws ``SafetensorsError/Reason/checksumMismatch(tensor:expected:found:)`` on
// a difference, so bit rot inside a well-formed file is caught; files without these keys (from
// other tools) load unchecked. The keys are removed from ``SafetensorsFile/metadata`` once
// verified, and recomputed on every write.

/// Why a safetensors file was refused; `source` names the file.
public struct SafetensorsError: Error, Equatable, CustomStringConvertible {
    public enum Reason: Equatable, Sendable {
        case notFound
        /// The path is a directory, a FIFO, a device…, refused before any read.
        case notRegularFile(FileKind)
        case unreadable(String)
        /// Reading the file needs `bytes`, more than `limit`.
        case exceedsMemory(bytes: Int, limit: Int)
        /// Fewer than the 8 bytes of the header length.
        case truncated(bytes: Int)
        /// The header length runs past the end of the file, or beyond the 100 MB the format allows.
        case headerLength(UInt64, fileBytes: Int)
        case headerNotUTF8
        /// The header is not JSON, or not an object; the detail names the character.
        case headerNotJSON(String)
        /// A key appears twice in one JSON object (`path` is where: "header", "__metadata__" or
        /// a tensor's name).
        case duplicateKey(key: String, in: String)
        case invalidMetadata(String)
        /// A tensor's entry lacks a field or has a field of the wrong JSON type.
        case invalidTensorInfo(tensor: String, detail: String)
        /// An extent or offset that is not a non-negative JSON integer (`true`, `3.0`, `-1`…),
        /// as written in the file.
        case notAnInteger(tensor: String, field: String, value: String)
        case unsupportedDType(tensor: String, dtype: String)
        case shapeOverflow(tensor: String, shape: [Int])
        case sizeMismatch(tensor: String, shape: [Int], dtype: String, expectedBytes: Int, spannedBytes: Int)
        case offsetsReversed(tensor: String, begin: Int, end: Int)
        case dataPastEnd(tensor: String, end: Int, available: Int)
        /// `tensor` starts at `begin` but the tensors before it end at `expected`.
        case overlap(tensor: String, with: String, begin: Int, expected: Int)
        case gap(tensor: String, begin: Int, expected: Int)
        /// Bytes after the last tensor: `count` of them, after `end`.
        case trailingBytes(count: Int, end: Int)
        case checksumMismatch(tensor: String, expected: UInt32, found: UInt32)
        case invalidChecksum(key: String, value: String)
        case checksumOfMissingTensor(String)
        /// Any other problem, in words (checkpoint readers use it for shapes and metadata).
        case other(String)
    }

    public let source: String
    public let reason: Reason

    public var problem: String {
        func hex(_ value: UInt32) -> String { SafetensorsFile.checksumText(value) }
        switch reason {
        case .notFound: return "cannot read: no such file"
        case .notRegularFile(let kind): return "is \(kind.rawValue), not a regular file"
        case .unreadable(let detail): return "cannot read: \(quotedValue(detail))"
        case .exceedsMemory(let bytes, let limit): return "reading the file " + MemoryBudget.explain(bytes: bytes, limit: limit)
        case .truncated(let bytes): return "truncated: \(bytes) bytes, less than the 8-byte header length"
        case .headerLength(let length, let fileBytes):
            return length > SafetensorsFile.maximumHeaderLength
                ? "header length \(length) is more than the format's 100 MB"
                : "header length \(length) runs past the end of the \(fileBytes)-byte file"
        case .headerNotUTF8: return "the header is not UTF-8 text"
        case .headerNotJSON(let detail): return "the header is not a JSON object: \(quotedValue(detail))"
        case .duplicateKey(let key, let place): return "duplicate key \"\(quotedValue(key))\" in \(place)"
        case .invalidMetadata(let detail): return "__metadata__ \(quotedValue(detail))"
        case .invalidTensorInfo(let tensor, let detail): return "tensor '\(quotedValue(tensor))': \(quotedValue(detail))"
        case .notAnInteger(let tensor, let field, let value):
            return "tensor '\(quotedValue(tensor))': \(field) must hold non-negative integers, found \(quotedValue(value))"
        case .unsupportedDType(let tensor, let dtype):
            return "tensor '\(quotedValue(tensor))': unsupported dtype \(quotedValue(dtype)) (expected F32 or F64)"
        case .shapeOverflow(let tensor, let shape): return "tensor '\(quotedValue(tensor))': shape \(shape) is too large to address"
        case .sizeMismatch(let tensor, let shape, let dtype, let expected, let spanned):
            return "tensor '\(quotedValue(tensor))': shape \(shape) of \(quotedValue(dtype)) needs \(expected) bytes but data_offsets span \(spanned)"
        case .offsetsReversed(let tensor, let begin, let end):
            return "tensor '\(quotedValue(tensor))': data_offsets [\(begin), \(end)] end before they begin"
        case .dataPastEnd(let tensor, let end, let available):
            return "tensor '\(quotedValue(tensor))': data_offsets end at \(end), past the \(available) data bytes (truncated file?)"
        case .overlap(let tensor, let other, let begin, let expected):
            return "tensor '\(quotedValue(tensor))': data_offsets begin at \(begin), overlapping '\(quotedValue(other))' which ends at \(expected)"
        case .gap(let tensor, let begin, let expected):
            return "tensor '\(quotedValue(tensor))': data_offsets begin at \(begin), leaving a gap after byte \(expected)"
        case .trailingBytes(let count, let end): return "\(count) unexpected bytes after the last tensor (which ends at \(end))"
        case .checksumMismatch(let tensor, let expected, let found):
            return "tensor '\(quotedValue(tensor))': CRC-32 \(hex(found)) of its bytes differs from the \(hex(expected)) stored in the metadata (corrupted file)"
        case .invalidChecksum(let key, let value): return "metadata \(quotedValue(key)) = \"\(quotedValue(value))\" is not 8 hexadecimal digits"
        case .checksumOfMissingTensor(let tensor): return "metadata crc32.\(quotedValue(tensor)) names no tensor of the file"
        case .other(let text): return text
        }
    }

    public var description: String { "\(quotedValue(source)): \(problem)" }

    public init(source: String, reason: Reason) {
        self.source = source
        self.reason = reason
    }

    public init(source: String, problem: String) {
        self.init(source: source, reason: .other(problem))
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
    /// The metadata, without the `crc32.*` checksum keys (verified on reading, written anew).
    public var metadata: [String: String] = [:]

    /// The format's limit on the header (the reference implementation's MAX_HEADER_SIZE).
    public static let maximumHeaderLength: UInt64 = 100_000_000
    /// The metadata key prefix of the tensors' checksums.
    public static let checksumPrefix = "crc32."

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

    /// zlib's CRC-32 of `bytes`.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    /// zlib's CRC-32 of raw bytes (e.g. a tensor's storage), in chunks zlib's 32-bit length takes.
    public static func checksum(_ raw: UnsafeRawBufferPointer) -> UInt32 {
        var crc = crc32(0, nil, 0)
        var start = raw.baseAddress?.assumingMemoryBound(to: UInt8.self)
        var left = raw.count
        while left > 0, let pointer = start {
            let chunk = min(left, 1 << 30)
            crc = crc32(crc, pointer, UInt32(chunk))
            start = pointer + chunk
            left -= chunk
        }
        return UInt32(crc)
    }

    static func checksumText(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }

    /// The file's bytes. Tensors are laid out in name order; the metadata holds every tensor's
    /// CRC-32 under `crc32.<name>`.
    public func encoded() throws -> [UInt8] {
        try encodedParts().reduce(into: []) { $0 += $1 }
    }

    /// The file as its parts, in order: the length and JSON header, then each tensor's bytes
    /// (names sorted), so a writer can stream them without one more copy of every tensor.
    func encodedParts() throws -> [[UInt8]] {
        let names = entries.keys.sorted()
        let head = try SafetensorsFile.head(
            tensors: names.map { name in
                let entry = entries[name]!
                return (name, entry.dtype, entry.shape, entry.bytes.count, SafetensorsFile.checksum(entry.bytes))
            },
            metadata: metadata)
        return [head] + names.map { entries[$0]!.bytes }
    }

    /// The length and JSON header of a file holding `tensors` (in this order, back to back) and
    /// `metadata`, with every tensor's CRC-32 among the metadata.
    static func head(tensors: [(name: String, dtype: DType, shape: [Int], byteCount: Int, checksum: UInt32)],
                     metadata: [String: String]) throws -> [UInt8] {
        var header: [String: Any] = [:]
        var offset = 0
        var allMetadata = metadata.filter { !$0.key.hasPrefix(SafetensorsFile.checksumPrefix) }
        for tensor in tensors {
            header[tensor.name] = ["dtype": tensor.dtype.rawValue, "shape": tensor.shape, "data_offsets": [offset, offset + tensor.byteCount]]
            offset += tensor.byteCount
            allMetadata[SafetensorsFile.checksumPrefix + tensor.name] = SafetensorsFile.checksumText(tensor.checksum)
        }
        if !allMetadata.isEmpty { header["__metadata__"] = allMetadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
        while json.count % 8 != 0 { json.append(0x20) }
        return withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) } + json
    }

    /// Writes atomically (IsometrySupport's `AtomicFile`): a temporary file in the same folder, fsync, rename,
    /// fsync of the folder. The tensors are written one after another, not concatenated first:
    /// a deep network's checkpoint costs no second copy of its weights in memory.
    public func write(to url: URL) throws {
        try AtomicFile.write(parts: try encodedParts(), to: url)
    }

    /// Parses a file's bytes; `source` names it in errors.
    public init(data: [UInt8], source: String = "data") throws {
        func fail(_ reason: SafetensorsError.Reason) -> SafetensorsError { SafetensorsError(source: source, reason: reason) }
        guard data.count >= 8 else { throw fail(.truncated(bytes: data.count)) }
        let headerLength = data[0 ..< 8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(data.count - 8), headerLength <= SafetensorsFile.maximumHeaderLength else {
            throw fail(.headerLength(headerLength, fileBytes: data.count))
        }
        let dataStart = 8 + Int(headerLength)
        let available = data.count - dataStart

        let header: [(key: String, value: StrictJSON)]
        do {
            let headerBytes = data[8 ..< dataStart]
            guard String(validating: headerBytes, as: UTF8.self) != nil else { throw fail(.headerNotUTF8) }
            guard headerBytes.first == UInt8(ascii: "{") else {
                throw fail(.headerNotJSON("it does not start with '{'"))
            }
            guard case .object(let members) = try StrictJSON.parse(headerBytes) else {
                throw fail(.headerNotJSON("not an object"))
            }
            header = members
        } catch let error as StrictJSON.ParseError {
            throw fail(.headerNotJSON(error.message))
        }
        if let key = StrictJSON.firstDuplicate(header) { throw fail(.duplicateKey(key: key, in: "the header")) }

        struct Extent { let name: String; let begin: Int; let end: Int }
        var extents: [Extent] = []
        var checksums: [String: UInt32] = [:]
        func integers(_ value: StrictJSON, tensor: String, field: String) throws -> [Int] {
            guard case .array(let items) = value else {
                throw fail(.invalidTensorInfo(tensor: tensor, detail: "\(field) must be a JSON array, found \(value.text)"))
            }
            return try items.map { item in
                guard case .number(let lexeme) = item, lexeme.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                    throw fail(.notAnInteger(tensor: tensor, field: field, value: item.text))
                }
                guard let value = Int(lexeme) else { throw fail(.notAnInteger(tensor: tensor, field: field, value: lexeme)) }
                return value
            }
        }
        for (name, value) in header {
            if name == "__metadata__" {
                if case .null = value { continue }
                guard case .object(let members) = value else { throw fail(.invalidMetadata("must be a JSON object, found \(value.text)")) }
                if let key = StrictJSON.firstDuplicate(members) { throw fail(.duplicateKey(key: key, in: "__metadata__")) }
                for (key, item) in members {
                    guard case .string(let text) = item else {
                        throw fail(.invalidMetadata("must map strings to strings; \"\(key)\" holds \(item.text)"))
                    }
                    if key.hasPrefix(SafetensorsFile.checksumPrefix) {
                        let tensor = String(key.dropFirst(SafetensorsFile.checksumPrefix.count))
                        guard text.utf8.count == 8, let crc = UInt32(text, radix: 16) else {
                            throw fail(.invalidChecksum(key: key, value: text))
                        }
                        checksums[tensor] = crc
                    } else {
                        metadata[key] = text
                    }
                }
                continue
            }
            guard case .object(let fields) = value else {
                throw fail(.invalidTensorInfo(tensor: name, detail: "expected an object with dtype, shape and data_offsets, found \(value.text)"))
            }
            if let key = StrictJSON.firstDuplicate(fields) { throw fail(.duplicateKey(key: key, in: "tensor '\(name)'")) }
            func field(_ key: String) throws -> StrictJSON {
                guard let found = fields.first(where: { $0.key == key }) else {
                    throw fail(.invalidTensorInfo(tensor: name, detail: "missing \(key)"))
                }
                return found.value
            }
            guard case .string(let dtypeName) = try field("dtype") else {
                throw fail(.invalidTensorInfo(tensor: name, detail: "dtype must be a string, found \(try field("dtype").text)"))
            }
            let shape = try integers(try field("shape"), tensor: name, field: "shape")
            let offsets = try integers(try field("data_offsets"), tensor: name, field: "data_offsets")
            guard offsets.count == 2 else {
                throw fail(.invalidTensorInfo(tensor: name, detail: "data_offsets must hold 2 integers, found \(offsets.count)"))
            }
            guard let dtype = DType(rawValue: dtypeName) else { throw fail(.unsupportedDType(tensor: name, dtype: dtypeName)) }
            guard let count = MemoryBudget.product(shape + [dtype.byteCount]),
                  MemoryBudget.nonZeroProductFits(shape, scale: 8)
            else { throw fail(.shapeOverflow(tensor: name, shape: shape)) }
            let (begin, end) = (offsets[0], offsets[1])
            guard end >= begin else { throw fail(.offsetsReversed(tensor: name, begin: begin, end: end)) }
            guard end - begin == count else {
                throw fail(.sizeMismatch(tensor: name, shape: shape, dtype: dtypeName, expectedBytes: count, spannedBytes: end - begin))
            }
            guard end <= available else { throw fail(.dataPastEnd(tensor: name, end: end, available: available)) }
            extents.append(Extent(name: name, begin: begin, end: end))
            entries[name] = Entry(dtype: dtype, shape: shape, bytes: [])
        }
        // Sorted by offset, the tensors must tile the data exactly (the reference's validate).
        extents.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var position = 0
        var previous = ""
        for extent in extents {
            if extent.begin < position {
                throw fail(.overlap(tensor: extent.name, with: previous, begin: extent.begin, expected: position))
            }
            if extent.begin > position { throw fail(.gap(tensor: extent.name, begin: extent.begin, expected: position)) }
            position = extent.end
            previous = extent.name
        }
        if position != available { throw fail(.trailingBytes(count: available - position, end: position)) }
        if let missing = checksums.keys.sorted().first(where: { entries[$0] == nil }) {
            throw fail(.checksumOfMissingTensor(missing))
        }
        for extent in extents {
            let bytes = Array(data[(dataStart + extent.begin) ..< (dataStart + extent.end)])
            if let expected = checksums[extent.name] {
                let found = SafetensorsFile.checksum(bytes)
                if found != expected { throw fail(.checksumMismatch(tensor: extent.name, expected: expected, found: found)) }
            }
            entries[extent.name]!.bytes = bytes
        }
    }

    /// Reads a `.safetensors` file: a regular file only, refused before reading when twice its
    /// size (its bytes and the tensors' copies) exceeds `memoryLimit`.
    public init(contentsOf url: URL, memoryLimit: Int = MemoryBudget.defaultLimit) throws {
        func fail(_ reason: SafetensorsError.Reason) -> SafetensorsError { SafetensorsError(source: url.path, reason: reason) }
        let contents: [UInt8]
        do {
            let file = try RegularFileReader(path: url.path)
            let (estimate, overflow) = file.size.multipliedReportingOverflow(by: 2)
            if overflow || estimate > memoryLimit {
                throw FileAccessProblem.exceedsMemory(bytes: overflow ? Int.max : estimate, limit: memoryLimit)
            }
            contents = try file.readAll(limit: memoryLimit)
        } catch let error as FileAccessProblem {
            switch error {
            case .notFound: throw fail(.notFound)
            case .notRegularFile(let kind): throw fail(.notRegularFile(kind))
            case .exceedsMemory(let bytes, let limit): throw fail(.exceedsMemory(bytes: bytes, limit: limit))
            case .unreadable, .changedWhileReading: throw fail(.unreadable(error.description))
            }
        }
        try self.init(data: contents, source: url.path)
    }
}

/// A strict JSON value: objects keep their members in order, with any repeated key, so that
/// duplicates can be refused; numbers keep their text, so that `3.0` is not taken for 3.
enum StrictJSON: Equatable {
    case object([(key: String, value: StrictJSON)])
    case array([StrictJSON])
    case string(String)
    case number(String)
    case bool(Bool)
    case null

    static func == (a: StrictJSON, b: StrictJSON) -> Bool {
        switch (a, b) {
        case (.object(let x), .object(let y)): x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case (.array(let x), .array(let y)): x == y
        case (.string(let x), .string(let y)), (.number(let x), .number(let y)): x == y
        case (.bool(let x), .bool(let y)): x == y
        case (.null, .null): true
        default: false
        }
    }

    struct ParseError: Error { let message: String }

    /// The deepest nesting accepted (a safetensors header needs 3).
    static let maximumDepth = 64

    /// A short rendering of the value for messages.
    var text: String {
        switch self {
        case .object: "an object"
        case .array: "an array"
        case .string(let s): "\"\(s.prefix(40))\""
        case .number(let n): n
        case .bool(let b): b ? "true" : "false"
        case .null: "null"
        }
    }

    static func firstDuplicate(_ members: [(key: String, value: StrictJSON)]) -> String? {
        var seen = Set<String>()
        for member in members where !seen.insert(member.key).inserted { return member.key }
        return nil
    }

    static func parse(_ bytes: ArraySlice<UInt8>) throws -> StrictJSON {
        var parser = Parser(bytes: Array(bytes))
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        if parser.position < parser.bytes.count { throw parser.error("unexpected text after the JSON value") }
        return value
    }

    struct Parser {
        let bytes: [UInt8]
        var position = 0

        func error(_ message: String) -> ParseError { ParseError(message: "\(message) at character \(position)") }

        mutating func skipWhitespace() {
            while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
        }

        mutating func value(depth: Int) throws -> StrictJSON {
            guard depth < StrictJSON.maximumDepth else { throw error("nested deeper than \(StrictJSON.maximumDepth) levels") }
            skipWhitespace()
            guard position < bytes.count else { throw error("unexpected end") }
            switch bytes[position] {
            case UInt8(ascii: "{"):
                position += 1
                var members: [(key: String, value: StrictJSON)] = []
                skipWhitespace()
                if position < bytes.count, bytes[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
                while true {
                    skipWhitespace()
                    guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw error("expected a key") }
                    let key = try string()
                    skipWhitespace()
                    guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw error("expected ':'") }
                    position += 1
                    members.append((key, try value(depth: depth + 1)))
                    skipWhitespace()
                    guard position < bytes.count else { throw error("unexpected end") }
                    if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                    if bytes[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
                    throw error("expected ',' or '}'")
                }
            case UInt8(ascii: "["):
                position += 1
                var items: [StrictJSON] = []
                skipWhitespace()
                if position < bytes.count, bytes[position] == UInt8(ascii: "]") { position += 1; return .array(items) }
                while true {
                    items.append(try value(depth: depth + 1))
                    skipWhitespace()
                    guard position < bytes.count else { throw error("unexpected end") }
                    if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                    if bytes[position] == UInt8(ascii: "]") { position += 1; return .array(items) }
                    throw error("expected ',' or ']'")
                }
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            default: return .number(try number())
            }
        }

        mutating func literal(_ word: String) throws {
            let expected = Array(word.utf8)
            guard bytes.count - position >= expected.count, Array(bytes[position ..< position + expected.count]) == expected else {
                throw error("invalid literal")
            }
            position += expected.count
        }

        mutating func digits() -> Int {
            let start = position
            while position < bytes.count, bytes[position] >= 0x30, bytes[position] <= 0x39 { position += 1 }
            return position - start
        }

        /// -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, kept as text.
        mutating func number() throws -> String {
            let start = position
            if position < bytes.count, bytes[position] == UInt8(ascii: "-") { position += 1 }
            let integerStart = position
            guard digits() > 0 else { throw error("invalid value") }
            if bytes[integerStart] == 0x30, position - integerStart > 1 { throw error("leading zero in a number") }
            if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
                position += 1
                guard digits() > 0 else { throw error("expected digits after '.'") }
            }
            if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
                position += 1
                if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") { position += 1 }
                guard digits() > 0 else { throw error("expected digits in the exponent") }
            }
            return String(decoding: bytes[start ..< position], as: UTF8.self)
        }

        mutating func hex4() throws -> UInt32 {
            guard bytes.count - position >= 4,
                  let value = UInt32(String(decoding: bytes[position ..< position + 4], as: UTF8.self), radix: 16)
            else { throw error("invalid \\u escape") }
            position += 4
            return value
        }

        /// A string starting at the opening quote; the header was checked to be UTF-8.
        mutating func string() throws -> String {
            position += 1
            var out: [UInt8] = []
            while true {
                guard position < bytes.count else { throw error("unterminated string") }
                let byte = bytes[position]
                position += 1
                switch byte {
                case UInt8(ascii: "\""): return String(decoding: out, as: UTF8.self)
                case 0 ..< 0x20: throw error("control character in a string")
                case UInt8(ascii: "\\"):
                    guard position < bytes.count else { throw error("unterminated escape") }
                    let escape = bytes[position]
                    position += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xD800 ..< 0xDC00).contains(scalar) {
                            guard bytes.count - position >= 2, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u")
                            else { throw error("lone surrogate in a \\u escape") }
                            position += 2
                            let low = try hex4()
                            guard (0xDC00 ..< 0xE000).contains(low) else { throw error("lone surrogate in a \\u escape") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        }
                        guard let unicode = Unicode.Scalar(scalar) else { throw error("lone surrogate in a \\u escape") }
                        out.append(contentsOf: Array(String(Character(unicode)).utf8))
                    default: throw error("invalid escape")
                    }
                default: out.append(byte)
                }
            }
        }
    }
}

/// Writes a safetensors file straight from tensors' storage: the same bytes as
/// `SafetensorsFile.write(to:)` with the same tensors and metadata, without first copying every
/// tensor into a byte array (a deep network's checkpoint would otherwise double its weights in
/// memory while it is written). Tensors are kept by reference (copy-on-write), not copied.
public struct SafetensorsStreamWriter<Scalar: BLASScalar> {
    public var metadata: [String: String]
    private var tensors: [String: Tensor<Scalar>] = [:]

    public init(metadata: [String: String] = [:]) {
        self.metadata = metadata
    }

    public mutating func set(_ name: String, _ tensor: Tensor<Scalar>) {
        tensors[name] = tensor
    }

    /// Atomically (`AtomicFile`), as `SafetensorsFile.write(to:)`.
    public func write(to url: URL) throws {
        let names = tensors.keys.sorted()
        let dtype: SafetensorsFile.DType = Scalar.self == Float.self ? .f32 : .f64
        // Little-endian IEEE values in memory are the file's bytes on this (little-endian) machine.
        func checksum(_ tensor: Tensor<Scalar>) -> UInt32 {
            tensor.withUnsafeBufferPointer { SafetensorsFile.checksum(UnsafeRawBufferPointer($0)) }
        }
        let head = try SafetensorsFile.head(
            tensors: names.map { ($0, dtype, tensors[$0]!.shape, tensors[$0]!.count * MemoryLayout<Scalar>.stride, checksum(tensors[$0]!)) },
            metadata: metadata)
        try AtomicFile.write(to: url) { emit in
            head.withUnsafeBytes { emit($0) }
            for name in names { tensors[name]!.withUnsafeBufferPointer { emit(UnsafeRawBufferPointer($0)) } }
        }
    }
}
