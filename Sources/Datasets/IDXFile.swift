import CZlib
import Foundation

/// Why an IDX file was refused, naming the file.
public struct IDXError: Error, Equatable, CustomStringConvertible {
    public let path: String
    public let problem: String
    public var description: String { "\(path): \(problem)" }
}

/// An unsigned-byte array in the IDX format of MNIST and Fashion-MNIST: two zero bytes, the
/// type code 0x08 (unsigned byte), the number of dimensions, each dimension as a big-endian
/// 32-bit integer, then the bytes. Gzipped and plain files both read.
public struct IDXFile: Sendable {
    public let shape: [Int]
    public let bytes: [UInt8]

    public init(shape: [Int], bytes: [UInt8]) {
        self.shape = shape
        self.bytes = bytes
    }

    public init(contentsOf url: URL) throws {
        let path = url.path
        guard FileManager.default.fileExists(atPath: path) else { throw IDXError(path: path, problem: "no such file") }
        try self.init(data: try IDXFile.decompress(path), path: path)
    }

    public init(data: [UInt8], path: String) throws {
        func fail(_ problem: String) -> IDXError { IDXError(path: path, problem: problem) }
        guard data.count >= 4 else { throw fail("truncated: \(data.count) bytes, too short for the 4-byte magic number") }
        guard data[0] == 0, data[1] == 0 else {
            throw fail(String(format: "bad magic number 0x%02x%02x%02x%02x (expected 0x000008nn)", data[0], data[1], data[2], data[3]))
        }
        guard data[2] == 0x08 else { throw fail(String(format: "element type 0x%02x is not unsigned byte (0x08)", data[2])) }
        let rank = Int(data[3])
        guard rank >= 1 else { throw fail("zero dimensions") }
        guard data.count >= 4 + 4 * rank else {
            throw fail("truncated: \(data.count) bytes, too short for \(rank) dimensions")
        }
        var shape: [Int] = []
        var count = 1
        for axis in 0 ..< rank {
            let start = 4 + 4 * axis
            let extent = data[start ..< start + 4].reduce(0) { $0 << 8 | Int($1) }
            shape.append(extent)
            let (product, overflow) = count.multipliedReportingOverflow(by: extent)
            if overflow { throw fail("dimensions \(shape) are too large") }
            count = product
        }
        let available = data.count - 4 - 4 * rank
        guard available == count else {
            throw fail(available < count
                ? "truncated: dimensions \(shape) need \(count) bytes of data but \(available) follow"
                : "\(available - count) unexpected bytes after the \(count) bytes of dimensions \(shape)")
        }
        self.shape = shape
        bytes = Array(data[(4 + 4 * rank)...])
    }

    /// The file's contents, gunzipped if it is gzipped (zlib reads plain files unchanged).
    static func decompress(_ path: String) throws -> [UInt8] {
        guard let file = gzopen(path, "rb") else { throw IDXError(path: path, problem: "cannot open") }
        defer { gzclose(file) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let read = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
            if read < 0 {
                var code: Int32 = 0
                let message = gzerror(file, &code).map { String(cString: $0) } ?? "unknown"
                throw IDXError(path: path, problem: "corrupt gzip data: \(message)")
            }
            if read == 0 { break }
            result.append(contentsOf: chunk[0 ..< Int(read)])
            if result.count > 2_000_000_000 { throw IDXError(path: path, problem: "larger than 2 GB once decompressed") }
        }
        // gzread stops quietly at a truncated gzip stream; gzerror tells.
        var code: Int32 = 0
        _ = gzerror(file, &code)
        if code != Z_OK && code != Z_STREAM_END {
            throw IDXError(path: path, problem: "corrupt or truncated gzip data (zlib error \(code))")
        }
        return result
    }

    /// Writes the array as a gzipped IDX file (for tests and small exports).
    public func writeGzipped(to url: URL) throws {
        var data: [UInt8] = [0, 0, 0x08, UInt8(shape.count)]
        for extent in shape { data += [UInt8(extent >> 24 & 0xFF), UInt8(extent >> 16 & 0xFF), UInt8(extent >> 8 & 0xFF), UInt8(extent & 0xFF)] }
        data += bytes
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString)")
        guard let file = gzopen(temporary.path, "wb") else { throw IDXError(path: url.path, problem: "cannot write") }
        let written = data.withUnsafeBytes { gzwrite(file, $0.baseAddress, UInt32($0.count)) }
        gzclose(file)
        guard written == data.count else {
            try? FileManager.default.removeItem(at: temporary)
            throw IDXError(path: url.path, problem: "short write")
        }
        guard rename(temporary.path, url.path) == 0 else {
            try? FileManager.default.removeItem(at: temporary)
            throw IDXError(path: url.path, problem: "cannot rename the temporary file into place")
        }
    }
}
