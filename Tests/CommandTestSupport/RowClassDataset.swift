import Datasets
import Foundation
import TensorAlgebra
import FileFormats

/// A small MNIST-format folder in a fresh temporary directory: `train` and `test` 4×4 images in
/// 3 classes, pixel = noise·U(0, 1) plus `signal` on row c for class c, as gzipped IDX files.
public func writeRowClassDataset(prefix: String, train: Int, test: Int, noise: Double, signal: Double,
                                 using generator: inout SeededGenerator) throws -> URL {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    for (name, count) in [("train", train), ("t10k", test)] {
        var pixels: [UInt8] = [], labels: [UInt8] = []
        for _ in 0 ..< count {
            let label = Int(generator.next() % 3)
            labels.append(UInt8(label))
            for j in 0 ..< 16 { pixels.append(UInt8(generator.nextUniform() * noise + (j / 4 == label ? signal : 0))) }
        }
        try IDXFile(shape: [count, 4, 4], bytes: pixels).writeGzipped(to: folder.appendingPathComponent("\(name)-images-idx3-ubyte.gz"))
        try IDXFile(shape: [count], bytes: labels).writeGzipped(to: folder.appendingPathComponent("\(name)-labels-idx1-ubyte.gz"))
    }
    return folder
}
