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
        /// A tensor named "__metadata__", which the format keeps for the metadata: refused by
        /// the writer, since its reader (and every other) would refuse the file.
        case reservedTensorName(String)
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
        case .reservedTensorName(let name): return "a tensor cannot be named \"\(quotedValue(name))\", the key the format keeps for the metadata"
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
    package enum DType: String, Sendable {
        case f32 = "F32", f64 = "F64"
        var byteCount: Int { self == .f32 ? 4 : 8 }
    }

    package struct Entry: Sendable {
        public var dtype: DType
        public var shape: [Int]
        public var bytes: [UInt8]
    }

    package var entries: [String: Entry] = [:]
    /// The metadata, without the `crc32.*` checksum keys (verified on reading, written anew).
    public var metadata: [String: String] = [:]

    /// The format's limit on the header (the reference implementation's MAX_HEADER_SIZE).
    package static let maximumHeaderLength: UInt64 = 100_000_000
    /// The metadata key prefix of the tensors' checksums.
    package static let checksumPrefix = "crc32."

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
    /// CRC-32 under `crc32.<name>`. Throws ``SafetensorsError`` (source "data") for what the
    /// reader would refuse: a tensor named "__metadata__", bytes that do not fill a shape.
    public func encoded() throws -> [UInt8] {
        try encodedParts(source: "data").reduce(into: []) { $0 += $1 }
    }

    /// The file as its parts, in order: the length and JSON header, then each tensor's bytes
    /// (names sorted), so a writer can stream them without one more copy of every tensor.
    func encodedParts(source: String) throws -> [[UInt8]] {
        let names = entries.keys.sorted()
        let head = try SafetensorsFile.head(
            source: source,
            tensors: names.map { name in
                let entry = entries[name]!
                return (name, entry.dtype, entry.shape, entry.bytes.count, SafetensorsFile.checksum(entry.bytes))
            },
            metadata: metadata)
        return [head] + names.map { entries[$0]!.bytes }
    }

    /// The length and JSON header of a file holding `tensors` (in this order, back to back) and
    /// `metadata`, with every tensor's CRC-32 among the metadata. What the reader would refuse
    /// is refused here, naming `source`: a file written must read back.
    static func head(source: String, tensors: [(name: String, dtype: DType, shape: [Int], byteCount: Int, checksum: UInt32)],
                     metadata: [String: String]) throws -> [UInt8] {
        func fail(_ reason: SafetensorsError.Reason) -> SafetensorsError { SafetensorsError(source: source, reason: reason) }
        var header: [String: Any] = [:]
        var offset = 0
        var allMetadata = metadata.filter { !$0.key.hasPrefix(SafetensorsFile.checksumPrefix) }
        for tensor in tensors {
            if tensor.name == "__metadata__" { throw fail(.reservedTensorName(tensor.name)) }
            guard let count = MemoryBudget.product(tensor.shape + [tensor.dtype.byteCount]), tensor.shape.allSatisfy({ $0 >= 0 }) else {
                throw fail(.shapeOverflow(tensor: tensor.name, shape: tensor.shape))
            }
            if count != tensor.byteCount {
                throw fail(.sizeMismatch(tensor: tensor.name, shape: tensor.shape, dtype: tensor.dtype.rawValue,
                                         expectedBytes: count, spannedBytes: tensor.byteCount))
            }
            header[tensor.name] = ["dtype": tensor.dtype.rawValue, "shape": tensor.shape, "data_offsets": [offset, offset + tensor.byteCount]]
            offset += tensor.byteCount
            allMetadata[SafetensorsFile.checksumPrefix + tensor.name] = SafetensorsFile.checksumText(tensor.checksum)
        }
        if !allMetadata.isEmpty { header["__metadata__"] = allMetadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
        while json.count % 8 != 0 { json.append(0x20) }
        if UInt64(json.count) > SafetensorsFile.maximumHeaderLength {
            throw fail(.headerLength(UInt64(json.count), fileBytes: 8 + json.count + offset))
        }
        return withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) } + json
    }

    /// Writes atomically (IsometrySupport's `AtomicFile`): a temporary file in the same folder, fsync, rename,
    /// fsync of the folder. The tensors are written one after another, not concatenated first:
    /// a deep network's checkpoint costs no second copy of its weights in memory.
    public func write(to url: URL) throws {
        try AtomicFile.write(parts: try encodedParts(source: url.path), to: url)
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
        guard String(validating: data[8 ..< dataStart], as: UTF8.self) != nil else { throw fail(.headerNotUTF8) }
        guard data.count > 8, data[8] == UInt8(ascii: "{") else {
            throw fail(.headerNotJSON("it does not start with '{'"))
        }

        struct Extent { let name: String; let begin: Int; let end: Int }
        var extents: [Extent] = []
        var checksums: [String: UInt32] = [:]
        // The header is walked in place (HeaderJSON), never made into a tree: what it costs is
        // what is kept (names, shapes, metadata), not a node per value.
        try data.withUnsafeBufferPointer { all throws in
            let json = HeaderJSON(bytes: UnsafeBufferPointer(rebasing: all[8 ..< dataStart]))
            do { try json.validate() } catch let error as HeaderJSON.ParseError { throw fail(.headerNotJSON(error.message)) }
            if let key = try json.firstDuplicateKey(inObjectAt: 0) { throw fail(.duplicateKey(key: key, in: "the header")) }

            func integers(at start: Int, tensor: String, field: String) throws -> [Int] {
                guard json.isArray(at: start) else {
                    throw fail(.invalidTensorInfo(tensor: tensor, detail: "\(field) must be a JSON array, found \(json.text(at: start))"))
                }
                var values: [Int] = []
                values.reserveCapacity(json.elementCount(at: start))
                try json.elements(at: start) { item in
                    guard let lexeme = json.number(at: item), lexeme.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                        throw fail(.notAnInteger(tensor: tensor, field: field, value: json.text(at: item)))
                    }
                    var value = 0
                    for digit in lexeme {
                        let (tens, overflow) = value.multipliedReportingOverflow(by: 10)
                        let (next, carry) = tens.addingReportingOverflow(Int(digit - 0x30))
                        if overflow || carry {
                            throw fail(.notAnInteger(tensor: tensor, field: field, value: String(decoding: lexeme, as: UTF8.self)))
                        }
                        value = next
                    }
                    values.append(value)
                }
                return values
            }
            try json.members(at: 0) { name, value in
                if name == "__metadata__" {
                    if json.isNull(at: value) { return }
                    guard json.isObject(at: value) else { throw fail(.invalidMetadata("must be a JSON object, found \(json.text(at: value))")) }
                    if let key = try json.firstDuplicateKey(inObjectAt: value) { throw fail(.duplicateKey(key: key, in: "__metadata__")) }
                    try json.members(at: value) { key, item in
                        guard let text = try json.string(at: item) else {
                            throw fail(.invalidMetadata("must map strings to strings; \"\(key)\" holds \(json.text(at: item))"))
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
                    return
                }
                guard json.isObject(at: value) else {
                    throw fail(.invalidTensorInfo(tensor: name, detail: "expected an object with dtype, shape and data_offsets, found \(json.text(at: value))"))
                }
                if let key = try json.firstDuplicateKey(inObjectAt: value) { throw fail(.duplicateKey(key: key, in: "tensor '\(name)'")) }
                var fields: [String: Int] = [:]
                try json.members(at: value) { key, item in
                    if key == "dtype" || key == "shape" || key == "data_offsets" { fields[key] = item }
                }
                func field(_ key: String) throws -> Int {
                    guard let found = fields[key] else { throw fail(.invalidTensorInfo(tensor: name, detail: "missing \(key)")) }
                    return found
                }
                let dtypeAt = try field("dtype")
                guard let dtypeName = try json.string(at: dtypeAt) else {
                    throw fail(.invalidTensorInfo(tensor: name, detail: "dtype must be a string, found \(json.text(at: dtypeAt))"))
                }
                let shape = try integers(at: try field("shape"), tensor: name, field: "shape")
                let offsets = try integers(at: try field("data_offsets"), tensor: name, field: "data_offsets")
                guard offsets.count == 2 else {
                    throw fail(.invalidTensorInfo(tensor: name, detail: "data_offsets must hold 2 integers, found \(offsets.count)"))
                }
                guard let dtype = DType(rawValue: dtypeName) else { throw fail(.unsupportedDType(tensor: name, dtype: dtypeName)) }
                // The bytes, and the non-zero extents' product as Doubles: both addressable.
                // Multiplied here rather than through `MemoryBudget` on copies of the shape, which
                // a hostile header makes as long as itself.
                var count = dtype.byteCount
                var nonZero = 8
                for extent in shape {
                    let (bytes, overflow) = count.multipliedReportingOverflow(by: extent)
                    let (doubles, nonZeroOverflow) = nonZero.multipliedReportingOverflow(by: extent == 0 ? 1 : extent)
                    if overflow || nonZeroOverflow { throw fail(.shapeOverflow(tensor: name, shape: shape)) }
                    (count, nonZero) = (bytes, doubles)
                }
                let (begin, end) = (offsets[0], offsets[1])
                guard end >= begin else { throw fail(.offsetsReversed(tensor: name, begin: begin, end: end)) }
                guard end - begin == count else {
                    throw fail(.sizeMismatch(tensor: name, shape: shape, dtype: dtypeName, expectedBytes: count, spannedBytes: end - begin))
                }
                guard end <= available else { throw fail(.dataPastEnd(tensor: name, end: end, available: available)) }
                extents.append(Extent(name: name, begin: begin, end: end))
                entries[name] = Entry(dtype: dtype, shape: shape, bytes: [])
            }
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

/// A safetensors header's JSON, read in place. `validate()` checks the whole text once
/// (strict JSON, nesting at most 64 deep, nothing after the value) and builds nothing; the
/// reader then walks it, decoding only the keys, strings and integers it keeps. A tree of every
/// value cost about 15 times the header's bytes on headers of tiny values (`[1],[1],…`), a
/// gigabyte and more within the format's 100 MB; walking in place costs what is kept.
/// Positions in messages count from the header's first byte.
struct HeaderJSON {
    struct ParseError: Error { let message: String }

    /// The deepest nesting accepted (a safetensors header needs 3).
    static let maximumDepth = 64

    let bytes: UnsafeBufferPointer<UInt8>

    /// Checks the syntax of the whole header.
    func validate() throws {
        var scanner = Scanner(bytes: bytes)
        try scanner.skipValue(depth: 0)
        scanner.skipWhitespace()
        if scanner.position < bytes.count { throw scanner.error("unexpected text after the JSON value") }
    }

    // What follows reads a header that `validate()` accepted.

    private func scanner(at position: Int) -> Scanner {
        var scanner = Scanner(bytes: bytes, position: position)
        scanner.skipWhitespace()
        return scanner
    }

    private func first(_ position: Int) -> UInt8 { scanner(at: position).peek }

    func isObject(at position: Int) -> Bool { first(position) == UInt8(ascii: "{") }
    func isArray(at position: Int) -> Bool { first(position) == UInt8(ascii: "[") }
    func isNull(at position: Int) -> Bool { first(position) == UInt8(ascii: "n") }

    /// Calls `body` with each key of the object at `position` and where its value starts.
    func members(at position: Int, _ body: (String, Int) throws -> Void) throws {
        var scanner = scanner(at: position)
        scanner.position += 1
        scanner.skipWhitespace()
        if scanner.peek == UInt8(ascii: "}") { return }
        while true {
            scanner.skipWhitespace()
            let key = try scanner.string(keep: true)
            scanner.skipWhitespace()
            scanner.position += 1  // ':'
            scanner.skipWhitespace()
            try body(key, scanner.position)
            try scanner.skipValue(depth: 0)
            scanner.skipWhitespace()
            let separator = scanner.peek
            scanner.position += 1
            if separator == UInt8(ascii: "}") { return }
        }
    }

    /// Calls `body` with where each element of the array at `position` starts.
    func elements(at position: Int, _ body: (Int) throws -> Void) throws {
        var scanner = scanner(at: position)
        scanner.position += 1
        scanner.skipWhitespace()
        if scanner.peek == UInt8(ascii: "]") { return }
        while true {
            scanner.skipWhitespace()
            try body(scanner.position)
            try scanner.skipValue(depth: 0)
            scanner.skipWhitespace()
            let separator = scanner.peek
            scanner.position += 1
            if separator == UInt8(ascii: "]") { return }
        }
    }

    func elementCount(at position: Int) -> Int {
        var count = 0
        try? elements(at: position) { _ in count += 1 }
        return count
    }

    /// The first key that appears twice in the object at `position` (escapes decoded, so
    /// "\u0061" is "a"), or nil.
    func firstDuplicateKey(inObjectAt position: Int) throws -> String? {
        var seen = Set<String>()
        var duplicate: String?
        try members(at: position) { key, _ in
            if duplicate == nil, !seen.insert(key).inserted { duplicate = key }
        }
        return duplicate
    }

    /// The string at `position`, or nil if the value there is not a string.
    func string(at position: Int) throws -> String? {
        var scanner = scanner(at: position)
        guard scanner.peek == UInt8(ascii: "\"") else { return nil }
        return try scanner.string(keep: true)
    }

    /// The text of the number at `position`, or nil if the value there is not a number.
    func number(at position: Int) -> Slice<UnsafeBufferPointer<UInt8>>? {
        var scanner = scanner(at: position)
        let start = scanner.position
        guard (try? scanner.number()) != nil else { return nil }
        return bytes[start ..< scanner.position]
    }

    /// A short rendering of the value at `position` for messages.
    func text(at position: Int) -> String {
        switch first(position) {
        case UInt8(ascii: "{"): return "an object"
        case UInt8(ascii: "["): return "an array"
        case UInt8(ascii: "t"): return "true"
        case UInt8(ascii: "f"): return "false"
        case UInt8(ascii: "n"): return "null"
        case UInt8(ascii: "\""): return "\"\(((try? string(at: position)) ?? nil)?.prefix(40) ?? "")\""
        default: return number(at: position).map { String(decoding: $0, as: UTF8.self) } ?? "?"
        }
    }

    struct Scanner {
        let bytes: UnsafeBufferPointer<UInt8>
        var position = 0

        var peek: UInt8 { position < bytes.count ? bytes[position] : 0 }

        func error(_ message: String) -> ParseError { ParseError(message: "\(message) at character \(position)") }

        mutating func skipWhitespace() {
            while position < bytes.count {
                let byte = bytes[position]
                guard byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D else { return }
                position += 1
            }
        }

        /// Moves past one value, checking its syntax.
        mutating func skipValue(depth: Int) throws {
            guard depth < HeaderJSON.maximumDepth else { throw error("nested deeper than \(HeaderJSON.maximumDepth) levels") }
            skipWhitespace()
            guard position < bytes.count else { throw error("unexpected end") }
            switch bytes[position] {
            case UInt8(ascii: "{"):
                position += 1
                skipWhitespace()
                if position < bytes.count, bytes[position] == UInt8(ascii: "}") { position += 1; return }
                while true {
                    skipWhitespace()
                    guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw error("expected a key") }
                    _ = try string(keep: false)
                    skipWhitespace()
                    guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw error("expected ':'") }
                    position += 1
                    try skipValue(depth: depth + 1)
                    skipWhitespace()
                    guard position < bytes.count else { throw error("unexpected end") }
                    if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                    if bytes[position] == UInt8(ascii: "}") { position += 1; return }
                    throw error("expected ',' or '}'")
                }
            case UInt8(ascii: "["):
                position += 1
                skipWhitespace()
                if position < bytes.count, bytes[position] == UInt8(ascii: "]") { position += 1; return }
                while true {
                    try skipValue(depth: depth + 1)
                    skipWhitespace()
                    guard position < bytes.count else { throw error("unexpected end") }
                    if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                    if bytes[position] == UInt8(ascii: "]") { position += 1; return }
                    throw error("expected ',' or ']'")
                }
            case UInt8(ascii: "\""): _ = try string(keep: false)
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            default: try number()
            }
        }

        mutating func literal(_ word: StaticString) throws {
            let count = word.utf8CodeUnitCount
            guard bytes.count - position >= count,
                  (0 ..< count).allSatisfy({ bytes[position + $0] == word.utf8Start[$0] })
            else { throw error("invalid literal") }
            position += count
        }

        mutating func digits() -> Int {
            let start = position
            while position < bytes.count, bytes[position] >= 0x30, bytes[position] <= 0x39 { position += 1 }
            return position - start
        }

        /// -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
        mutating func number() throws {
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
        }

        mutating func hex4() throws -> UInt32 {
            guard bytes.count - position >= 4,
                  let value = UInt32(String(decoding: bytes[position ..< position + 4], as: UTF8.self), radix: 16)
            else { throw error("invalid \\u escape") }
            position += 4
            return value
        }

        /// A string starting at the opening quote, decoded when `keep` (else only checked);
        /// the header was checked to be UTF-8.
        mutating func string(keep: Bool) throws -> String {
            position += 1
            var out: [UInt8] = []
            while true {
                guard position < bytes.count else { throw error("unterminated string") }
                let byte = bytes[position]
                position += 1
                switch byte {
                case UInt8(ascii: "\""): return keep ? String(decoding: out, as: UTF8.self) : ""
                case 0 ..< 0x20: throw error("control character in a string")
                case UInt8(ascii: "\\"):
                    guard position < bytes.count else { throw error("unterminated escape") }
                    let escape = bytes[position]
                    position += 1
                    var decoded: UInt8
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded = escape
                    case UInt8(ascii: "b"): decoded = 0x08
                    case UInt8(ascii: "f"): decoded = 0x0C
                    case UInt8(ascii: "n"): decoded = 0x0A
                    case UInt8(ascii: "r"): decoded = 0x0D
                    case UInt8(ascii: "t"): decoded = 0x09
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
                        if keep { out.append(contentsOf: Array(String(Character(unicode)).utf8)) }
                        continue
                    default: throw error("invalid escape")
                    }
                    if keep { out.append(decoded) }
                default: if keep { out.append(byte) }
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
            source: url.path,
            tensors: names.map { ($0, dtype, tensors[$0]!.shape, tensors[$0]!.count * MemoryLayout<Scalar>.stride, checksum(tensors[$0]!)) },
            metadata: metadata)
        try AtomicFile.write(to: url) { emit in
            head.withUnsafeBytes { emit($0) }
            for name in names { tensors[name]!.withUnsafeBufferPointer { emit(UnsafeRawBufferPointer($0)) } }
        }
    }
}
