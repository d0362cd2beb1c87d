import Datasets
import Foundation
import Networks
import Testing
import TensorAlgebra
import TestSupport
import Interpretation

/// A mask drawn as text: one string per row, "#" set, anything else not.
func drawnMask(_ rows: [String]) -> PixelMask {
    PixelMask(height: rows.count, width: rows[0].count, isSet: rows.flatMap { $0.map { $0 == "#" } })
}

/// An image drawn as text: "#" is 1, "+" is 0.5, anything else 0.
func drawnImage(_ rows: [String]) -> Tensor<Double> {
    Tensor(shape: [rows.count, rows[0].count], scalars: rows.flatMap { $0.map { $0 == "#" ? 1 : $0 == "+" ? 0.5 : 0 } })
}

@Suite struct NoisyBackgroundMaskTests {
    /// The object is every pixel above the threshold; with several channels, above it in any channel.
    @Test func objectIsThePixelsAboveTheThreshold() {
        let image = drawnImage([
            "......",
            ".#+...",
            "..#...",
            "......",
        ])
        #expect(NoisyBackground.objectMask(image, threshold: 0) == drawnMask([
            "......",
            ".##...",
            "..#...",
            "......",
        ]))
        #expect(NoisyBackground.objectMask(image, threshold: 0.5) == drawnMask([
            "......",
            ".#....",
            "..#...",
            "......",
        ]))
        let channels = Tensor<Double>(shape: [2, 4, 6], scalars: drawnImage(["#.....", "......", "......", "......"]).scalars
                                                                  + drawnImage(["......", "......", "......", ".....#"]).scalars)
        #expect(NoisyBackground.objectMask(channels, threshold: 0) == drawnMask(["#.....", "......", "......", ".....#"]))
    }

    /// Chebyshev distance: the outline of width 1 is the 8-neighbourhood ring, corners included;
    /// width 2 reaches two pixels out, cut at the border.
    @Test func outlineIsTheChebyshevRingOutsideTheObject() {
        let object = drawnMask([
            ".......",
            ".......",
            "...#...",
            "...##..",
            ".......",
            ".......",
        ])
        #expect(NoisyBackground.outlineMask(object: object, width: 1) == drawnMask([
            ".......",
            "..###..",
            "..#.##.",
            "..#..#.",
            "..####.",
            ".......",
        ]))
        #expect(NoisyBackground.outlineMask(object: object, width: 2) == drawnMask([
            ".#####.",
            ".######",
            ".##.###",
            ".##..##",
            ".######",
            ".######",
        ]))
        #expect(NoisyBackground.outlineMask(object: object, width: 0) == PixelMask(height: 6, width: 7))
        #expect(NoisyBackground.outlineMask(object: PixelMask(height: 3, width: 3), width: 3).count == 0)
    }

    /// The frame fills ring by ring from the border, row-major within a ring, skipping the object.
    @Test func frameFillsRingsFromTheBorderSkippingTheObject() {
        let object = drawnMask([
            "#....",
            ".....",
            "..#..",
            ".....",
            ".....",
        ])
        #expect(NoisyBackground.frameMask(object: object, count: 6) == drawnMask([
            ".####",
            "#...#",
            ".....",
            ".....",
            ".....",
        ]))
        // 15 of ring 0 (16 minus the object's corner), then ring 1 row-major: (1,1), (1,2).
        #expect(NoisyBackground.frameMask(object: object, count: 17) == drawnMask([
            ".####",
            "###.#",
            "#...#",
            "#...#",
            "#####",
        ]))
        #expect(NoisyBackground.frameMask(object: object, count: 23).count == 23)
    }

    /// (a) keeps object and outline, (b) the object, (c) the object and as many frame pixels as
    /// the outline: (a) and (c) keep the same number of pixels, on every image of a dataset.
    @Test func protocolsKeepTheirMasksAndFrameMatchesOutlineCount() {
        let object = drawnMask([
            "........",
            "........",
            "........",
            "...##...",
            "...##...",
            "........",
            "........",
            "........",
        ])
        #expect(NoisyBackground.keptMask(.objectOnly, object: object, outlineWidth: 1) == object)
        #expect(NoisyBackground.keptMask(.objectAndOutline, object: object, outlineWidth: 1) == drawnMask([
            "........",
            "........",
            "..####..",
            "..####..",
            "..####..",
            "..####..",
            "........",
            "........",
        ]))
        #expect(NoisyBackground.keptMask(.objectAndFrame, object: object, outlineWidth: 1) == drawnMask([
            "########",
            "#......#",
            "#......#",
            "...##...",
            "...##...",
            "........",
            "........",
            "........",
        ]))
        let data = syntheticSparseImages(count: 40, side: 12, seed: 4)
        for n in 0 ..< data.count {
            let image = Tensor<Double>(shape: [12, 12], scalars: data.pixels[n * 144 ..< (n + 1) * 144].map { Double($0) / 255 })
            let object = NoisyBackground.objectMask(image, threshold: 0)
            for width in [1, 3] {
                let a = NoisyBackground.keptMask(.objectAndOutline, object: object, outlineWidth: width)
                let c = NoisyBackground.keptMask(.objectAndFrame, object: object, outlineWidth: width)
                #expect(a.count == c.count, "image \(n), width \(width)")
                #expect(zip(object.isSet, c.isSet).allSatisfy { !$0 || $1 })
            }
        }
    }

    /// Kept pixels stay bit for bit; the others become the noise, clipped to [0, 1] when asked.
    @Test func replacingKeepsMaskedPixelsAndClips() {
        let image = drawnImage(["#+", ".#"])
        let noise = Tensor<Double>(shape: [2, 2], scalars: [0.3, -0.4, 1.7, 0.2])
        let kept = drawnMask(["#.", ".."])
        #expect(NoisyBackground.replacingBackground(image, kept: kept, noise: noise, clip: true).scalars == [1, 0, 1, 0.2])
        #expect(NoisyBackground.replacingBackground(image, kept: kept, noise: noise, clip: false).scalars == [1, -0.4, 1.7, 0.2])
    }
}

/// Images `side × side` with a random blob (a few random pixels 1…255 around a random centre)
/// on a zero background, labels 0…2.
func syntheticSparseImages(count: Int, side: Int, seed: UInt64) -> LabeledImages {
    var generator = SeededGenerator(seed: seed)
    var pixels = [UInt8](repeating: 0, count: count * side * side)
    var labels: [Int] = []
    for n in 0 ..< count {
        let (r, c) = (Int.random(in: 2 ..< side - 2, using: &generator), Int.random(in: 2 ..< side - 2, using: &generator))
        for _ in 0 ..< 6 {
            let (rr, cc) = (r + Int.random(in: -2 ... 2, using: &generator), c + Int.random(in: -2 ... 2, using: &generator))
            pixels[n * side * side + rr * side + cc] = UInt8.random(in: 1 ... 255, using: &generator)
        }
        labels.append(Int.random(in: 0 ..< 3, using: &generator))
    }
    return LabeledImages(pixels: pixels, labels: labels, imageShape: [side, side], classes: 3)
}

@Suite struct NoisyBackgroundTableTests {
    /// A stack that reads only pixels 5 and 10 of 4 × 4 images whose object is exactly those
    /// two pixels: every protocol keeps the object, so every accuracy is the clean one, exactly.
    @Test func aStackBlindToTheBackgroundKeepsItsCleanAccuracy() throws {
        var generator = SeededGenerator(seed: 7)
        var pixels = [UInt8](repeating: 0, count: 60 * 16)
        for n in 0 ..< 60 {
            pixels[n * 16 + 5] = UInt8.random(in: 1 ... 255, using: &generator)
            pixels[n * 16 + 10] = UInt8.random(in: 1 ... 255, using: &generator)
        }
        let labels = (0 ..< 60).map { n in pixels[n * 16 + 5] > pixels[n * 16 + 10] ? 1 : (n % 3 == 0 ? 2 : 0) }
        let data = LabeledImages(pixels: pixels, labels: labels, imageShape: [4, 4], classes: 3)
        var weight = Tensor<Double>.zeros([3, 16])
        weight[1, 5] = 1; weight[1, 10] = -1; weight[0, 10] = 1; weight[0, 5] = -1
        let stack = LayerStack<Double>(inputShape: [1, 4, 4]) {
            Flatten()
            Dense(weight: weight, bias: Tensor([0, 0, -1]))
            ActivationLayer(.relu)
        }
        let table = try NoisyBackgroundTable(stack, data: data, settings: .init(sigma: 1, outlineWidth: 1, clip: false), batchSize: 7)
        let clean = try StackEvaluation(stack, data: data)
        #expect(table.clean.correct == clean.correct)
        for row in table.rows {
            #expect(row.correct == clean.correct, "\(row.name)")
            // The stack's weights lie on the object only: the whole contribution is the object's.
            #expect(row.objectShareOfWeight.map { $0 == 1 } ?? true, "\(row.name)")
            #expect(row.objectShareOfContribution.map { $0 == 1 } ?? true, "\(row.name)")
        }
        #expect(table.clean.meanCleanPixels == 16 && table.row(.objectOnly).meanCleanPixels == 2)
        #expect(table.row(.objectAndOutline).meanCleanPixels == table.row(.objectAndFrame).meanCleanPixels)
        // The same stack reading the background too is moved by the noise: the noise is there.
        var seeing = weight
        for j in [0, 3, 12, 15] { seeing[2, j] = 3 }
        let blind = try NoisyBackgroundTable(LayerStack<Double>(inputShape: [1, 4, 4]) { Flatten(); Dense(weight: seeing) }, data: data,
                                             settings: .init(sigma: 1, outlineWidth: 1, clip: false))
        #expect(blind.row(.objectOnly).correct != blind.clean.correct)
    }

    /// One seed gives the same table whatever the batch size; another seed other noise.
    @Test func seedsReproduceIndependentlyOfBatches() throws {
        let data = syntheticSparseImages(count: 50, side: 10, seed: 2)
        var generator = SeededGenerator(seed: 5)
        let stack = LayerStack<Double>(inputShape: [1, 10, 10]) {
            Flatten()
            Dense(inputs: 100, outputs: 3, using: &generator)
        }
        let settings = NoisyBackgroundSettings(sigma: 0.4, outlineWidth: 2, seed: 11)
        let one = try NoisyBackgroundTable(stack, data: data, settings: settings, batchSize: 50)
        let other = try NoisyBackgroundTable(stack, data: data, settings: settings, batchSize: 3)
        #expect(one == other)
        var reseeded = settings
        reseeded.seed = 12
        let third = try NoisyBackgroundTable(stack, data: data, settings: reseeded, batchSize: 50)
        #expect(third.examples[0].images[1] != one.examples[0].images[1])
        #expect(third.examples[0].images[0] == one.examples[0].images[0])
        // The examples' predictions are the stack's on the same images.
        for example in one.examples {
            for (image, prediction) in zip(example.images, example.predictions) {
                let scores = stack(Tensor(shape: [1, 10, 10], scalars: image)).scalars
                #expect(scores.firstIndex(of: scores.max()!) == prediction)
            }
        }
        // The standard error is the binomial one.
        for row in one.rows {
            #expect(abs(row.standardError - (row.accuracy * (1 - row.accuracy) / 50).squareRoot()) <= 1e-15)
        }
    }
}

@Suite struct NoisyBackgroundContributionTests {
    /// The object shares of |W_ŷ(x) ⊙ x| and |W_ŷ(x)| against an image-by-image reference: each
    /// protocol's image rebuilt from the masks and the seeded noise, W_ŷ(x) the predicted row of
    /// the forward-mode Jacobian (`jacobian(at:)`, J·eᵢ per pixel, not the batched Jᵀ·e_ŷ the
    /// table uses). Tolerance 1e-12: float64 sums of 100 terms in another order.
    @Test func objectSharesMatchAnImageByImageJacobian() throws {
        let data = syntheticSparseImages(count: 12, side: 10, seed: 6)
        var generator = SeededGenerator(seed: 8)
        let stack = LayerStack<Double>(inputShape: [1, 10, 10]) {
            Conv2d(weight: Tensor<Double>.randomNormal([2, 1, 3, 3], standardDeviation: 0.6, using: &generator),
                   bias: Tensor<Double>.randomNormal([2], standardDeviation: 0.1, using: &generator), padding: [1, 1])
            ActivationLayer(.relu)
            Flatten()
            Dense(weight: Tensor<Double>.randomNormal([3, 200], standardDeviation: 0.3, using: &generator), bias: Tensor<Double>.zeros([3]))
        }
        let settings = NoisyBackgroundSettings(sigma: 0.6, outlineWidth: 2, seed: 3)
        let table = try NoisyBackgroundTable(stack, data: data, settings: settings, batchSize: 5)
        var contribution = [Double](repeating: 0, count: 4), weight = [Double](repeating: 0, count: 4)
        var counted = [Int](repeating: 0, count: 4)
        for n in 0 ..< data.count {
            let clean = Tensor<Double>(shape: [10, 10], scalars: data.pixels[n * 100 ..< (n + 1) * 100].map { Double($0) / 255 })
            let object = NoisyBackground.objectMask(clean, threshold: 0)
            let noise = Tensor<Double>(shape: [10, 10], scalars: NoisyBackground.noise(seed: 3, index: n, count: 100, sigma: 0.6))
            let images = [clean] + NoisyBackgroundProtocol.allCases.map {
                NoisyBackground.replacingBackground(clean, kept: NoisyBackground.keptMask($0, object: object, outlineWidth: 2), noise: noise, clip: true)
            }
            for (p, image) in images.enumerated() {
                let x = image.reshaped([1, 10, 10])
                let scores = stack(x).scalars
                let predicted = scores.firstIndex(of: scores.max()!)!
                let jacobian = stack.jacobian(at: x)
                let row = (0 ..< 100).map { jacobian[predicted, $0] }
                let c = zip(row, image.scalars).map { abs($0 * $1) }
                let total = c.reduce(0, +), totalWeight = row.map(abs).reduce(0, +)
                guard total > 0 else { continue }
                contribution[p] += (0 ..< 100).filter { object.isSet[$0] }.map { c[$0] }.reduce(0, +) / total
                weight[p] += (0 ..< 100).filter { object.isSet[$0] }.map { abs(row[$0]) }.reduce(0, +) / totalWeight
                counted[p] += 1
            }
        }
        for (p, row) in table.rows.enumerated() {
            let share = try #require(row.objectShareOfContribution), weightShare = try #require(row.objectShareOfWeight)
            #expect(abs(share - contribution[p] / Double(counted[p])) <= 1e-12, "\(row.name)")
            #expect(abs(weightShare - weight[p] / Double(counted[p])) <= 1e-12, "\(row.name)")
        }
        #expect(try NoisyBackgroundTable(stack, data: data, settings: settings, contributions: false).rows.allSatisfy { $0.objectShareOfContribution == nil })
 
    }

    /// The object's share of |Ω(x)| under each protocol over the first 7 of the 12 images, against
    /// the same images rebuilt one by one and their Insens map (SwitchedLinearProjections, itself
    /// checked against its unit-by-unit definition in ConvolutionalInterpretationTests); 1e-12 as
    /// above. Not asked, not computed; a smooth stack has none.
    @Test func insensSharesMatchAnImageByImageInsens() throws {
        let data = syntheticSparseImages(count: 12, side: 10, seed: 6)
        var generator = SeededGenerator(seed: 8)
        let stack = LayerStack<Double>(inputShape: [1, 10, 10]) {
            Conv2d(weight: Tensor<Double>.randomNormal([2, 1, 3, 3], standardDeviation: 0.6, using: &generator),
                   bias: Tensor<Double>.randomNormal([2], standardDeviation: 0.1, using: &generator), padding: [1, 1])
            ActivationLayer(.relu)
            Flatten()
            Dense(weight: Tensor<Double>.randomNormal([3, 200], standardDeviation: 0.3, using: &generator), bias: Tensor<Double>.zeros([3]))
        }
        let settings = NoisyBackgroundSettings(sigma: 0.6, outlineWidth: 2, seed: 3)
        let table = try NoisyBackgroundTable(stack, data: data, settings: settings, batchSize: 5, insensImages: 7)
        var share = [Double](repeating: 0, count: 4), counted = [Int](repeating: 0, count: 4)
        for n in 0 ..< 7 {
            let clean = Tensor<Double>(shape: [10, 10], scalars: data.pixels[n * 100 ..< (n + 1) * 100].map { Double($0) / 255 })
            let object = NoisyBackground.objectMask(clean, threshold: 0)
            let noise = Tensor<Double>(shape: [10, 10], scalars: NoisyBackground.noise(seed: 3, index: n, count: 100, sigma: 0.6))
            let images = [clean] + NoisyBackgroundProtocol.allCases.map {
                NoisyBackground.replacingBackground(clean, kept: NoisyBackground.keptMask($0, object: object, outlineWidth: 2), noise: noise, clip: true)
            }
            for (p, image) in images.enumerated() {
                let omega = try SwitchedLinearProjections(stack, at: image.reshaped([1, 10, 10])).insens().map
                let total = omega.map(abs).reduce(0, +)
                guard total > 0 else { continue }
                share[p] += (0 ..< 100).filter { object.isSet[$0] }.map { abs(omega[$0]) }.reduce(0, +) / total
                counted[p] += 1
            }
        }
        #expect(counted.allSatisfy { $0 > 0 })
        for (p, row) in table.rows.enumerated() {
            let insens = try #require(row.objectShareOfInsens, "\(row.name)")
            #expect(abs(insens - share[p] / Double(counted[p])) <= 1e-12, "\(row.name): \(insens)")
            #expect(row.insensImages == 7)
        }
        #expect(try NoisyBackgroundTable(stack, data: data, settings: settings).rows.allSatisfy { $0.objectShareOfInsens == nil && $0.insensImages == nil })
        let smooth = LayerStack<Double>(inputShape: [1, 10, 10]) { Flatten(); Dense(inputs: 100, outputs: 3, using: &generator); ActivationLayer(.tanh) }
        #expect(try NoisyBackgroundTable(smooth, data: data, settings: settings, insensImages: 5).rows.allSatisfy { $0.objectShareOfInsens == nil })
    }
}

@Suite struct NoisyBackgroundDocumentationTests {
    /// The example of docs/interpretation.md, "Noisy background", as written there (kept in
    /// step by hand; Scripts/check-examples.sh runs the page's copy).
    @Test func documentedExampleRuns() throws {
        var pixels = [UInt8](repeating: 0, count: 36)
        for j in [14, 15, 20, 21] { pixels[j] = 200 }
        let image = Tensor<Double>(shape: [6, 6], scalars: pixels.map { Double($0) / 255 })
        let object = NoisyBackground.objectMask(image, threshold: 0)
        let a = NoisyBackground.keptMask(.objectAndOutline, object: object, outlineWidth: 1)
        let c = NoisyBackground.keptMask(.objectAndFrame, object: object, outlineWidth: 1)
        #expect(object.count == 4 && a.count == 16 && c.count == 16)
        var generator = SeededGenerator(seed: 0)
        let data = LabeledImages(pixels: Array(repeating: pixels, count: 8).flatMap { $0 }, labels: Array(repeating: 1, count: 8),
                                 imageShape: [6, 6], classes: 2)
        let stack = LayerStack<Float>(inputShape: [1, 6, 6]) { Flatten(); Dense(inputs: 36, outputs: 2, using: &generator) }
        let table = try NoisyBackgroundTable(stack, data: data, settings: NoisyBackgroundSettings(sigma: 0.5, outlineWidth: 1))
        #expect(table.text.contains("object+frame"))
    }
}
