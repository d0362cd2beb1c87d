import FileFormats
import Testing

@Suite struct QuotedErrorValueTests {
    /// The file formats' errors quote the values they read through it.
    @Test func fileFormatErrorsQuoteTheirValues() {
        let error = SafetensorsError(source: "a\nb.safetensors", reason: .invalidChecksum(key: "crc32.\u{1B}]0;x", value: String(repeating: "f", count: 300)))
        #expect(error.description == "a\\nb.safetensors: metadata crc32.\\e]0;x = \"" + String(repeating: "f", count: 200) + "… (300 bytes)\" is not 8 hexadecimal digits")
        let numpy = NumpyFileError(source: "W1.npy", problem: .unsupportedDType("<\u{1B}[2J"))
        #expect(numpy.description.hasPrefix("W1.npy: unsupported dtype '<\\e[2J' (expected one of "))
    }
}
