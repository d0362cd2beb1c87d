import Foundation
import Testing
import TensorAlgebra

#if canImport(Glibc)
import Glibc
import IsometrySupport
import FileFormats
#endif

/// A seed of the safetensors fuzz target (Fuzz/make_corpus.py writes them, some with Python's
/// `safetensors`).
func safetensorsCorpus(_ name: String) -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Fuzz/safetensors/corpus/\(name).safetensors").standardizedFileURL
}

/// Hostile safetensors files (issue 12): refused as the reference implementation refuses them,
/// duplicates too, each with the typed reason and its values.
@Suite struct HostileSafetensorsTests {
    func expectRefusal(_ name: String, _ reason: SafetensorsError.Reason, sourceLocation: SourceLocation = #_sourceLocation) {
        let url = safetensorsCorpus(name)
        #expect(throws: SafetensorsError(source: url.path, reason: reason), sourceLocation: sourceLocation) {
            try SafetensorsFile(contentsOf: url)
        }
    }

    @Test func whatTheReferenceRefusesIsRefused() {
        expectRefusal("issue12-overlap", .overlap(tensor: "b", with: "a", begin: 0, expected: 8))
        expectRefusal("issue12-duplicate-key", .duplicateKey(key: "a", in: "the header"))
        expectRefusal("issue12-gap", .gap(tensor: "b", begin: 8, expected: 4))
        expectRefusal("issue12-trailing", .trailingBytes(count: 4, end: 4))
        expectRefusal("issue12-true-extent", .notAnInteger(tensor: "a", field: "shape", value: "true"))
        expectRefusal("issue12-float-extent", .notAnInteger(tensor: "a", field: "data_offsets", value: "4.0"))
        expectRefusal("negative-extent", .notAnInteger(tensor: "a", field: "shape", value: "-1"))
        expectRefusal("size-mismatch", .sizeMismatch(tensor: "a", shape: [2], dtype: "F64", expectedBytes: 16, spannedBytes: 8))
        expectRefusal("past-end", .dataPastEnd(tensor: "a", end: 16, available: 8))
        expectRefusal("header-past-end", .headerLength(1 << 40, fileBytes: 10))
        expectRefusal("shape-overflow", .shapeOverflow(tensor: "a", shape: [4_294_967_296, 4_294_967_296, 4_294_967_296]))
        expectRefusal("unsupported-dtype", .unsupportedDType(tensor: "a", dtype: "I64"))
        expectRefusal("metadata-not-strings", .invalidMetadata("must map strings to strings; \"epoch\" holds 3"))
        expectRefusal("not-json", .headerNotJSON("unexpected end at character 5"))
        expectRefusal("deep-nesting", .headerNotJSON("nested deeper than 64 levels at character 68"))
    }

    @Test func messagesNameTheFileTheProblemAndTheValue() {
        let overlap = SafetensorsError(source: "c.safetensors", reason: .overlap(tensor: "b", with: "a", begin: 0, expected: 8))
        #expect(overlap.description == "c.safetensors: tensor 'b': data_offsets begin at 0, overlapping 'a' which ends at 8")
        let extent = SafetensorsError(source: "c.safetensors", reason: .notAnInteger(tensor: "a", field: "shape", value: "true"))
        #expect(extent.description == "c.safetensors: tensor 'a': shape must hold non-negative integers, found true")
        // The string form other modules build (checkpoint shapes) is kept.
        #expect(SafetensorsError(source: "x", problem: "wrong shapes").description == "x: wrong shapes")
    }

    @Test func duplicatesAreRefusedAtEveryLevel() {
        func reason(_ header: String) -> SafetensorsError.Reason? {
            var bytes = withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Array($0) }
            bytes += Array(header.utf8) + [0, 0, 0, 0]
            do { _ = try SafetensorsFile(data: bytes); return nil } catch let error as SafetensorsError { return error.reason } catch { return nil }
        }
        #expect(reason(#"{"a":{"dtype":"F32","shape":[1],"dtype":"F64","data_offsets":[0,4]}}"#) == .duplicateKey(key: "dtype", in: "tensor 'a'"))
        #expect(reason(#"{"__metadata__":{"k":"1","k":"2"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#)
            == .duplicateKey(key: "k", in: "__metadata__"))
        // The same key spelled with an escape is the same key.
        #expect(reason(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"\u0061":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#)
            == .duplicateKey(key: "a", in: "the header"))
        #expect(reason(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#) == nil)
        // Big integers do not wrap.
        #expect(reason(#"{"a":{"dtype":"F32","shape":[18446744073709551617],"data_offsets":[0,4]}}"#)
            == .notAnInteger(tensor: "a", field: "shape", value: "18446744073709551617"))
    }

    @Test func filesFromOtherToolsLoad() throws {
        // Written by Python's safetensors: no checksums, loaded unchecked.
        let file = try SafetensorsFile(contentsOf: safetensorsCorpus("valid-python"))
        #expect(file.metadata == ["activation": "tanh"])
        #expect(file.tensor("layers.0.weight", as: Double.self) == Tensor<Double>([[0, 1, 2], [3, 4, 5]]))
        #expect(file.tensor("layers.0.bias", as: Double.self) == Tensor<Double>([0.5, -0.5]))
        let empty = try SafetensorsFile(contentsOf: safetensorsCorpus("valid-empty-tensor"))
        #expect(empty.entries["empty"]?.shape == [0, 3] && empty.entries["x"]?.shape == [2])
        #expect(try SafetensorsFile(contentsOf: safetensorsCorpus("valid-no-tensors")).entries.isEmpty)
        // A (0, 100000) layer reads; the width is the command's to check.
        #expect(try SafetensorsFile(contentsOf: safetensorsCorpus("issue12-shape-0x100000")).entries["layers.0.weight"]?.shape == [0, 100_000])
    }

    @Test func everyTensorCarriesAChecksumThatIsVerified() throws {
        var file = SafetensorsFile()
        file.set("w", Tensor<Float>([[1, 2], [3, 4]]))
        file.set("b", Tensor<Double>([0.25, -1]))
        file.metadata = ["sigma": "1.5"]
        let bytes = try file.encoded()
        let header = String(decoding: bytes[8 ..< 8 + Int(bytes[0])], as: UTF8.self)
        let crcW = SafetensorsFile.checksum(file.entries["w"]!.bytes)
        #expect(header.contains("\"crc32.w\":\"\(String(format: "%08x", crcW))\""))
        // Read back: verified, and the checksum keys are not part of the metadata.
        let back = try SafetensorsFile(data: bytes)
        #expect(back.metadata == ["sigma": "1.5"] && back.entries["w"]?.bytes == file.entries["w"]?.bytes)
        // One flipped bit in a well-formed file: caught, naming the tensor and both checksums.
        var rotten = bytes
        rotten[rotten.count - 1] ^= 0x01  // the last byte of "w" (tensors are in name order)
        var flipped = file.entries["w"]!.bytes
        flipped[flipped.count - 1] ^= 0x01
        #expect(throws: SafetensorsError(source: "r", reason: .checksumMismatch(
            tensor: "w", expected: crcW, found: SafetensorsFile.checksum(flipped)))) {
            try SafetensorsFile(data: rotten, source: "r")
        }
        let url = safetensorsCorpus("crc-mismatch")
        do {
            _ = try SafetensorsFile(contentsOf: url)
            Issue.record("expected an error")
        } catch let error as SafetensorsError {
            guard case .checksumMismatch(let tensor, _, _) = error.reason else { Issue.record("\(error)"); return }
            #expect(tensor == "layers.0.weight" && error.description.contains("corrupted file"))
        }
        #expect(try SafetensorsFile(contentsOf: safetensorsCorpus("valid-with-crc")).metadata == ["sigma": "1.0"])
        expectRefusal("crc-malformed", .invalidChecksum(key: "crc32.layers.0.weight", value: "xyz"))
        // A checksum for a tensor the file does not hold.
        var orphan = SafetensorsFile()
        orphan.metadata = ["crc32.ghost": "00000000"]
        var withOrphan = try orphan.encoded()
        // encoded() drops stale checksum keys; put one in by hand.
        let text = #"{"__metadata__":{"crc32.ghost":"00000000"}}"#
        withOrphan = withUnsafeBytes(of: UInt64(text.utf8.count).littleEndian) { Array($0) } + Array(text.utf8)
        #expect(throws: SafetensorsError(source: "o", reason: .checksumOfMissingTensor("ghost"))) {
            try SafetensorsFile(data: withOrphan, source: "o")
        }
        #expect(try SafetensorsFile(data: try orphan.encoded()).metadata.isEmpty)
    }

    @Test func onlyRegularFilesWithinMemoryAreRead() throws {
        let folder = try temporaryFolder("st-kinds")
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(throws: SafetensorsError(source: folder.path, reason: .notRegularFile(.directory))) { try SafetensorsFile(contentsOf: folder) }
        let fifo = folder.appendingPathComponent("pipe.safetensors")
        #expect(mkfifo(fifo.path, 0o600) == 0)
        #expect(throws: SafetensorsError(source: fifo.path, reason: .notRegularFile(.fifo))) { try SafetensorsFile(contentsOf: fifo) }
        let missing = folder.appendingPathComponent("missing.safetensors")
        #expect(throws: SafetensorsError(source: missing.path, reason: .notFound)) { try SafetensorsFile(contentsOf: missing) }
        // Twice the file (its bytes, then the tensors' copies) must fit.
        let url = safetensorsCorpus("valid-python")
        #expect(throws: SafetensorsError(source: url.path, reason: .exceedsMemory(bytes: 448, limit: 400))) {
            try SafetensorsFile(contentsOf: url, memoryLimit: 400)
        }
    }

    @Test func writesAreAtomicAndLeaveNoTemporaryFile() throws {
        let folder = try temporaryFolder("st-write")
        defer { try? FileManager.default.removeItem(at: folder) }
        var file = SafetensorsFile()
        file.set("layers.0.weight", Tensor<Double>.identity(3))
        let url = folder.appendingPathComponent("c.safetensors")
        try file.write(to: url)
        try file.write(to: url)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["c.safetensors"])
        #expect(try SafetensorsFile(contentsOf: url).tensor("layers.0.weight", as: Double.self) == Tensor<Double>.identity(3))
        #expect(AtomicFile.isTemporary(AtomicFile.temporaryURL(for: url).lastPathComponent, for: "c.safetensors"))
    }
}
