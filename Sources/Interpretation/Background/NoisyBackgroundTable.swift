import Datasets
import Foundation
import Networks
import TensorAlgebra
import IsometrySupport

/// The settings of a noisy-background run, stated in its table.
public struct NoisyBackgroundSettings: Sendable, Codable, Equatable {
    /// The noise's standard deviation: a replaced pixel becomes σ·N(0, 1) (then clipped when `clip`).
    public var sigma: Double
    /// A pixel belongs to the object when some channel's value (in [0, 1]) exceeds it.
    public var threshold: Double
    /// The outline: pixels outside the object within this Chebyshev distance of it.
    public var outlineWidth: Int
    /// Whether noisy pixels are clipped to [0, 1], the range of the images.
    public var clip: Bool
    /// Seeds the noise of every image (with the image's index).
    public var seed: UInt64

    public init(sigma: Double = 0.5, threshold: Double = 0, outlineWidth: Int = 3, clip: Bool = true, seed: UInt64 = 0) {
        self.sigma = sigma
        self.threshold = threshold
        self.outlineWidth = outlineWidth
        self.clip = clip
        self.seed = seed
    }

    /// The rules in words, for tables and pages.
    public var summary: String {
        String(format: "object: pixels > %g; outline: non-object pixels within Chebyshev distance %d; noise replaces the other pixels: σ·N(0,1), σ = %g, %@; seed %llu",
               threshold, outlineWidth, sigma, clip ? "clipped to [0, 1]" : "not clipped", seed)
    }
}

/// The accuracies of a classifier on clean images and under the three noisy-background protocols.
public struct NoisyBackgroundTable: Sendable, Codable, Equatable {
    public struct Row: Sendable, Codable, Equatable {
        /// "clean" or a ``NoisyBackgroundProtocol`` raw value.
        public var name: String
        public var summary: String
        public var correct: Int
        public var count: Int
        public var accuracy: Double
        /// √(p(1−p)/n): the binomial standard error of the accuracy.
        public var standardError: Double
        /// The mean number of clean pixels per image.
        public var meanCleanPixels: Double
        /// What the linearisation F(x) = W(x)·x + b(x) highlights (nil when not computed): over
        /// the images, the mean share of the object O (the clean image's) in Σ|W_ŷ(x) ⊙ x| — the
        /// predicted class's contribution map — and in Σ|W_ŷ(x)|, its weights alone. W_ŷ(x) is
        /// ∂F_ŷ/∂x, which is W(x)'s row exactly for a piecewise-linear stack (ReLU, max-pool) and
        /// the tangent linearisation's otherwise. Images whose map is all zero are left out.
        public var objectShareOfContribution: Double?
        public var objectShareOfWeight: Double?
        /// What Insens highlights (nil when not computed, or for a stack with smooth layers): over
        /// the first ``insensImages`` images, the mean share of the object O in Σ|Ω(x)|, Ω the
        /// Insens map of the image under the protocol (docs/theory.md §3). Images whose Ω is all
        /// zero (no inactive unit) are left out.
        public var objectShareOfInsens: Double?
        /// The first how many images the Insens share was taken over (those with Ω all zero left out of the mean).
        public var insensImages: Int?

        init(name: String, summary: String, correct: Int, count: Int, cleanPixels: Int) {
            self.name = name
            self.summary = summary
            self.correct = correct
            self.count = count
            accuracy = Double(correct) / Double(count)
            standardError = (accuracy * (1 - accuracy) / Double(count)).squareRoot()
            meanCleanPixels = Double(cleanPixels) / Double(count)
        }
    }

    /// An image under every protocol, for figures: pixels in [0, 1] (first channel), row-major.
    public struct Example: Sendable, Codable, Equatable {
        public var index: Int
        public var label: Int
        public var height: Int
        public var width: Int
        /// Clean first, then one per protocol, in the order of `rows`.
        public var images: [[Double]]
        public var predictions: [Int]
    }

    public var settings: NoisyBackgroundSettings
    public var source: String
    /// Clean, then (a), (b), (c).
    public var rows: [Row]
    public var meanObjectPixels: Double
    public var examples: [Example]

    public var clean: Row { rows[0] }
    public func row(_ protocol: NoisyBackgroundProtocol) -> Row { rows.first { $0.name == `protocol`.rawValue }! }

    /// The table as CSV: one line per row.
    public var csv: String {
        "protocol,correct,count,accuracy,standard_error,mean_clean_pixels,object_share_of_contribution,object_share_of_weight,object_share_of_insens,insens_images\n"
            + rows.map { "\($0.name),\($0.correct),\($0.count),\($0.accuracy),\($0.standardError),\($0.meanCleanPixels),"
                + "\($0.objectShareOfContribution.map { "\($0)" } ?? ""),\($0.objectShareOfWeight.map { "\($0)" } ?? ""),"
                + "\($0.objectShareOfInsens.map { "\($0)" } ?? ""),\($0.insensImages.map { "\($0)" } ?? "")" }
                .joined(separator: "\n") + "\n"
    }

    public var text: String {
        var lines = ["noisy background on \(source) (\(clean.count) images): \(settings.summary)"]
        for row in rows {
            let name = row.name.padding(toLength: 15, withPad: " ", startingAt: 0)
            lines.append(String(format: "  %@ %6.2f %% ± %.2f  (%d/%d, %.1f clean pixels)", name, 100 * row.accuracy,
                                100 * row.standardError, row.correct, row.count, row.meanCleanPixels)
                + (row.objectShareOfContribution.map { String(format: "; object's share of |W⊙x| %.1f %%", 100 * $0) } ?? "")
                + (row.objectShareOfWeight.map { String(format: ", of |W| %.1f %%", 100 * $0) } ?? "")
                + (row.objectShareOfInsens.map { String(format: ", of |Ω| %.1f %% (%d images)", 100 * $0, row.insensImages ?? 0) } ?? ""))
        }
        return lines.joined(separator: "\n")
    }

    /// Checks that `data` fits `stack`: images with as many values as it takes, labels among its
    /// score units, finite parameters. Only the forward pass is needed, so any layer kind will do
    /// (convolutions and smooth activations included).
    public static func check<Scalar: BLASScalar>(_ stack: LayerStack<Scalar>, data: LabeledImages) throws(InterpretationError) {
        guard data.count > 0 else { throw .emptyData }
        let inputs = stack.inputShape.reduce(1, *)
        guard data.features == inputs, stack.classDimensions == nil else {
            throw .inputWidthMismatch(found: data.features, expected: stack.classDimensions?.features ?? inputs)
        }
        // The masks follow the stack's input shape: images of another shape with the same
        // pixel count would get outlines of the wrong geometry.
        do { try stack.checkSamples(shape: data.imageShape, source: "the images") } catch { throw .sampleShape(error) }
        if let label = data.labels.max(), label >= stack.scoreUnits.count {
            throw .outputsDoNotFitClasses(outputs: stack.scoreUnits.count, classes: label + 1)
        }
        for (l, layer) in stack.layers.enumerated() {
            for (name, parameter) in zip(layer.parameterNames, layer.parameters) where parameter.nonFiniteCount > 0 {
                throw .nonFiniteParameter(name: "\(l).\(name)", count: parameter.nonFiniteCount)
            }
        }
    }

    /// Evaluates `stack` on `data` clean and under every protocol (docs/interpretation.md,
    /// "Noisy background"). The masks are taken over the last two axes of the stack's input
    /// shape when it has two or more (`[C, H, W]`), else of the images' shape, else one row.
    /// `examples` images (the first ones) are kept for figures; `contributions` adds what the
    /// linearisation highlights (``Row/objectShareOfContribution``), one backward pass per batch;
    /// `insensImages` what Insens highlights over the first that many images
    /// (``Row/objectShareOfInsens``: one forward-mode stream per image and protocol, skipped for a
    /// stack with smooth layers). `progress` gets images done and the total.
    public init<Scalar: BLASScalar>(_ stack: LayerStack<Scalar>, data: LabeledImages, settings: NoisyBackgroundSettings = .init(),
                                    batchSize: Int = 500, examples: Int = 3, contributions: Bool = true, insensImages: Int = 0,
                                    source: String = "", progress: ((Int, Int) -> Void)? = nil) throws(InterpretationError) {
        require(batchSize >= 1, "NoisyBackgroundTable: batch size must be at least 1, got \(batchSize)")
        require(settings.outlineWidth >= 0 && settings.sigma >= 0 && settings.sigma.isFinite && settings.threshold.isFinite,
                "NoisyBackgroundTable: settings \(settings) out of range")
        try Self.check(stack, data: data)
        let features = data.features
        let shape = stack.inputShape.count >= 2 ? stack.inputShape : data.imageShape.count >= 2 ? data.imageShape : [1, features]
        let plane = shape.suffix(2).reduce(1, *)
        let protocols = NoisyBackgroundProtocol.allCases
        var correct = [Int](repeating: 0, count: protocols.count + 1)
        var cleanPixels = [Int](repeating: 0, count: protocols.count + 1)
        var objectPixels = 0
        var (contributionShare, weightShare) = ([Double](repeating: 0, count: protocols.count + 1), [Double](repeating: 0, count: protocols.count + 1))
        var (contributionImages, weightImages) = ([Int](repeating: 0, count: protocols.count + 1), [Int](repeating: 0, count: protocols.count + 1))
        var (insensShare, insensCounted) = ([Double](repeating: 0, count: protocols.count + 1), [Int](repeating: 0, count: protocols.count + 1))
        let insensLimit = (try? stack.checkInterpretable()) == nil ? 0 : min(max(insensImages, 0), data.count)
        var kept: [Example] = []
        let units = stack.scoreUnits
        let stackShape = stack.inputShape
        var start = 0
        while start < data.count {
            let size = min(batchSize, data.count - start)
            // One batch per protocol, clean first; rows written image by image.
            var batches = [Tensor<Scalar>](repeating: .zeros([size, features]), count: protocols.count + 1)
            var image = Tensor<Double>.zeros([features])
            var objects: [PixelMask] = []
            for i in 0 ..< size {
                let n = start + i
                image.withUnsafeMutableBufferPointer { x in
                    for j in 0 ..< features { x[j] = Double(data.pixels[n * features + j]) / 255 }
                }
                let shaped = image.reshaped(shape.count == 2 ? shape : [features / plane] + shape.suffix(2))
                let object = NoisyBackground.objectMask(shaped, threshold: settings.threshold)
                objectPixels += object.count
                objects.append(object)
                let noise = Tensor<Double>(shape: shaped.shape, scalars: NoisyBackground.noise(seed: settings.seed, index: n, count: features,
                                                                                              sigma: settings.sigma))
                var images = [shaped]
                cleanPixels[0] += plane
                for p in protocols {
                    let mask = NoisyBackground.keptMask(p, object: object, outlineWidth: settings.outlineWidth)
                    cleanPixels[images.count] += mask.count
                    images.append(NoisyBackground.replacingBackground(shaped, kept: mask, noise: noise, clip: settings.clip))
                }
                for (b, noisy) in images.enumerated() {
                    noisy.withUnsafeBufferPointer { x in
                        batches[b].withUnsafeMutableBufferPointer { row in
                            for j in 0 ..< features { row[i * features + j] = Scalar(x[j]) }
                        }
                    }
                }
                if kept.count < examples {
                    kept.append(Example(index: n, label: data.labels[n], height: shape[shape.count - 2], width: shape[shape.count - 1],
                                        images: images.map { Array($0.scalars[0 ..< plane]) }, predictions: []))
                }
            }
            let workspace = stack.makeWorkspace(batchSize: size)
            for (b, batch) in batches.enumerated() {
                let input = batch.reshaped([size] + stackShape)
                stack.forward(input, in: workspace)
                let output = workspace.output
                let width = output.count / size
                var predicted = [Int](repeating: 0, count: size)
                output.withUnsafeBufferPointer { f in
                    for i in 0 ..< size {
                        // The first of equal maxima, as StackEvaluation and PyTorch's argmax.
                        var best = 0
                        for k in 0 ..< units.count where f[i * width + units.lowerBound + k] > f[i * width + units.lowerBound + best] { best = k }
                        predicted[i] = best
                        if best == data.labels[start + i] { correct[b] += 1 }
                        if let e = kept.firstIndex(where: { $0.index == start + i }) { kept[e].predictions.append(best) }
                    }
                }
                for i in 0 ..< size where start + i < insensLimit {
                    // The stack was checked interpretable, and the image has its input shape.
                    guard let projections = try? SwitchedLinearProjections(stack, at: input.row(i)) else { continue }
                    let (omega, _) = projections.insens()
                    var (total, onObject) = (0.0, 0.0)
                    for j in 0 ..< features {
                        total += abs(omega[j])
                        if objects[i].isSet[j % plane] { onObject += abs(omega[j]) }
                    }
                    if total > 0 {
                        insensShare[b] += onObject / total
                        insensCounted[b] += 1
                    }
                }
                guard contributions else { continue }
                // W_ŷ(x) for every image at once: Jᵀ·e_ŷ, one cotangent per sample.
                var cotangent = Tensor<Scalar>.zeros(output.shape)
                cotangent.withUnsafeMutableBufferPointer { u in
                    for i in 0 ..< size { u[i * width + units.lowerBound + predicted[i]] = 1 }
                }
                stack.vjp(cotangent, in: workspace)
                workspace.inputGradient.withUnsafeBufferPointer { w in
                    input.withUnsafeBufferPointer { x in
                        for i in 0 ..< size {
                            var (contribution, onObject, weight, weightOnObject) = (0.0, 0.0, 0.0, 0.0)
                            for j in 0 ..< features {
                                let wj = abs(Double(w[i * features + j])), cj = abs(Double(w[i * features + j]) * Double(x[i * features + j]))
                                contribution += cj
                                weight += wj
                                if objects[i].isSet[j % plane] {
                                    onObject += cj
                                    weightOnObject += wj
                                }
                            }
                            if contribution > 0 {
                                contributionShare[b] += onObject / contribution
                                contributionImages[b] += 1
                            }
                            if weight > 0 {
                                weightShare[b] += weightOnObject / weight
                                weightImages[b] += 1
                            }
                        }
                    }
                }
            }
            start += size
            progress?(start, data.count)
        }
        self.settings = settings
        self.source = source
        let names = [("clean", "the test images as they are")] + protocols.map { ($0.rawValue, $0.summary) }
        rows = names.indices.map { b in
            var row = Row(name: names[b].0, summary: names[b].1, correct: correct[b], count: data.count, cleanPixels: cleanPixels[b])
            if contributions {
                row.objectShareOfContribution = contributionImages[b] > 0 ? contributionShare[b] / Double(contributionImages[b]) : nil
                row.objectShareOfWeight = weightImages[b] > 0 ? weightShare[b] / Double(weightImages[b]) : nil
            }
            if insensLimit > 0 {
                row.objectShareOfInsens = insensCounted[b] > 0 ? insensShare[b] / Double(insensCounted[b]) : nil
                row.insensImages = insensLimit
            }
            return row
        }
        meanObjectPixels = Double(objectPixels) / Double(data.count)
        self.examples = kept
    }
}
