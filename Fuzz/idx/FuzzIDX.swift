// libFuzzer target for the IDX reader and the dataset loader; built and run by Scripts/fuzz.sh.
// Each input is read three ways: from memory (IDXFile(data:)), from a plain file and from the
// same bytes gzipped (IDXFile(contentsOf:), the streaming reader); the three must agree. What
// reads is then paired with labels (or images) and checked by LabeledImages, and a batch is
// gathered. Nothing may crash, hang or allocate beyond the memory limit given.
import CZlib
import Datasets
import Foundation
import TensorAlgebra
import FileFormats

let limit = 64 << 20
let folder = FileManager.default.temporaryDirectory.appendingPathComponent("isometry-fuzz-idx-\(getpid())")
let plainURL = folder.appendingPathComponent("input")
let gzipURL = folder.appendingPathComponent("input.gz")

func same(_ a: IDXFile?, _ b: IDXFile?) -> Bool {
    a?.shape == b?.shape && a?.bytes == b?.bytes
}

func read(_ attempt: () throws -> IDXFile) -> IDXFile? {
    do { return try attempt() } catch let error as IDXError {
        _ = error.description
        return nil
    } catch {
        fatalError("unexpected error type: \(error)")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIDX(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if !FileManager.default.fileExists(atPath: folder.path) {
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }
    let inMemory = read { try IDXFile(data: bytes, path: "fuzz", memoryLimit: limit) }

    let fd = open(plainURL.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    precondition(fd >= 0, "cannot write \(plainURL.path)")
    if !bytes.isEmpty { precondition(bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == bytes.count) }
    close(fd)
    let plain = read { try IDXFile(contentsOf: plainURL, memoryLimit: limit) }
    let isGzip = bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B
    if !isGzip {
        precondition((inMemory == nil) == (plain == nil), "memory and file readers disagree")
        precondition(same(inMemory, plain), "memory and file readers read different arrays")
        // The same bytes gzipped read the same.
        guard let gz = gzopen(gzipURL.path, "wb1") else { fatalError("cannot write \(gzipURL.path)") }
        if !bytes.isEmpty { _ = bytes.withUnsafeBytes { gzwrite(gz, $0.baseAddress, UInt32($0.count)) } }
        gzclose(gz)
        let gzipped = read { try IDXFile(contentsOf: gzipURL, memoryLimit: limit) }
        precondition((gzipped == nil) == (plain == nil), "plain and gzipped readers disagree")
        precondition(same(gzipped, plain), "plain and gzipped readers read different arrays")
    }
    // Made-up partners stay small: the point is what LabeledImages checks, not allocation.
    guard let file = plain ?? inMemory, file.shape[0] <= 1 << 16 else { return 0 }

    // Images with labels made from their own bytes, or labels with images made up for them.
    let images: IDXFile
    let labels: IDXFile
    if file.shape.count >= 2 {
        images = file
        let count = file.shape[0] + (file.bytes.first.map { $0 == 7 ? 1 : 0 } ?? 0)
        labels = try! IDXFile(shape: [count], bytes: (0 ..< count).map { UInt8(truncatingIfNeeded: $0 * 7 + file.bytes.count) % 11 })
    } else {
        labels = file
        images = try! IDXFile(shape: [file.shape[0], 2, 2], bytes: [UInt8](repeating: 9, count: file.shape[0] * 4))
    }
    let dataset: LabeledImages
    do {
        dataset = try LabeledImages(imageFile: images, labelFile: labels, imagesPath: "images", labelsPath: "labels", classes: 10)
    } catch let error as IDXError {
        _ = error.description
        return 0
    } catch {
        fatalError("unexpected error type: \(error)")
    }
    precondition(dataset.features > 0 && dataset.pixels.count == dataset.count * dataset.features)
    if dataset.count > 0 {
        let rows = min(dataset.count, 2)
        var batch = Tensor<Float>.zeros([rows, dataset.features + 1])
        dataset.gather(Array(0 ..< rows)[...], into: &batch)
        _ = dataset.prefix(1)
    }
    return 0
}
