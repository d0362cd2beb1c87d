import Foundation
import Testing
import IsometrySupport

/// Values quoted in error messages (issue: escape sequences from checkpoint metadata reached
/// the terminal raw, a 20 MB value made a 20 MB line, a newline cut a message short).
@Suite struct QuotedValueTests {
    @Test func controlCharactersAreEscapedVisibly() {
        #expect(quotedValue("\u{1B}[31mred\u{1B}[0m") == "\\e[31mred\\e[0m")
        #expect(quotedValue("a\nb\rc\td\0e") == "a\\nb\\rc\\td\\0e")
        #expect(quotedValue("\u{07}\u{7F}\u{9B}") == "\\u{7}\\u{7F}\\u{9B}")
        #expect(quotedValue("ab\u{202E}cd\u{2028}") == "ab\\u{202E}cd\\u{2028}")
        // Ordinary values, non-ASCII and backslashes included, read unchanged.
        let ordinary = "/tmp/run 3/σ=1.2/ß\\model.safetensors"
        #expect(quotedValue(ordinary) == ordinary)
    }

    @Test func longValuesAreCutWithTheirSize() {
        let huge = String(repeating: "x", count: 20_000_000)
        let quoted = quotedValue(huge)
        #expect(quoted == String(repeating: "x", count: 200) + "… (20000000 bytes)")
        #expect(quotedValue(String(repeating: "é", count: 200)) == String(repeating: "é", count: 200), "exactly the limit: kept")
        #expect(quotedValue(String(repeating: "é", count: 201), limit: 3) == "ééé… (402 bytes)")
        #expect(quotedValue(String(repeating: "\n", count: 5), limit: 2) == "\\n\\n… (5 bytes)")
    }
}
