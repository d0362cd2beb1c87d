import Foundation
import Testing
import TensorAlgebra
import FileFormats

@Suite struct NumpyFileTests {
    func temporaryURL(_ name: String) -> URL {
        FileManager.default.temporaryDirectory
            .appendingPathComponent("isometry-tests-\(UUID().uuidString)-\(name)")
    }

    @Test func roundTripsThroughDiskInBothPrecisions() throws {
        func check<S: BLASScalar>(_: S.Type) throws {
            var generator = SeededGenerator(seed: 9)
            for shape in [[3, 4], [5], [2, 3, 4], [0, 7], []] {
                let t = Tensor<S>.randomNormal(shape, using: &generator)
                let url = temporaryURL("round-trip.npy")
                defer { try? FileManager.default.removeItem(at: url) }
                try t.writeNumpyFile(to: url)
                let back = try Tensor<S>(contentsOfNumpyFile: url)
                #expect(back == t)
                #expect(try NumpyArray(contentsOf: url).dtype == (S.self == Float.self ? .float32 : .float64))
            }
        }
        try check(Float.self)
        try check(Double.self)
    }

    @Test func readsEveryDTypeNumpyWrote() throws {
        let f4 = try NumpyArray(contentsOf: fixtureURL("dtype_f4"))
        #expect(f4.dtype == .float32 && f4.shape == [2, 3])
        #expect(Tensor<Float>(f4) == Tensor([[0, 0.25, 0.5], [0.75, 1, 1.25]]))
        let u1 = try NumpyArray(contentsOf: fixtureURL("dtype_u1"))
        #expect(u1.dtype == .uint8 && u1.integers() == [0, 1, 255, 7, 8, 9])
        #expect(Tensor<Double>(u1) == Tensor([[0, 1, 255], [7, 8, 9]]))
        let i8 = try NumpyArray(contentsOf: fixtureURL("dtype_i8"))
        #expect(i8.dtype == .int64 && i8.integers() == [-3, 0, 1 << 40])
        let scalar = try Tensor<Double>(contentsOfNumpyFile: fixtureURL("dtype_scalar"))
        #expect(scalar.shape == [] && scalar.scalar == 2.5)
    }

    @Test func integerArraysRoundTrip() throws {
        let labels = NumpyArray(uint8: [3, 1, 4, 1, 5, 9], shape: [2, 3])
        #expect(try NumpyArray(data: labels.encoded()) == labels)
        let indices = NumpyArray(int64: [-1, 0, 1 << 50], shape: [3])
        #expect(try NumpyArray(data: indices.encoded()).integers() == [-1, 0, 1 << 50])
        // The header is padded so the data starts on a 64-byte boundary.
        #expect((try labels.encoded().count - 6) % 64 == 0)
    }

    func header(_ dict: String, version: UInt8 = 1) -> [UInt8] {
        let text = Array(dict.utf8)
        return [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, version, 0, UInt8(text.count & 0xFF), UInt8(text.count >> 8)] + text
    }

    func problem(_ bytes: [UInt8]) -> NumpyFileError.Problem? {
        do {
            _ = try NumpyArray(data: bytes, source: "test.npy")
            return nil
        } catch let error as NumpyFileError {
            #expect(error.description.hasPrefix("test.npy: "))
            return error.problem
        } catch {
            return nil
        }
    }

    @Test func malformedFilesAreRefusedWithTheReason() {
        let good = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }"
        #expect(problem(Array("hello world".utf8)) == .notNumpy)
        #expect(problem([]) == .notNumpy)
        #expect(problem(header(good, version: 9)) == .unsupportedVersion(major: 9, minor: 0))
        #expect(problem(header(good) + [UInt8](repeating: 0, count: 15))
            == .truncated(expectedBytes: 16, foundBytes: 15))
        #expect(problem(header(good) + [UInt8](repeating: 0, count: 17)) == .trailingBytes(1))
        #expect(problem(header("{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }") + [UInt8](repeating: 0, count: 16))
            == .unsupportedDType(">f8"))
        #expect(problem(header("{'descr': '<f8', 'fortran_order': True, 'shape': (2,), }") + [UInt8](repeating: 0, count: 16))
            == .fortranOrder)
        if case .malformedHeader(let detail) = problem(header("{'descr': '<f8', 'shape': (2,), }")) {
            #expect(detail.contains("fortran_order"))
        } else { Issue.record("missing key not reported") }
        if case .malformedHeader(let detail) = problem(header("{'descr': '<f8', 'fortran_order': False, 'shape': (2, x), }")) {
            #expect(detail.contains("character"))
        } else { Issue.record("bad dimension not reported") }
        if case .malformedHeader = problem(header("{'descr': '<f8") ) {} else { Issue.record("unterminated string") }
        // A header length that runs past the end of the file.
        var runaway = header(good)
        runaway[8] = 0xFF
        runaway[9] = 0xFF
        if case .malformedHeader(let detail) = problem(runaway) {
            #expect(detail.contains("runs past the end"))
        } else { Issue.record("runaway header length not reported") }
        // A hostile shape whose byte count overflows is refused before any allocation.
        #expect(problem(header("{'descr': '<f8', 'fortran_order': False, 'shape': (999999999999999999, 999999999999999999), }"))
            == .tooLarge(shape: [999_999_999_999_999_999, 999_999_999_999_999_999]))
    }

    @Test func everyTruncationOfAValidFileThrows() throws {
        let bytes = try Tensor<Float>([[1, 2, 3], [4, 5, 6]]).numpyArray.encoded()
        for length in 0 ..< bytes.count {
            #expect(throws: NumpyFileError.self) { try NumpyArray(data: Array(bytes[..<length])) }
        }
        #expect(try NumpyArray(data: bytes).shape == [2, 3])
    }

    @Test func missingFileNamesThePath() {
        let url = URL(fileURLWithPath: "/nonexistent/weights.npy")
        do {
            _ = try NumpyArray(contentsOf: url)
            Issue.record("expected an error")
        } catch let error as NumpyFileError {
            #expect(error.description.hasPrefix("/nonexistent/weights.npy: cannot read"))
        } catch { Issue.record("unexpected \(error)") }
    }
}
