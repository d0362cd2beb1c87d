import Foundation
import Testing
import TensorAlgebra
import FileFormats
import IsometrySupport

/// The writers refuse, with a typed error and no file left behind, what they used to write
/// wrongly (a file their own reader refuses, truncated dimensions) or trap on.
@Suite struct WriterRefusalTests {
    @Test func safetensorsRefusesATensorNamedMetadata() throws {
        let folder = try temporaryFolder("st-reserved")
        defer { try? FileManager.default.removeItem(at: folder) }
        var file = SafetensorsFile()
        file.set("__metadata__", Tensor<Float>([1, 2]))
        let reason = SafetensorsError.Reason.reservedTensorName("__metadata__")
        #expect(throws: SafetensorsError(source: "data", reason: reason)) { try file.encoded() }
        let url = folder.appendingPathComponent("m.safetensors")
        #expect(throws: SafetensorsError(source: url.path, reason: reason)) { try file.write(to: url) }
        var stream = SafetensorsStreamWriter<Double>()
        stream.set("__metadata__", Tensor<Double>([1]))
        #expect(throws: SafetensorsError(source: url.path, reason: reason)) { try stream.write(to: url) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty)
        #expect(SafetensorsError(source: "m.safetensors", reason: reason).description
            == "m.safetensors: a tensor cannot be named \"__metadata__\", the key the format keeps for the metadata")
        // Any other name, "__metadata" and "metadata" included, reads back.
        var fine = SafetensorsFile()
        fine.set("__metadata", Tensor<Float>([1, 2]))
        fine.set("metadata", Tensor<Double>([3]))
        let back = try SafetensorsFile(data: try fine.encoded())
        #expect(back.tensor("__metadata", as: Float.self) == Tensor<Float>([1, 2]))
        #expect(back.tensor("metadata", as: Double.self) == Tensor<Double>([3]))
    }

    @Test func safetensorsRefusesBytesThatDoNotFillTheShape() {
        var file = SafetensorsFile()
        file.set("w", Tensor<Float>([1, 2]))
        file.entries["w"]!.shape = [3]
        #expect(throws: SafetensorsError(source: "data", reason: .sizeMismatch(tensor: "w", shape: [3], dtype: "F32", expectedBytes: 12, spannedBytes: 8))) {
            try file.encoded()
        }
    }

    func idxError(_ reason: IDXError.Reason) -> IDXError { IDXError(path: "IDXFile(shape:bytes:)", reason: reason) }

    @Test func idxArraysMustBeWhatTheFormatHolds() throws {
        #expect(throws: idxError(.bytesDoNotFillShape(shape: [2, 2], expectedBytes: 4, foundBytes: 3))) {
            try IDXFile(shape: [2, 2], bytes: [1, 2, 3])
        }
        #expect(throws: idxError(.bytesDoNotFillShape(shape: [2], expectedBytes: 2, foundBytes: 3))) {
            try IDXFile(shape: [2], bytes: [1, 2, 3])
        }
        // 2³² was written as 0: [0, 2³²] read back as [0, 0].
        #expect(throws: idxError(.extentOutOfRange(shape: [0, 4_294_967_296], axis: 1))) {
            try IDXFile(shape: [0, 4_294_967_296], bytes: [])
        }
        #expect(throws: idxError(.extentOutOfRange(shape: [-1], axis: 0))) { try IDXFile(shape: [-1], bytes: []) }
        #expect(throws: idxError(.noDimensions)) { try IDXFile(shape: [], bytes: [7]) }
        // 256 axes wrapped the rank byte to 0, and the writer trapped.
        let ones = [Int](repeating: 1, count: 256)
        #expect(throws: idxError(.tooManyDimensions(256))) { try IDXFile(shape: ones, bytes: [7]) }
        #expect(throws: idxError(.dimensionsOverflow([0, 4_294_967_295, 4_294_967_295, 4_294_967_295]))) {
            try IDXFile(shape: [0, 4_294_967_295, 4_294_967_295, 4_294_967_295], bytes: [])
        }
        #expect(idxError(.bytesDoNotFillShape(shape: [2, 2], expectedBytes: 4, foundBytes: 3)).description
            == "IDXFile(shape:bytes:): dimensions [2, 2] need 4 bytes but 3 were given")
        #expect(idxError(.tooManyDimensions(256)).description == "IDXFile(shape:bytes:): 256 dimensions, more than the format's 255")
        #expect(idxError(.extentOutOfRange(shape: [0, 4_294_967_296], axis: 1)).description
            == "IDXFile(shape:bytes:): extent 4294967296 of axis 1 in dimensions [0, 4294967296] does not fit the format's 32-bit unsigned dimensions")
    }

    @Test func idxArraysAtTheFormatsLimitsRoundTrip() throws {
        let folder = try temporaryFolder("idx-limits")
        defer { try? FileManager.default.removeItem(at: folder) }
        for (shape, bytes) in [([Int](repeating: 1, count: 255), [UInt8(9)]), ([0, 4_294_967_295], []), ([3], [1, 2, 3])] {
            let url = folder.appendingPathComponent("a.idx.gz")
            try IDXFile(shape: shape, bytes: bytes).writeGzipped(to: url)
            let back = try IDXFile(contentsOf: url)
            #expect(back.shape == shape && back.bytes == bytes)
        }
    }

    @Test func npyHeadersTooLongForTheFormatThrowInsteadOfTrapping() throws {
        let folder = try temporaryFolder("npy-rank")
        defer { try? FileManager.default.removeItem(at: folder) }
        // Rank 30000: the header "(1, 1, …)" is 90102 bytes, over format 1.0's 65535.
        let shape = [Int](repeating: 1, count: 30_000)
        let url = folder.appendingPathComponent("deep.npy")
        #expect(throws: NumpyFileError(source: url.path, problem: .headerTooLong(shape: shape, bytes: 90_102))) {
            try Tensor<Float>(shape: shape, scalars: [1]).writeNumpyFile(to: url)
        }
        #expect(throws: NumpyFileError(source: "data", problem: .headerTooLong(shape: shape, bytes: 90_102))) {
            try NumpyArray(dtype: .uint8, shape: shape, bytes: [1]).encoded()
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty)
        #expect(NumpyFileError(source: "d.npy", problem: .headerTooLong(shape: [1, 1], bytes: 90_102)).description
            == "d.npy: the header of a rank-2 array is 90102 bytes, more than the 65535 of .npy format 1.0")
        // Numpy's own limit, 64 axes, is far inside the format.
        let deep = Tensor<Double>(shape: [Int](repeating: 1, count: 64), scalars: [2.5])
        let url64 = folder.appendingPathComponent("64.npy")
        try deep.writeNumpyFile(to: url64)
        #expect(try Tensor<Double>(contentsOfNumpyFile: url64) == deep)
    }

    @Test func theFuzzSeedsOfTheseLimitsReadAsExpected() throws {
        // What a tensor named __metadata__ looks like to the reader: metadata that is not strings.
        let url = safetensorsCorpus("metadata-as-tensor")
        #expect(throws: SafetensorsError(source: url.path, reason: .invalidMetadata("must map strings to strings; \"shape\" holds an array"))) {
            try SafetensorsFile(contentsOf: url)
        }
        // A rank-30000 array reads from format 2.0; writing it back in 1.0 is refused, not a trap.
        let deep = try NumpyArray(contentsOf: npyCorpus("rank-30000-v2.npy"))
        #expect(deep.shape == [Int](repeating: 1, count: 30_000) && deep.bytes == [7])
        #expect(throws: NumpyFileError(source: "data", problem: .headerTooLong(shape: deep.shape, bytes: 90_102))) { try deep.encoded() }
        let idx = try IDXFile(contentsOf: idxCorpus("rank-255.idx.gz"))
        #expect(idx.shape == [Int](repeating: 1, count: 255) && idx.bytes == [9])
    }
}
