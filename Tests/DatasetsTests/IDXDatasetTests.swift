import Datasets
import FileFormats
import Foundation
import Testing
import TensorAlgebra

/// IDX files as datasets read them (gzipped or plain, cut short, missing), and their shuffles.
@Suite struct IDXDatasetTests {
    @Test func gzippedRoundTripAndErrors() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("isometry-idx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let images = try IDXFile(shape: [3, 2, 2], bytes: Array(0 ..< 12))
        let url = folder.appendingPathComponent("images.gz")
        try images.writeGzipped(to: url)
        let back = try IDXFile(contentsOf: url)
        #expect(back.shape == [3, 2, 2] && back.bytes == Array(0 ..< 12))

        func problem(_ bytes: [UInt8]) -> String? {
            do { _ = try IDXFile(data: bytes, path: "f"); return nil } catch let error as IDXError { return error.problem } catch { return nil }
        }
        #expect(problem([0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3]) == nil)
        #expect(problem([1, 0, 8, 1])?.contains("bad magic") == true)
        #expect(problem([0, 0, 9, 1])?.contains("not unsigned byte") == true)
        #expect(problem([0, 0, 8, 1, 0, 0, 0, 5, 1, 2])?.contains("truncated") == true)
        #expect(problem([0, 0, 8, 1, 0, 0, 0, 1, 1, 2])?.contains("unexpected bytes") == true)
        #expect(problem([0, 0, 8, 2, 0, 0])?.contains("truncated") == true)

        // A gzip stream cut short is an error, not a silently short file.
        let gz = try Data(contentsOf: url)
        let cut = folder.appendingPathComponent("cut.gz")
        try gz.prefix(gz.count - 6).write(to: cut)
        #expect(throws: IDXError.self) { try IDXFile(contentsOf: cut) }
        #expect(throws: IDXError.self) { try IDXFile(contentsOf: folder.appendingPathComponent("missing.gz")) }
    }

    @Test func missingDatasetFolderNamesTheDebianPackage() {
        do {
            _ = try ImageDataset(folder: "/nonexistent/fashion")
            Issue.record("expected an error")
        } catch let error as IDXError {
            #expect(error.description.contains("/nonexistent/fashion") && error.description.contains("dataset-fashion-mnist"))
        } catch { Issue.record("\(error)") }
    }

    @Test func shufflingIsDeterministicAndAPermutation() {
        var a = SeededGenerator(seed: 4), b = SeededGenerator(seed: 4)
        let first = shuffledIndices(1000, using: &a)
        #expect(first == shuffledIndices(1000, using: &b))
        #expect(first.sorted() == Array(0 ..< 1000) && first != Array(0 ..< 1000))
    }
}
