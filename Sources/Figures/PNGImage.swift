import CZlib
import Foundation

/// An 8-bit RGB image encoded as PNG (zlib's deflate for the pixel data, CRC-32 per chunk).
public struct PNGImage: Sendable {
    public let width: Int
    public let height: Int
    /// Row-major RGB triples.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        guard pixels.count == width * height * 3 else { fatalError("PNGImage: \(pixels.count) bytes for \(width)×\(height) RGB") }
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A map of values as colours: `map` at (v − low)/(high − low).
    public init(values: [Double], width: Int, height: Int, map: ColorMap, low: Double, high: Double) {
        var pixels: [UInt8] = []
        pixels.reserveCapacity(width * height * 3)
        for v in values {
            let (r, g, b) = map.rgb(high > low ? (v - low) / (high - low) : 0.5)
            pixels += [UInt8((r * 255).rounded()), UInt8((g * 255).rounded()), UInt8((b * 255).rounded())]
        }
        self.init(width: width, height: height, pixels: pixels)
    }

    /// Signed values with white at zero and the colour scale symmetric: ±`limit`.
    public static func diverging(_ values: [Double], width: Int, height: Int, limit: Double? = nil) -> PNGImage {
        let bound = max(limit ?? values.map(abs).max() ?? 1, 1e-12)
        return PNGImage(values: values, width: width, height: height, map: .diverging, low: -bound, high: bound)
    }

    /// Grey levels, black at `low` and white at `high`.
    public static func grey(_ values: [Double], width: Int, height: Int, low: Double = 0, high: Double = 1) -> PNGImage {
        let pixels = values.flatMap { v -> [UInt8] in
            let t = UInt8((min(max((v - low) / (high - low), 0), 1) * 255).rounded())
            return [t, t, t]
        }
        return PNGImage(width: width, height: height, pixels: pixels)
    }

    /// The PNG file's bytes.
    public func encoded() -> [UInt8] {
        var raw: [UInt8] = []
        raw.reserveCapacity(height * (1 + width * 3))
        for row in 0 ..< height {
            raw.append(0)  // filter: none
            raw += pixels[(row * width * 3) ..< ((row + 1) * width * 3)]
        }
        var compressedSize = compressBound(uLong(raw.count))
        var compressed = [UInt8](repeating: 0, count: Int(compressedSize))
        let status = compress2(&compressed, &compressedSize, raw, uLong(raw.count), 9)
        guard status == Z_OK else { fatalError("zlib compress2 failed with \(status)") }
        compressed.removeSubrange(Int(compressedSize)...)

        func bigEndian(_ value: Int) -> [UInt8] { [UInt8(value >> 24 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)] }
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            let body = Array(type.utf8) + data
            let crc = body.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
            return bigEndian(data.count) + body + bigEndian(Int(crc))
        }
        let header = bigEndian(width) + bigEndian(height) + [8, 2, 0, 0, 0]  // 8-bit RGB
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", header) + chunk("IDAT", compressed) + chunk("IEND", [])
    }

    /// A `data:` URI, for self-contained HTML.
    public var dataURI: String { "data:image/png;base64," + Data(encoded()).base64EncodedString() }
}
