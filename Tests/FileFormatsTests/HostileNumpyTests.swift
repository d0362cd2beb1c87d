import Foundation
import Testing
import TensorAlgebra

#if canImport(Glibc)
import Glibc
import IsometrySupport
import FileFormats
#endif

/// A seed of the .npy fuzz target (Fuzz/make_corpus.py writes them with numpy).
func npyCorpus(_ name: String) -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Fuzz/npy/corpus/\(name)").standardizedFileURL
}

/// Hostile and degenerate .npy files (issue 12): each refusal is the typed error with its value.
@Suite struct HostileNumpyTests {
    func error(_ url: URL, _ problem: NumpyFileError.Problem) -> NumpyFileError {
        NumpyFileError(source: url.path, problem: problem)
    }

    @Test func structuredDTypeIsNamedAsSuch() {
        let url = npyCorpus("issue12-structured.npy")
        #expect(throws: error(url, .structuredDType("[('x', '<f4'), ('y', '<i8')]"))) { try NumpyArray(contentsOf: url) }
        let described = NumpyFileError(source: "s.npy", problem: .structuredDType("[('x', '<f4')]")).description
        #expect(described.hasPrefix("s.npy: structured dtype [('x', '<f4')] is not supported"))
    }

    @Test func numpyWrittenEdgeCases() throws {
        #expect(throws: error(npyCorpus("fortran-order.npy"), .fortranOrder)) { try NumpyArray(contentsOf: npyCorpus("fortran-order.npy")) }
        #expect(throws: error(npyCorpus("big-endian.npy"), .unsupportedDType(">f8"))) { try NumpyArray(contentsOf: npyCorpus("big-endian.npy")) }
        #expect(throws: error(npyCorpus("float16.npy"), .unsupportedDType("<f2"))) { try NumpyArray(contentsOf: npyCorpus("float16.npy")) }
        // The pickle payload is never looked at.
        #expect(throws: error(npyCorpus("object-pickle.npy"), .unsupportedDType("|O"))) { try NumpyArray(contentsOf: npyCorpus("object-pickle.npy")) }
        #expect(throws: error(npyCorpus("truncated.npy"), .truncated(expectedBytes: 64, foundBytes: 59))) {
            try NumpyArray(contentsOf: npyCorpus("truncated.npy"))
        }
        #expect(throws: error(npyCorpus("trailing.npy"), .trailingBytes(2))) { try NumpyArray(contentsOf: npyCorpus("trailing.npy")) }
        // Versions 2.0 and 3.0, a 0-d scalar and an empty array all read.
        #expect(try NumpyArray(contentsOf: npyCorpus("valid-v2.npy")).scalars(as: Double.self) == [0, 1, 2, 3])
        #expect(try NumpyArray(contentsOf: npyCorpus("valid-v3.npy")).scalars(as: Double.self) == [0, 1, 2, 3])
        let scalar = try NumpyArray(contentsOf: npyCorpus("valid-f8-scalar.npy"))
        #expect(scalar.shape == [] && scalar.scalars(as: Double.self) == [1.5])
        #expect(try NumpyArray(contentsOf: npyCorpus("valid-f8-0x3.npy")).shape == [0, 3])
        // (0, 100000) holds nothing: it reads (what a command makes of its width is its business).
        let empty = try NumpyArray(contentsOf: npyCorpus("issue12-shape-0x100000.npy"))
        #expect(empty.shape == [0, 100_000] && empty.bytes.isEmpty && Tensor<Double>(empty).count == 0)
    }

    @Test func headerLengthOf2To31RunsPastTheEnd() {
        let url = npyCorpus("header-length-2p63.npy")
        do {
            _ = try NumpyArray(contentsOf: url)
            Issue.record("expected an error")
        } catch let error as NumpyFileError {
            guard case .malformedHeader(let detail) = error.problem else { Issue.record("\(error)"); return }
            #expect(detail.contains("2147483647") && detail.contains("runs past the end"))
        } catch { Issue.record("\(error)") }
    }

    @Test func shapesAreOverflowCheckedAndMemoryEstimated() throws {
        // Zero elements, but the other extents multiply past Int.max: refused, not a later trap.
        let zero = npyCorpus("shape-0-overflow.npy")
        #expect(throws: error(zero, .tooLarge(shape: [0, 4_294_967_295, 4_294_967_295, 4_294_967_295]))) { try NumpyArray(contentsOf: zero) }
        let overflow = npyCorpus("shape-overflow.npy")
        #expect(throws: error(overflow, .tooLarge(shape: [999_999_999_999_999_999, 999_999_999_999_999_999]))) { try NumpyArray(contentsOf: overflow) }
        // 10¹² doubles: 8 TB of data and 8 TB once converted, refused before any allocation.
        let large = npyCorpus("shape-too-large.npy")
        let limit = MemoryBudget.defaultLimit
        #expect(throws: error(large, .exceedsMemory(shape: [100_000, 100_000, 100], bytes: 16_000_000_000_000, limit: limit))) {
            try NumpyArray(contentsOf: large)
        }
        let message = error(large, .exceedsMemory(shape: [100_000, 100_000, 100], bytes: 16_000_000_000_000, limit: limit)).description
        #expect(message.contains("needs 16.0 TB (16000000000000 bytes) of memory"))
        // A file larger than the limit is refused before it is read.
        let small = npyCorpus("valid-f4-2x3.npy")
        #expect(throws: error(small, .exceedsMemory(shape: nil, bytes: 152, limit: 100))) { try NumpyArray(contentsOf: small, memoryLimit: 100) }
        // In memory, the shape's estimate: 6 floats = 24 bytes, and 48 as doubles.
        let bytes = try Tensor<Float>([[1, 2, 3], [4, 5, 6]]).numpyArray.encoded()
        #expect(throws: NumpyFileError(source: "m", problem: .exceedsMemory(shape: [2, 3], bytes: 72, limit: 71))) {
            try NumpyArray(data: bytes, source: "m", memoryLimit: 71)
        }
        #expect(try NumpyArray(data: bytes, source: "m", memoryLimit: 72).shape == [2, 3])
    }

    @Test func onlyRegularFilesAreOpened() throws {
        let folder = try temporaryFolder("npy-kinds")
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(throws: error(folder, .notRegularFile(.directory))) { try NumpyArray(contentsOf: folder) }
        // A FIFO without a writer: refused at once, not waited on.
        let fifo = folder.appendingPathComponent("pipe.npy")
        #expect(mkfifo(fifo.path, 0o600) == 0)
        let start = Date()
        #expect(throws: error(fifo, .notRegularFile(.fifo))) { try NumpyArray(contentsOf: fifo) }
        #expect(Date().timeIntervalSince(start) < 5)
        let device = URL(fileURLWithPath: "/dev/zero")
        #expect(throws: error(device, .notRegularFile(.characterDevice))) { try NumpyArray(contentsOf: device) }
        #expect(error(fifo, .notRegularFile(.fifo)).description == "\(fifo.path): is a FIFO (named pipe), not a regular file")
    }

    @Test func writesAreAtomicAndLeaveNoTemporaryFile() throws {
        let folder = try temporaryFolder("npy-write")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("w.npy")
        try Tensor<Double>.identity(3).writeNumpyFile(to: url)
        try Tensor<Double>.identity(4).writeNumpyFile(to: url)
        #expect(try Tensor<Double>(contentsOfNumpyFile: url) == Tensor<Double>.identity(4))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["w.npy"])
        // Into a folder that does not exist: a typed error naming the path.
        let nowhere = folder.appendingPathComponent("missing/w.npy")
        #expect(throws: FileWriteError.self) { try Tensor<Double>.identity(2).writeNumpyFile(to: nowhere) }
    }
}
