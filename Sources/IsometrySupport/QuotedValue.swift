/// A value from a file or the command line as an error message may quote it: every control
/// character escaped visibly, and at most `limit` characters of it.
///
/// Error messages are one line on a terminal, and the values they quote (metadata, tensor
/// names, paths, recorded commands) come from files anyone may have written: an escape
/// sequence would be obeyed by the terminal, a newline would split the line, and a 20 MB value
/// would make a 20 MB line. So C0 and C1 controls become `\n`, `\r`, `\t`, `\e`, `\0` or
/// `\u{XX}`, the Unicode line separators and bidirectional overrides (which reorder what the
/// reader sees) become `\u{XXXX}`, and a value longer than `limit` characters is cut there,
/// followed by `… (N bytes)` with N its full UTF-8 length. Everything else, backslashes and
/// non-ASCII letters included, is kept as it is, so ordinary values read unchanged.
public func quotedValue(_ value: some StringProtocol, limit: Int = 200) -> String {
    var result = ""
    var kept = 0
    for scalar in value.unicodeScalars {
        // Only the first `limit` characters are read: a huge value costs no more than a short one.
        if kept == limit {
            result += "… (\(value.utf8.count) bytes)"
            return result
        }
        kept += 1
        switch scalar.value {
        case 0x0A: result += "\\n"
        case 0x0D: result += "\\r"
        case 0x09: result += "\\t"
        case 0x1B: result += "\\e"
        case 0x00: result += "\\0"
        case 0x00 ..< 0x20, 0x7F ... 0x9F, 0x2028, 0x2029, 0x200E, 0x200F, 0x202A ... 0x202E, 0x2066 ... 0x2069:
            result += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
        default: result.unicodeScalars.append(scalar)
        }
    }
    return result
}
