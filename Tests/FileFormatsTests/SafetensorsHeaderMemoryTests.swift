import Foundation
import Testing
import TensorAlgebra
import FileFormats

/// A header within the format's 100 MB is read in a few times its size: a tree of its values
/// cost about 15 times (66–99 MB headers took 1.0–1.4 GB).
///
/// Peak RSS is the process's, so Scripts/test.sh runs this suite alone, after the others (beside
/// them, in the same process, the attribution and Lanczos suites added hundreds of MB); the
/// headers are large enough (24–30 MB) that the bounds — a third of the old reader's cost — stay
/// far above the remaining noise and far below what a tree of values costs.
@Suite(.serialized) struct SafetensorsHeaderMemoryTests {
    /// A file with `header` (padded with spaces to 8 bytes) and `data`.
    func file(_ header: [UInt8], data: [UInt8] = []) -> [UInt8] {
        var text = header
        while text.count % 8 != 0 { text.append(0x20) }
        return withUnsafeBytes(of: UInt64(text.count).littleEndian) { Array($0) } + text + data
    }

    /// `count` copies of `item`, comma-separated.
    func repeated(_ item: String, _ count: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count * (item.utf8.count + 1))
        for index in 0 ..< count {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out += Array(item.utf8)
        }
        return out
    }

    /// The peak resident memory reading `bytes` adds, and whether it read.
    func peakOfReading(_ bytes: [UInt8]) -> (bytes: Int, read: Bool) {
        let before = peakResidentBytes(reset: true)
        let read = (try? SafetensorsFile(data: bytes)) != nil
        return (peakResidentBytes() - before, read)
    }

    @Test func tinyValuesInAnIgnoredFieldCostNothing() {
        // 30 MB of [1] in a field the reader ignores: valid, and not made into 7.5 M nodes.
        let header = Array(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":["#.utf8)
            + repeated("[1]", 7_500_000) + Array("]}}".utf8)
        let bytes = file(header, data: [0, 0, 128, 63])
        let (peak, read) = peakOfReading(bytes)
        #expect(read)
        // Measured 0.55 MB for a 6 MB header alone (the tree took about 15 times the header).
        #expect(peak < 5 * header.count, "peak \(peak) for a \(header.count)-byte header")
    }

    @Test func aShapeOfManyOnesCostsItsIntegers() {
        // 15 MB: a shape of 7.5 M ones is 60 MB of Int, what the file asks to keep; nothing more.
        let header = Array(#"{"a":{"dtype":"F32","data_offsets":[0,4],"shape":["#.utf8) + repeated("1", 7_500_000) + Array("]}}".utf8)
        let (peak, read) = peakOfReading(file(header, data: [0, 0, 128, 63]))
        #expect(read)
        // Measured 12.0 MB for a 3 MB header alone: the Ints (4 × the header), reserved once.
        #expect(peak < 8 * header.count, "peak \(peak) for a \(header.count)-byte header")
    }

    @Test func manyEmptyObjectsInTheMetadataAreRefusedCheaply() {
        // 30 MB of {} as a metadata value: refused (not a string), after one pass over it.
        let header = Array(#"{"__metadata__":{"k":"#.utf8) + Array("[".utf8) + repeated("{}", 10_000_000) + Array("]}}".utf8)
        let (peak, read) = peakOfReading(file(header))
        #expect(!read)
        #expect(peak < 5 * header.count, "peak \(peak) for a \(header.count)-byte header")
    }

    @Test func errorsStillNameWhatIsWrong() {
        let header = Array(#"{"a":{"dtype":"F32","shape":[1,[2]],"data_offsets":[0,4]}}"#.utf8)
        #expect(throws: SafetensorsError(source: "data", reason: .notAnInteger(tensor: "a", field: "shape", value: "an array"))) {
            try SafetensorsFile(data: file(header, data: [0, 0, 0, 0]))
        }
        let string = Array(#"{"a":{"dtype":"F32","shape":"\u0061bc","data_offsets":[0,4]}}"#.utf8)
        #expect(throws: SafetensorsError(source: "data", reason: .invalidTensorInfo(tensor: "a", detail: "shape must be a JSON array, found \"abc\""))) {
            try SafetensorsFile(data: file(string, data: [0, 0, 0, 0]))
        }
    }
}
