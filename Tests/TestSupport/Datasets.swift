import Datasets
import TensorAlgebra

/// 4×4 images in 3 classes: class c lights row c, plus noise.
public func tinyData(train: Int = 240, test: Int = 90, seed: UInt64 = 1) -> ImageDataset {
    var generator = SeededGenerator(seed: seed)
    func split(_ count: Int) -> LabeledImages {
        var pixels: [UInt8] = [], labels: [Int] = []
        for _ in 0 ..< count {
            let label = Int(generator.next() % 3)
            labels.append(label)
            for j in 0 ..< 16 { pixels.append(UInt8(generator.nextUniform() * 60 + (j / 4 == label ? 150 : 0))) }
        }
        return LabeledImages(pixels: pixels, labels: labels, imageShape: [4, 4], classes: 3)
    }
    return ImageDataset(train: split(train), test: split(test))
}

/// Random labelled "images" with D features, C classes; the class shifts the mean of a few
/// features so a classifier can learn it.
public func syntheticImages(count: Int, features: Int, classes: Int, seed: UInt64) -> LabeledImages {
    var generator = SeededGenerator(seed: seed)
    var pixels: [UInt8] = []
    var labels: [Int] = []
    for _ in 0 ..< count {
        let label = Int(generator.next() % UInt64(classes))
        labels.append(label)
        for j in 0 ..< features {
            let base = generator.nextUniform() * 120
            pixels.append(UInt8(min(255, base + (j % classes == label ? 130 : 0))))
        }
    }
    return LabeledImages(pixels: pixels, labels: labels, imageShape: [features], classes: classes)
}
