import Foundation
import TensorAlgebra
import IsometrySupport

// The .npy format (numpy's NEP 1): the magic "\x93NUMPY", a version, a little-endian header
// length, a Python dict literal {'descr': ..., 'fortran_order': ..., 'shape': (...)} padded
// to a multiple of 64 bytes, then the raw elements. Everything read is validated before any
// allocation sized from it, so hostile or truncated files fail with a thrown error: only
// regular files are opened (a FIFO or a directory is named as such), shape products are
// overflow-checked (the non-zero extents too, so a (0, 2³², 2³²) array cannot overflow later
// code), and the memory a shape implies (its bytes, and its elements as Double once converted)
// is checked against ``MemoryBudget`` before anything is allocated.

/// The element types Isometry reads and writes, little-endian.
public enum NumpyDType: String, Sendable, CaseIterable {
    case float32 = "<f4"
    case float64 = "<f8"
    case uint8 = "|u1"
    case int64 = "<i8"

    public var byteCount: Int {
        switch self {
        case .float32: 4
        case .float64: 8
        case .uint8: 1
        case .int64: 8
        }
    }

    init?(descriptor: String) {
        switch descriptor {
        case "<f4": self = .float32
        case "<f8": self = .float64
        case "|u1", "<u1", "u1": self = .uint8
        case "<i8": self = .int64
        default: return nil
        }
    }
}

/// Why a `.npy` file was refused; `source` names the file (or "data" for bytes in memory).
public struct NumpyFileError: Error, Equatable, CustomStringConvertible {
    public enum Problem: Equatable, Sendable {
        case notNumpy
        case unsupportedVersion(major: UInt8, minor: UInt8)
        case malformedHeader(String)
        case unsupportedDType(String)
        /// A structured (record) dtype such as [('x', '<f4'), ('y', '<i8')], given as written.
        case structuredDType(String)
        case fortranOrder
        case truncated(expectedBytes: Int, foundBytes: Int)
        case trailingBytes(Int)
        case tooLarge(shape: [Int])
        case unreadable(String)
        /// The path is a directory, a FIFO, a device…, refused before any read.
        case notRegularFile(FileKind)
        /// The shape (or the file) needs `bytes` of memory, more than `limit`.
        case exceedsMemory(shape: [Int]?, bytes: Int, limit: Int)
        /// The writer's header for this shape is `bytes` long, more than the 65535 of format
        /// 1.0; only a rank in the thousands gets there, which numpy (at most 64 axes) cannot
        /// read in any format version.
        case headerTooLong(shape: [Int], bytes: Int)
    }

    public let source: String
    public let problem: Problem

    public init(source: String, problem: Problem) {
        self.source = source
        self.problem = problem
    }

    public var description: String {
        let what: String
        switch problem {
        case .notNumpy: what = "not a .npy file (missing the \\x93NUMPY magic at byte 0)"
        case .unsupportedVersion(let major, let minor): what = "unsupported .npy version \(major).\(minor)"
        case .malformedHeader(let detail): what = "malformed header: \(quotedValue(detail))"
        case .unsupportedDType(let descr):
            what = "unsupported dtype '\(quotedValue(descr))' (expected one of "
                + NumpyDType.allCases.map(\.rawValue).joined(separator: ", ") + ")"
        case .fortranOrder: what = "Fortran-ordered arrays are not supported (save with C order)"
        case .truncated(let expected, let found):
            what = "truncated: the header promises \(expected) data bytes but \(found) follow"
        case .trailingBytes(let extra): what = "\(extra) unexpected bytes after the data"
        case .tooLarge(let shape): what = "shape \(shape) is too large to address"
        case .unreadable(let reason): what = "cannot read: \(quotedValue(reason))"
        case .structuredDType(let descr):
            what = "structured dtype \(quotedValue(descr)) is not supported (expected a plain dtype, one of "
                + NumpyDType.allCases.map(\.rawValue).joined(separator: ", ") + ")"
        case .notRegularFile(let kind): what = "is \(kind.rawValue), not a regular file"
        case .exceedsMemory(let shape, let bytes, let limit):
            what = (shape.map { "shape \($0) " } ?? "the file ") + MemoryBudget.explain(bytes: bytes, limit: limit)
        case .headerTooLong(let shape, let bytes):
            what = "the header of a rank-\(shape.count) array is \(bytes) bytes, more than the 65535 of .npy format 1.0"
        }
        return "\(quotedValue(source)): \(what)"
    }
}

/// A typed n-dimensional array as stored in a `.npy` file: dtype, shape and raw
/// little-endian bytes in C order.
public struct NumpyArray: Sendable, Equatable {
    public let dtype: NumpyDType
    public let shape: [Int]
    public let bytes: [UInt8]

    public var count: Int { shape.reduce(1, *) }

    public init(dtype: NumpyDType, shape: [Int], bytes: [UInt8]) {
        let expected = shape.reduce(1, *) * dtype.byteCount
        if bytes.count != expected {
            fatalError("NumpyArray: shape \(shape) of \(dtype.rawValue) needs \(expected) bytes, got \(bytes.count)")
        }
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    public init(uint8 values: [UInt8], shape: [Int]) {
        self.init(dtype: .uint8, shape: shape, bytes: values)
    }

    public init(int64 values: [Int64], shape: [Int]) {
        self.init(dtype: .int64, shape: shape, bytes: values.flatMap { littleEndianBytes($0) })
    }

    /// Parses the contents of a `.npy` file; `source` names it in errors. The memory the shape
    /// implies (the data, and the elements converted to Double) must fit in `memoryLimit`.
    public init(data: [UInt8], source: String = "data", memoryLimit: Int = MemoryBudget.defaultLimit) throws {
        func fail(_ problem: NumpyFileError.Problem) -> NumpyFileError {
            NumpyFileError(source: source, problem: problem)
        }
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
        guard data.count >= 10, Array(data[0 ..< 6]) == magic else { throw fail(.notNumpy) }
        let (major, minor) = (data[6], data[7])
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(data[8]) | Int(data[9]) << 8
            headerStart = 10
        case 2, 3:
            guard data.count >= 12 else {
                throw fail(.truncated(expectedBytes: 12, foundBytes: data.count))
            }
            headerLength = (8 ..< 12).reduce(0) { $0 | Int(data[$1]) << (8 * ($1 - 8)) }
            headerStart = 12
        default:
            throw fail(.unsupportedVersion(major: major, minor: minor))
        }
        guard headerLength <= data.count - headerStart else {
            throw fail(.malformedHeader(
                "header length \(headerLength) at byte 8 runs past the end of the \(data.count)-byte file"))
        }
        guard let header = String(bytes: data[headerStart ..< headerStart + headerLength], encoding: .utf8)
        else { throw fail(.malformedHeader("header is not valid text")) }
        let fields: HeaderFields
        do { fields = try HeaderFields(parsing: header) } catch let error as HeaderFields.ParseError {
            throw fail(.malformedHeader(error.message))
        }
        if let structured = fields.structuredDescr { throw fail(.structuredDType(structured)) }
        guard let dtype = NumpyDType(descriptor: fields.descr) else {
            throw fail(.unsupportedDType(fields.descr))
        }
        if fields.fortranOrder { throw fail(.fortranOrder) }
        // The bytes of the data, and the non-zero extents' product as Doubles: both addressable.
        guard let byteCount = MemoryBudget.product(fields.shape + [dtype.byteCount]),
              MemoryBudget.nonZeroProductFits(fields.shape, scale: 8)
        else { throw fail(.tooLarge(shape: fields.shape)) }
        // What loading implies: the data, then the elements as Double (Tensor(array)).
        let (estimate, overflow) = byteCount.addingReportingOverflow(byteCount / dtype.byteCount * 8)
        if overflow || estimate > memoryLimit {
            throw fail(.exceedsMemory(shape: fields.shape, bytes: overflow ? Int.max : estimate, limit: memoryLimit))
        }
        let dataStart = headerStart + headerLength
        let available = data.count - dataStart
        if available < byteCount { throw fail(.truncated(expectedBytes: byteCount, foundBytes: available)) }
        if available > byteCount { throw fail(.trailingBytes(available - byteCount)) }
        self.dtype = dtype
        self.shape = fields.shape
        self.bytes = Array(data[dataStart...])
    }

    /// Reads a `.npy` file: a regular file only, no larger than `memoryLimit`, then parsed as
    /// ``init(data:source:memoryLimit:)``.
    public init(contentsOf url: URL, memoryLimit: Int = MemoryBudget.defaultLimit) throws {
        let contents: [UInt8]
        do { contents = try RegularFileReader.contents(of: url.path, limit: memoryLimit) } catch {
            let problem: NumpyFileError.Problem
            switch error {
            case .notRegularFile(let kind): problem = .notRegularFile(kind)
            case .exceedsMemory(let bytes, let limit): problem = .exceedsMemory(shape: nil, bytes: bytes, limit: limit)
            default: problem = .unreadable(error.description)
            }
            throw NumpyFileError(source: url.path, problem: problem)
        }
        try self.init(data: contents, source: url.path, memoryLimit: memoryLimit)
    }

    /// The file's bytes in format version 1.0; a header too long for it throws
    /// ``NumpyFileError/Problem/headerTooLong(shape:bytes:)`` naming `source`.
    public func encoded(source: String = "data") throws -> [UInt8] {
        let shapeText = shape.isEmpty ? "()"
            : shape.count == 1 ? "(\(shape[0]),)"
            : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(dtype.rawValue)', 'fortran_order': False, 'shape': \(shapeText), }"
        // Pad so the data starts on a 64-byte boundary; the header ends with a newline.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        let length = header.utf8.count
        if length > 65535 { throw NumpyFileError(source: source, problem: .headerTooLong(shape: shape, bytes: length)) }
        var out: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0]
        out += [UInt8(length & 0xFF), UInt8(length >> 8)]
        out += Array(header.utf8)
        out += bytes
        return out
    }

    /// Writes the file atomically (IsometrySupport's `AtomicFile`: a temporary file in the same folder, fsync,
    /// rename, fsync of the folder), so a crash never leaves a half-written array behind.
    public func write(to url: URL) throws {
        try AtomicFile.write(encoded(source: url.path), to: url)
    }

    /// The elements converted to `Scalar`, whatever the stored dtype.
    public func scalars<Scalar: BLASScalar>(as _: Scalar.Type = Scalar.self) -> [Scalar] {
        let n = count
        return bytes.withUnsafeBytes { raw -> [Scalar] in
            switch dtype {
            case .float32:
                return (0 ..< n).map { Scalar(Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self).littleEndian)) }
            case .float64:
                return (0 ..< n).map { Scalar(Double(bitPattern: raw.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self).littleEndian)) }
            case .uint8:
                return raw.map { Scalar($0) }
            case .int64:
                return (0 ..< n).map { Scalar(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self))) }
            }
        }
    }

    /// The elements as integers; only for uint8 and int64 arrays.
    public func integers() -> [Int] {
        bytes.withUnsafeBytes { raw in
            switch dtype {
            case .uint8: return raw.map { Int($0) }
            case .int64:
                return (0 ..< count).map { Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self))) }
            case .float32, .float64:
                fatalError("integers(): the array holds \(dtype.rawValue), not integers")
            }
        }
    }
}

private func littleEndianBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.littleEndian) { Array($0) }
}

/// The three entries of a .npy header dict, parsed strictly.
struct HeaderFields {
    struct ParseError: Error { let message: String }

    var descr = ""
    /// The descr of a structured dtype (a list), as written.
    var structuredDescr: String?
    var fortranOrder = false
    var shape: [Int] = []

    init(parsing text: String) throws {
        var scanner = Scanner(Array(text.utf8))
        try scanner.expect(UInt8(ascii: "{"))
        var seen = Set<String>()
        while true {
            scanner.skipSpaces()
            if scanner.consume(UInt8(ascii: "}")) { break }
            let key = try scanner.quoted()
            try scanner.expect(UInt8(ascii: ":"))
            switch key {
            case "descr":
                if scanner.peek(UInt8(ascii: "[")) { structuredDescr = try scanner.bracketed() } else { descr = try scanner.quoted() }
            case "fortran_order": fortranOrder = try scanner.boolean()
            case "shape": shape = try scanner.tuple()
            default: throw ParseError(message: "unknown key '\(key)' at character \(scanner.position)")
            }
            seen.insert(key)
            scanner.skipSpaces()
            if !scanner.consume(UInt8(ascii: ",")) {
                try scanner.expect(UInt8(ascii: "}"))
                break
            }
        }
        for key in ["descr", "fortran_order", "shape"] where !seen.contains(key) {
            throw ParseError(message: "missing key '\(key)'")
        }
    }

    struct Scanner {
        let text: [UInt8]
        var position = 0
        init(_ text: [UInt8]) { self.text = text }

        mutating func skipSpaces() {
            while position < text.count, text[position] == 0x20 || text[position] == 0x0A { position += 1 }
        }

        mutating func consume(_ byte: UInt8) -> Bool {
            skipSpaces()
            if position < text.count && text[position] == byte {
                position += 1
                return true
            }
            return false
        }

        mutating func peek(_ byte: UInt8) -> Bool {
            skipSpaces()
            return position < text.count && text[position] == byte
        }

        /// A bracketed Python literal (a structured dtype's list of tuples), quotes respected.
        mutating func bracketed() throws -> String {
            skipSpaces()
            let start = position
            var depth = 0
            var quote: UInt8?
            while position < text.count {
                let byte = text[position]
                position += 1
                if let open = quote {
                    if byte == open { quote = nil }
                    continue
                }
                switch byte {
                case 0x27, 0x22: quote = byte
                case UInt8(ascii: "["), UInt8(ascii: "("): depth += 1
                case UInt8(ascii: "]"), UInt8(ascii: ")"):
                    depth -= 1
                    if depth == 0 { return String(decoding: text[start ..< position], as: UTF8.self) }
                default: break
                }
            }
            throw ParseError(message: "unterminated list at character \(start)")
        }

        mutating func expect(_ byte: UInt8) throws {
            if !consume(byte) {
                throw ParseError(message: "expected '\(Character(UnicodeScalar(byte)))' at character \(position)")
            }
        }

        mutating func quoted() throws -> String {
            skipSpaces()
            guard position < text.count, text[position] == 0x27 || text[position] == 0x22 else {
                throw ParseError(message: "expected a quoted string at character \(position)")
            }
            let quote = text[position]
            let start = position + 1
            guard let end = text[start...].firstIndex(of: quote) else {
                throw ParseError(message: "unterminated string at character \(position)")
            }
            position = end + 1
            return String(decoding: text[start ..< end], as: UTF8.self)
        }

        mutating func boolean() throws -> Bool {
            skipSpaces()
            for (word, value) in [("True", true), ("False", false)] {
                let bytes = Array(word.utf8)
                if text.count - position >= bytes.count && Array(text[position ..< position + bytes.count]) == bytes {
                    position += bytes.count
                    return value
                }
            }
            throw ParseError(message: "expected True or False at character \(position)")
        }

        mutating func tuple() throws -> [Int] {
            try expect(UInt8(ascii: "("))
            var values: [Int] = []
            while true {
                if consume(UInt8(ascii: ")")) { return values }
                skipSpaces()
                let start = position
                while position < text.count, text[position] >= 0x30 && text[position] <= 0x39 { position += 1 }
                guard position > start, position - start <= 18,
                      let value = Int(String(decoding: text[start ..< position], as: UTF8.self))
                else { throw ParseError(message: "expected a non-negative dimension at character \(start)") }
                values.append(value)
                if !consume(UInt8(ascii: ",")) {
                    try expect(UInt8(ascii: ")"))
                    return values
                }
            }
        }
    }
}

extension Tensor {
    /// A tensor from a numpy array of any supported dtype, converted to `Scalar`.
    public init(_ array: NumpyArray) {
        self.init(shape: array.shape, scalars: array.scalars(as: Scalar.self))
    }

    /// Reads a `.npy` file, converting its elements to `Scalar`.
    public init(contentsOfNumpyFile url: URL) throws {
        self.init(try NumpyArray(contentsOf: url))
    }

    /// The tensor as a numpy array of dtype `<f4` or `<f8`.
    public var numpyArray: NumpyArray {
        let dtype: NumpyDType = Scalar.self == Float.self ? .float32 : .float64
        var bytes = [UInt8](repeating: 0, count: count * MemoryLayout<Scalar>.stride)
        withUnsafeBufferPointer { source in
            bytes.withUnsafeMutableBytes { target in
                // Both supported hosts (x86-64, arm64) are little-endian, as .npy's "<" asks.
                target.copyMemory(from: UnsafeRawBufferPointer(source))
            }
        }
        return NumpyArray(dtype: dtype, shape: shape, bytes: bytes)
    }

    /// Writes the tensor as a `.npy` file, atomically.
    public func writeNumpyFile(to url: URL) throws {
        try numpyArray.write(to: url)
    }
}
