import Figures
import Testing

/// PNG images: the file's structure and the diverging colour scale's centre.
@Suite struct PNGImageTests {
    @Test func pngHasValidStructure() {
        let image = PNGImage.diverging([-1, 0, 1, 0.5], width: 2, height: 2)
        let bytes = image.encoded()
        #expect(Array(bytes[0 ..< 8]) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        #expect(String(decoding: bytes[12 ..< 16], as: UTF8.self) == "IHDR")
        #expect(String(decoding: bytes[(bytes.count - 8) ..< (bytes.count - 4)], as: UTF8.self) == "IEND")
        // Zero maps to the white centre of the diverging scale.
        #expect(image.pixels[3 ..< 6].allSatisfy { $0 > 240 })
        #expect(image.dataURI.hasPrefix("data:image/png;base64,iVBOR"))
    }
}
