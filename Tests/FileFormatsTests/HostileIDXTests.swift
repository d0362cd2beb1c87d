import CZlib
import Foundation
import Testing
import TensorAlgebra

#if canImport(Glibc)
import Glibc
import IsometrySupport
import FileFormats
#endif

/// A seed of the IDX fuzz target (Fuzz/make_corpus.py writes them).
func idxCorpus(_ name: String) -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Fuzz/idx/corpus/\(name)").standardizedFileURL
}

/// Writes `prefix` then `zeros` zero bytes gzipped (level 1), streaming.
func writeGzip(_ url: URL, prefix: [UInt8], zeros: Int) {
    let gz = gzopen(url.path, "wb1")!
    _ = prefix.withUnsafeBytes { gzwrite(gz, $0.baseAddress, UInt32($0.count)) }
    let block = [UInt8](repeating: 0, count: 1 << 20)
    var left = zeros
    while left > 0 {
        let n = min(left, block.count)
        _ = block.withUnsafeBytes { gzwrite(gz, $0.baseAddress, UInt32(n)) }
        left -= n
    }
    gzclose(gz)
}

func idxHeader(_ shape: [UInt32]) -> [UInt8] {
    [0, 0, 8, UInt8(shape.count)] + shape.flatMap { withUnsafeBytes(of: $0.bigEndian) { Array($0) } }
}

/// Hostile and degenerate IDX files (issue 12, items 3–6 and 12); the datasets built on them
/// are DatasetsTests' HostileDatasetTests.
@Suite(.serialized) struct HostileIDXTests {
    func error(_ url: URL, _ reason: IDXError.Reason) -> IDXError { IDXError(path: url.path, reason: reason) }

    @Test func zeroCountWithHugeImagesIsRefusedNotATrap() throws {
        // Item 3: 20 bytes, [0, 2³²−1, 2³²−1, 2³²−1]; the product is 0, the image size overflows.
        let url = idxCorpus("issue12-zero-count-huge-images.idx")
        let shape = [0, 4_294_967_295, 4_294_967_295, 4_294_967_295]
        #expect(throws: error(url, .dimensionsOverflow(shape))) { try IDXFile(contentsOf: url) }
        #expect(throws: IDXError(path: "m", reason: .dimensionsOverflow(shape))) {
            try IDXFile(data: Array(try Data(contentsOf: url)), path: "m")
        }
        #expect(error(url, .dimensionsOverflow(shape)).description == "\(url.path): dimensions \(shape) are too large to address")
    }

    @Test func headersAnnouncingMoreThanMemoryAreRefusedBeforeReading() {
        let url = idxCorpus("header-2p31-images.idx")
        let bytes = 2_147_483_648 * 28 * 28
        #expect(throws: error(url, .exceedsMemory(shape: [2_147_483_648, 28, 28], bytes: bytes, limit: MemoryBudget.defaultLimit))) {
            try IDXFile(contentsOf: url)
        }
        #expect(error(url, .exceedsMemory(shape: [2_147_483_648, 28, 28], bytes: bytes, limit: MemoryBudget.defaultLimit))
            .description.contains("needs 1.7 TB (1683627180032 bytes) of memory"))
        // Within the budget but short: what arrived is what was read.
        let valid = idxCorpus("valid-images.idx.gz")
        #expect(throws: error(valid, .exceedsMemory(shape: [3, 4, 4], bytes: 48, limit: 47))) { try IDXFile(contentsOf: valid, memoryLimit: 47) }
    }

    @Test func aSmallGzAnnouncingLargeImagesCostsOnlyWhatItHolds() {
        // Item 4: 1 kB of gzip announcing two 3000 × 3000 images (18 MB), holding 1 MB of them.
        let url = idxCorpus("issue12-3000x3000-truncated.idx.gz")
        let before = peakResidentBytes(reset: true)
        #expect(throws: error(url, .truncatedData(shape: [2, 3000, 3000], expectedBytes: 18_000_000, foundBytes: (1 << 20) - 16))) {
            try IDXFile(contentsOf: url)
        }
        #expect(peakResidentBytes() - before < 12_000_000)
    }

    @Test func aGzipBombCostsNoMoreThanItsHeaderAnnounces() throws {
        // Item 6: a header announcing 4 bytes, then 256 MB of zeros (a quarter MB of gzip). The old
        // reader decompressed 2 GB before refusing; this one stops one 4 kB block past the data.
        let folder = try temporaryFolder("idx-bomb")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("bomb-images-idx3-ubyte.gz")
        writeGzip(url, prefix: idxHeader([1, 2, 2]) + [1, 2, 3, 4], zeros: 1 << 28)
        let before = peakResidentBytes(reset: true)
        let start = Date()
        #expect(throws: error(url, .trailingBytes(shape: [1, 2, 2], expectedBytes: 4, extraBytes: 4096, atLeast: true))) {
            try IDXFile(contentsOf: url)
        }
        #expect(peakResidentBytes() - before < 16_000_000)
        #expect(Date().timeIntervalSince(start) < 2)
        // The committed small bomb says the same.
        let small = idxCorpus("issue12-bomb-small.idx.gz")
        #expect(throws: error(small, .trailingBytes(shape: [1, 2, 2], expectedBytes: 4, extraBytes: 4096, atLeast: true))) {
            try IDXFile(contentsOf: small)
        }
    }

    @Test func onlyRegularFilesAreOpened() throws {
        let folder = try temporaryFolder("idx-kinds")
        defer { try? FileManager.default.removeItem(at: folder) }
        // Item 12: a directory was "NSCocoaErrorDomain error 256".
        #expect(throws: error(folder, .notRegularFile(.directory))) { try IDXFile(contentsOf: folder) }
        #expect(error(folder, .notRegularFile(.directory)).description == "\(folder.path): is a directory, not a regular file")
        // Item 5: a FIFO hung in gzopen; item 12: as root it said "You don't have permission".
        let fifo = folder.appendingPathComponent("train-images-idx3-ubyte.gz")
        #expect(mkfifo(fifo.path, 0o600) == 0)
        let start = Date()
        #expect(throws: error(fifo, .notRegularFile(.fifo))) { try IDXFile(contentsOf: fifo) }
        #expect(Date().timeIntervalSince(start) < 5)
        let device = URL(fileURLWithPath: "/dev/zero")
        #expect(throws: error(device, .notRegularFile(.characterDevice))) { try IDXFile(contentsOf: device) }
        let missing = folder.appendingPathComponent("missing.gz")
        #expect(throws: error(missing, .notFound)) { try IDXFile(contentsOf: missing) }
    }

    @Test func malformedFilesGiveTypedReasons() {
        func check(_ name: String, _ reason: IDXError.Reason, sourceLocation: SourceLocation = #_sourceLocation) {
            let url = idxCorpus(name)
            #expect(throws: error(url, reason), sourceLocation: sourceLocation) { try IDXFile(contentsOf: url) }
        }
        check("bad-magic.idx", .badMagic([1, 0, 8, 1]))
        check("int32-element.idx", .unsupportedElementType(0x0C))
        check("rank-0.idx", .noDimensions)
        check("truncated-header.idx", .truncatedHeader(foundBytes: 6, neededBytes: 16))
        check("trailing.idx", .trailingBytes(shape: [2], expectedBytes: 2, extraBytes: 1, atLeast: false))
        let corrupt = idxCorpus("corrupt.idx.gz")
        do {
            _ = try IDXFile(contentsOf: corrupt)
            Issue.record("expected an error")
        } catch let error as IDXError {
            guard case .corruptGzip = error.reason else { Issue.record("\(error)"); return }
        } catch { Issue.record("\(error)") }
        #expect(IDXError(path: "f", reason: .badMagic([1, 0, 8, 1])).description == "f: bad magic number 0x01000801 (expected 0x000008nn)")
    }
}
