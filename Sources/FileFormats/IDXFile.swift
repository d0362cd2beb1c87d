import CZlib
import Foundation
import TensorAlgebra

#if canImport(Glibc)
import Glibc
import IsometrySupport
#endif

/// Why an IDX file (or a dataset made of IDX files) was refused: the file and a typed reason
/// carrying the values found.
public struct IDXError: Error, Equatable, CustomStringConvertible {
    public enum Reason: Equatable, Sendable {
        case notFound
        /// A directory, a FIFO, a device…: refused before any read (a FIFO would block).
        case notRegularFile(FileKind)
        case unreadable(String)
        /// The file ends inside the header: `foundBytes` of the `neededBytes` it announces.
        case truncatedHeader(foundBytes: Int, neededBytes: Int)
        /// The first four bytes, which should be 00 00 08 nn.
        case badMagic([UInt8])
        case unsupportedElementType(UInt8)
        case noDimensions
        /// The dimensions multiply past what memory can address (zero extents set aside: a
        /// shape [0, 2³²−1, 2³²−1] holds nothing but no image size can be computed from it).
        case dimensionsOverflow([Int])
        /// The data the header announces needs `bytes`, more than `limit` (`MemoryBudget`).
        case exceedsMemory(shape: [Int], bytes: Int, limit: Int)
        /// The header announces `expectedBytes` of data but only `foundBytes` follow.
        case truncatedData(shape: [Int], expectedBytes: Int, foundBytes: Int)
        /// Data beyond the `expectedBytes` the header announces: `extraBytes` of it, or at least
        /// that many when `atLeast` (gzipped files are not decompressed past the first block).
        case trailingBytes(shape: [Int], expectedBytes: Int, extraBytes: Int, atLeast: Bool)
        case corruptGzip(String)
        /// Images need [count, rows, …], labels [count].
        case wrongRank(expected: String, shape: [Int])
        /// An image of this shape has no pixel.
        case emptyImages(imageShape: [Int])
        case countMismatch(labels: Int, images: Int, imagesFile: String)
        case labelOutOfRange(label: Int, index: Int, classes: Int)
        /// A dataset split without a single image.
        case emptySplit(String)
        case missingFolder(hint: String)
        case missingFile(stem: String)
        case imageShapesDiffer(train: [Int], test: [Int])
        /// `IDXFile(shape:bytes:)`: the shape needs `expectedBytes`, `foundBytes` were given.
        case bytesDoNotFillShape(shape: [Int], expectedBytes: Int, foundBytes: Int)
        /// An extent the format's big-endian 32-bit dimensions cannot hold (negative, or ≥ 2³²).
        case extentOutOfRange(shape: [Int], axis: Int)
        /// More dimensions than the one byte of the magic number counts (255).
        case tooManyDimensions(Int)
        case other(String)
    }

    public let path: String
    public let reason: Reason

    public init(path: String, reason: Reason) {
        self.path = path
        self.reason = reason
    }

    public init(path: String, problem: String) {
        self.init(path: path, reason: .other(problem))
    }

    public var problem: String {
        switch reason {
        case .notFound: return "no such file"
        case .notRegularFile(let kind): return "is \(kind.rawValue), not a regular file"
        case .unreadable(let detail): return "cannot read: \(detail)"
        case .truncatedHeader(let found, let needed):
            return "truncated: \(found) bytes, too short for the \(needed)-byte header"
        case .badMagic(let bytes):
            return "bad magic number 0x" + bytes.map { String(format: "%02x", $0) }.joined() + " (expected 0x000008nn)"
        case .unsupportedElementType(let code): return String(format: "element type 0x%02x is not unsigned byte (0x08)", code)
        case .noDimensions: return "zero dimensions"
        case .dimensionsOverflow(let shape): return "dimensions \(shape) are too large to address"
        case .exceedsMemory(let shape, let bytes, let limit): return "dimensions \(shape) " + MemoryBudget.explain(bytes: bytes, limit: limit)
        case .truncatedData(let shape, let expected, let found):
            return "truncated: dimensions \(shape) need \(expected) bytes of data but \(found) follow"
        case .trailingBytes(let shape, let expected, let extra, let atLeast):
            return "\(atLeast ? "at least " : "")\(extra) unexpected bytes after the \(expected) bytes of dimensions \(shape)"
        case .corruptGzip(let detail): return "corrupt or truncated gzip data: \(detail)"
        case .wrongRank(let expected, let shape): return "expected \(expected), found dimensions \(shape)"
        case .emptyImages(let shape): return "images of shape \(shape) have no pixels"
        case .countMismatch(let labels, let images, let imagesFile): return "\(labels) labels for \(images) images in \(imagesFile)"
        case .labelOutOfRange(let label, let index, let classes):
            return "label \(label) at index \(index) is not below the \(classes) classes"
        case .emptySplit(let split): return "the \(split) split holds no images"
        case .missingFolder(let hint): return "no such folder; \(hint)"
        case .missingFile(let stem): return "missing \(stem).gz (or \(stem))"
        case .imageShapesDiffer(let train, let test): return "train images are \(train) but test images are \(test)"
        case .bytesDoNotFillShape(let shape, let expected, let found):
            return "dimensions \(shape) need \(expected) bytes but \(found) were given"
        case .extentOutOfRange(let shape, let axis):
            return "extent \(shape[axis]) of axis \(axis) in dimensions \(shape) does not fit the format's 32-bit unsigned dimensions"
        case .tooManyDimensions(let rank): return "\(rank) dimensions, more than the format's 255"
        case .other(let text): return text
        }
    }

    public var description: String { "\(quotedValue(path)): \(problem)" }
}

/// An unsigned-byte array in the IDX format of MNIST and Fashion-MNIST: two zero bytes, the
/// type code 0x08 (unsigned byte), the number of dimensions, each dimension as a big-endian
/// 32-bit integer, then the bytes. Gzipped and plain files both read.
///
/// Everything read is validated before any work: only regular files are opened (a FIFO or a
/// directory is named as such, not waited on); the dimensions are multiplied with overflow
/// checks, zero extents set aside too; the data they announce is checked against
/// `MemoryBudget` before anything is allocated; and gzipped files are decompressed as a
/// stream, the header first, then exactly the announced bytes, so a gzip bomb costs no more
/// than what its header announces. Short data and data beyond the announced size are errors.
public struct IDXFile: Sendable {
    public let shape: [Int]
    public let bytes: [UInt8]

    /// An array to write; throws ``IDXError`` (path "IDXFile(shape:bytes:)") for what no IDX file
    /// can hold and the reader would refuse: no dimension or more than 255, an extent outside
    /// 0 ..< 2³², dimensions that overflow, bytes that do not fill the shape exactly.
    public init(shape: [Int], bytes: [UInt8]) throws {
        try IDXFile.checkWritable(shape: shape, byteCount: bytes.count, path: "IDXFile(shape:bytes:)")
        self.shape = shape
        self.bytes = bytes
    }

    static func checkWritable(shape: [Int], byteCount: Int, path: String) throws {
        func fail(_ reason: IDXError.Reason) -> IDXError { IDXError(path: path, reason: reason) }
        if shape.isEmpty { throw fail(.noDimensions) }
        if shape.count > 255 { throw fail(.tooManyDimensions(shape.count)) }
        if let axis = shape.firstIndex(where: { $0 < 0 || $0 > Int(UInt32.max) }) { throw fail(.extentOutOfRange(shape: shape, axis: axis)) }
        guard let count = MemoryBudget.product(shape), MemoryBudget.nonZeroProductFits(shape, scale: 8) else {
            throw fail(.dimensionsOverflow(shape))
        }
        if count != byteCount { throw fail(.bytesDoNotFillShape(shape: shape, expectedBytes: count, foundBytes: byteCount)) }
    }

    /// Reads a plain or gzipped IDX file; the data its header announces must fit in `memoryLimit`.
    public init(contentsOf url: URL, memoryLimit: Int = MemoryBudget.defaultLimit) throws {
        let path = url.path
        func fail(_ reason: Reason) -> IDXError { IDXError(path: path, reason: reason) }
        typealias Reason = IDXError.Reason
        let file: RegularFileReader
        do { file = try RegularFileReader(path: path) } catch {
            switch error {
            case .notFound: throw fail(.notFound)
            case .notRegularFile(let kind): throw fail(.notRegularFile(kind))
            default: throw fail(.unreadable(error.description))
            }
        }
        let fileSize = file.size
        let descriptor = file.takeDescriptor()
        guard let gz = gzdopen(descriptor, "rb") else {
            close(descriptor)
            throw fail(.unreadable("zlib cannot open it"))
        }
        defer { gzclose(gz) }
        gzbuffer(gz, 1 << 16)

        /// Reads up to `count` bytes into `target`; stops early only at the end of the data.
        func read(_ target: UnsafeMutableRawPointer, _ count: Int) throws -> Int {
            var done = 0
            while done < count {
                let n = gzread(gz, target + done, UInt32(min(count - done, 1 << 30)))
                if n < 0 { throw fail(.corruptGzip(gzipMessage())) }
                if n == 0 { break }
                done += Int(n)
            }
            return done
        }
        func gzipMessage() -> String {
            var code: Int32 = 0
            return gzerror(gz, &code).map { String(cString: $0) } ?? "zlib error \(code)"
        }
        /// A stream that ended early because the gzip data is cut or damaged, not the IDX data.
        func gzipFailed() -> Bool {
            var code: Int32 = 0
            _ = gzerror(gz, &code)
            return code != Z_OK && code != Z_STREAM_END
        }

        var magic = [UInt8](repeating: 0, count: 4)
        let gotMagic = try magic.withUnsafeMutableBytes { try read($0.baseAddress!, 4) }
        if gotMagic < 4 {
            if gzipFailed() { throw fail(.corruptGzip(gzipMessage())) }
            throw fail(.truncatedHeader(foundBytes: gotMagic, neededBytes: 4))
        }
        let rank = try IDXFile.rank(fromMagic: magic, path: path)
        var dimensions = [UInt8](repeating: 0, count: 4 * rank)
        let gotDimensions = try dimensions.withUnsafeMutableBytes { try read($0.baseAddress!, 4 * rank) }
        if gotDimensions < 4 * rank {
            if gzipFailed() { throw fail(.corruptGzip(gzipMessage())) }
            throw fail(.truncatedHeader(foundBytes: 4 + gotDimensions, neededBytes: 4 + 4 * rank))
        }
        let (shape, count) = try IDXFile.shape(fromDimensions: dimensions, path: path, memoryLimit: memoryLimit)
        let isGzipped = gzdirect(gz) == 0
        // A plain file is as long as it is: no need to read it to know it is short or long.
        if !isGzipped, fileSize - 4 - 4 * rank != count {
            let available = fileSize - 4 - 4 * rank
            throw fail(available < count
                ? .truncatedData(shape: shape, expectedBytes: count, foundBytes: available)
                : .trailingBytes(shape: shape, expectedBytes: count, extraBytes: available - count, atLeast: false))
        }
        // Exactly the announced bytes; pages are touched only as the data arrives, so a short
        // stream costs what it holds, not what it announced.
        var failure: Error?
        let payload = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            do { initialized = count == 0 ? 0 : try read(buffer.baseAddress!, count) } catch { failure = error }
        }
        if let failure { throw failure }
        if payload.count < count {
            if gzipFailed() { throw fail(.corruptGzip(gzipMessage())) }
            throw fail(.truncatedData(shape: shape, expectedBytes: count, foundBytes: payload.count))
        }
        // Anything after the announced data is an error; one small block tells.
        var probe = [UInt8](repeating: 0, count: 4096)
        let extra = try probe.withUnsafeMutableBytes { try read($0.baseAddress!, $0.count) }
        if extra > 0 {
            throw fail(.trailingBytes(shape: shape, expectedBytes: count, extraBytes: extra, atLeast: extra == probe.count))
        }
        // gzread ends quietly at a truncated gzip stream (a missing CRC, say); gzerror tells.
        if gzipFailed() { throw fail(.corruptGzip(gzipMessage())) }
        self.shape = shape
        self.bytes = payload
    }

    /// Parses an IDX file held in memory (plain, not gzipped).
    public init(data: [UInt8], path: String, memoryLimit: Int = MemoryBudget.defaultLimit) throws {
        func fail(_ reason: IDXError.Reason) -> IDXError { IDXError(path: path, reason: reason) }
        guard data.count >= 4 else { throw fail(.truncatedHeader(foundBytes: data.count, neededBytes: 4)) }
        let rank = try IDXFile.rank(fromMagic: Array(data[0 ..< 4]), path: path)
        guard data.count >= 4 + 4 * rank else {
            throw fail(.truncatedHeader(foundBytes: data.count, neededBytes: 4 + 4 * rank))
        }
        let (shape, count) = try IDXFile.shape(fromDimensions: Array(data[4 ..< 4 + 4 * rank]), path: path, memoryLimit: memoryLimit)
        let available = data.count - 4 - 4 * rank
        guard available == count else {
            throw fail(available < count
                ? .truncatedData(shape: shape, expectedBytes: count, foundBytes: available)
                : .trailingBytes(shape: shape, expectedBytes: count, extraBytes: available - count, atLeast: false))
        }
        self.shape = shape
        bytes = Array(data[(4 + 4 * rank)...])
    }

    /// The number of dimensions, from the magic number 00 00 08 nn.
    static func rank(fromMagic magic: [UInt8], path: String) throws -> Int {
        guard magic[0] == 0, magic[1] == 0 else { throw IDXError(path: path, reason: .badMagic(magic)) }
        guard magic[2] == 0x08 else { throw IDXError(path: path, reason: .unsupportedElementType(magic[2])) }
        guard magic[3] >= 1 else { throw IDXError(path: path, reason: .noDimensions) }
        return Int(magic[3])
    }

    /// The shape and its byte count, validated: no overflow (zero extents set aside) and within
    /// `memoryLimit`.
    static func shape(fromDimensions bytes: [UInt8], path: String, memoryLimit: Int) throws -> (shape: [Int], count: Int) {
        let shape = (0 ..< bytes.count / 4).map { axis in
            bytes[4 * axis ..< 4 * axis + 4].reduce(0) { $0 << 8 | Int($1) }
        }
        // Each image's size (the product of the later extents) is what code downstream
        // multiplies; with a zero count it must still be addressable, as a Double per pixel.
        guard let count = MemoryBudget.product(shape), MemoryBudget.nonZeroProductFits(shape, scale: 8) else {
            throw IDXError(path: path, reason: .dimensionsOverflow(shape))
        }
        guard count <= memoryLimit else {
            throw IDXError(path: path, reason: .exceedsMemory(shape: shape, bytes: count, limit: memoryLimit))
        }
        return (shape, count)
    }

    /// Writes the array as a gzipped IDX file (for tests and small exports), atomically: a
    /// temporary file (`AtomicFile`'s naming), fsync, rename, fsync of the folder.
    public func writeGzipped(to url: URL) throws {
        // The initialisers already refuse these; checked again because a header byte that wrapped
        // would write a file that reads back as something else.
        try IDXFile.checkWritable(shape: shape, byteCount: bytes.count, path: url.path)
        var data: [UInt8] = [0, 0, 0x08, UInt8(shape.count)]
        for extent in shape { data += [UInt8(extent >> 24 & 0xFF), UInt8(extent >> 16 & 0xFF), UInt8(extent >> 8 & 0xFF), UInt8(extent & 0xFF)] }
        data += bytes
        // Compressed in memory, then written like every other file (AtomicFile: temporary
        // file, fsync, rename, fsync of the folder).
        guard let compressed = IDXFile.gzip(data) else { throw IDXError(path: url.path, reason: .other("zlib could not compress the data")) }
        try AtomicFile.write(compressed, to: url)
    }

    /// `bytes` as a gzip stream (zlib's deflate with a gzip wrapper), or nil if zlib fails.
    static func gzip(_ bytes: [UInt8]) -> [UInt8]? {
        var stream = z_stream()
        // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
        guard deflateInit2_(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                            ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(bytes.count))) + 64)
        let status: Int32 = bytes.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                stream.avail_in = uInt(input.count)
                stream.next_out = out.baseAddress
                stream.avail_out = uInt(out.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else { return nil }
        return Array(output[0 ..< Int(stream.total_out)])
    }
}
