import TensorAlgebra
import IsometrySupport

/// A set of pixel positions of an image `height × width` (row-major), the same for every
/// channel: which pixels a noisy-background protocol keeps clean.
public struct PixelMask: Sendable, Equatable {
    public var height: Int
    public var width: Int
    /// `isSet[row * width + column]`.
    public var isSet: [Bool]

    public init(height: Int, width: Int, isSet: [Bool]) {
        require(isSet.count == height * width, "PixelMask: \(isSet.count) flags for \(height) × \(width) pixels")
        self.height = height
        self.width = width
        self.isSet = isSet
    }

    public init(height: Int, width: Int) { self.init(height: height, width: width, isSet: [Bool](repeating: false, count: height * width)) }

    public var count: Int { isSet.reduce(0) { $0 + ($1 ? 1 : 0) } }
    public subscript(row: Int, column: Int) -> Bool {
        get { isSet[row * width + column] }
        set { isSet[row * width + column] = newValue }
    }
    /// The pixels set in either mask.
    public func union(_ other: PixelMask) -> PixelMask {
        require(height == other.height && width == other.width, "PixelMask: union of \(height) × \(width) and \(other.height) × \(other.width)")
        return PixelMask(height: height, width: width, isSet: zip(isSet, other.isSet).map { $0 || $1 })
    }
}

/// The three protocols of Szymanski et al.'s noisy-background experiment (docs/interpretation.md,
/// "Noisy background"). Each keeps a set of pixels clean and replaces every other pixel by noise.
public enum NoisyBackgroundProtocol: String, Sendable, Codable, CaseIterable {
    /// (a) The object and its outline (the pixels outside the object within `outlineWidth` of it) kept.
    case objectAndOutline = "object+outline"
    /// (b) The object alone kept.
    case objectOnly = "object"
    /// (c) The object kept, and as many clean pixels as (a)'s outline holds taken from the
    /// image's frame instead (``NoisyBackground/frameMask(object:count:)``): (a) and (c) keep
    /// the same number of clean pixels.
    case objectAndFrame = "object+frame"

    public var summary: String {
        switch self {
        case .objectAndOutline: "noise everywhere except the object and its outline"
        case .objectOnly: "noise everywhere except the object"
        case .objectAndFrame: "noise everywhere except the object and as many frame pixels as the outline holds"
        }
    }
}

/// The masks and the noisy images of the experiment, as pure functions of an image.
public enum NoisyBackground {
    /// The object: the pixels where some channel is brighter than `threshold` (pixels in
    /// [0, 1]). `image` is `[H, W]` or `[C, H, W]`.
    public static func objectMask<Scalar: BLASScalar>(_ image: Tensor<Scalar>, threshold: Double) -> PixelMask {
        require(image.rank == 2 || image.rank == 3, "NoisyBackground: an image is [H, W] or [C, H, W], got \(image.shape)")
        let (h, w) = (image.shape[image.rank - 2], image.shape[image.rank - 1])
        var mask = PixelMask(height: h, width: w)
        image.withUnsafeBufferPointer { x in
            for i in 0 ..< x.count where Double(x[i]) > threshold { mask.isSet[i % (h * w)] = true }
        }
        return mask
    }

    /// The outline: the pixels outside `object` whose Chebyshev distance to it is at most
    /// `width` (max(|Δrow|, |Δcolumn|) ≤ width: the object dilated by a (2·width+1)² square,
    /// minus the object). Empty for an empty object.
    public static func outlineMask(object: PixelMask, width: Int) -> PixelMask {
        require(width >= 0, "NoisyBackground: outline width must be at least 0, got \(width)")
        var outline = PixelMask(height: object.height, width: object.width)
        for r in 0 ..< object.height {
            for c in 0 ..< object.width where object[r, c] {
                for rr in max(0, r - width) ... min(object.height - 1, r + width) {
                    for cc in max(0, c - width) ... min(object.width - 1, c + width) where !object[rr, cc] { outline[rr, cc] = true }
                }
            }
        }
        return outline
    }

    /// `count` pixels of the frame outside `object`: the rings of pixels at distance 0, 1, 2…
    /// from the image's border (min(row, column, H−1−row, W−1−column)), outermost first,
    /// row-major within a ring, skipping object pixels. `count` must not exceed the pixels
    /// outside the object.
    public static func frameMask(object: PixelMask, count: Int) -> PixelMask {
        let (h, w) = (object.height, object.width)
        require(count >= 0 && count <= h * w - object.count, "NoisyBackground: \(count) frame pixels asked, \(h * w - object.count) outside the object")
        var frame = PixelMask(height: h, width: w)
        var left = count
        var ring = 0
        while left > 0 {
            for r in 0 ..< h where left > 0 {
                for c in 0 ..< w where left > 0 && min(r, c, h - 1 - r, w - 1 - c) == ring && !object[r, c] {
                    frame[r, c] = true
                    left -= 1
                }
            }
            ring += 1
        }
        return frame
    }

    /// The pixels `protocol` keeps clean in an image whose object is `object`.
    public static func keptMask(_ protocol: NoisyBackgroundProtocol, object: PixelMask, outlineWidth: Int) -> PixelMask {
        switch `protocol` {
        case .objectOnly: return object
        case .objectAndOutline: return object.union(outlineMask(object: object, width: outlineWidth))
        case .objectAndFrame: return object.union(frameMask(object: object, count: outlineMask(object: object, width: outlineWidth).count))
        }
    }

    /// `image` with every pixel outside `kept` (every channel of it) replaced by `noise`'s
    /// value there, clipped to [0, 1] when `clip`. `noise` has the image's shape.
    public static func replacingBackground<Scalar: BLASScalar>(_ image: Tensor<Scalar>, kept: PixelMask, noise: Tensor<Scalar>,
                                                               clip: Bool) -> Tensor<Scalar> {
        require(image.shape == noise.shape, "NoisyBackground: image \(image.shape) and noise \(noise.shape) differ")
        require(image.count % (kept.height * kept.width) == 0 && image.shape.suffix(2) == [kept.height, kept.width],
                "NoisyBackground: image \(image.shape) and mask \(kept.height) × \(kept.width) differ")
        var result = image
        let plane = kept.height * kept.width
        result.withUnsafeMutableBufferPointer { x in
            noise.withUnsafeBufferPointer { n in
                for i in 0 ..< x.count where !kept.isSet[i % plane] { x[i] = clip ? min(1, max(0, n[i])) : n[i] }
            }
        }
        return result
    }

    /// The noise of image `index`: σ · N(0, 1) for every value of the image (`count` values,
    /// row-major), from a generator seeded by `seed` and `index` alone, so the three protocols
    /// of an image see the same noise field and a run's noise does not depend on its batches.
    public static func noise(seed: UInt64, index: Int, count: Int, sigma: Double) -> [Double] {
        var generator = SeededGenerator(seed: seed ^ (UInt64(truncatingIfNeeded: index) &* 0x9E37_79B9_7F4A_7C15))
        return (0 ..< count).map { _ in sigma * generator.nextNormal() }
    }
}
