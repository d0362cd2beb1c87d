import Foundation

/// Numbers as figures and reports print them: no "-0.00", no "+ -3.77".

/// `text` without a minus sign on a number that prints as zero: "-0.00" → "0.00",
/// "-0" → "0", "[-0.00, 1.20] %" → "[0.00, 1.20] %". Other text is unchanged.
public func signedZeroFree(_ text: String) -> String {
    var result = ""
    var index = text.startIndex
    while index < text.endIndex {
        let character = text[index]
        if character == "-" || character == "−" {
            // The number that follows: digits and at most one point.
            var end = text.index(after: index)
            var digits = ""
            while end < text.endIndex, text[end].isNumber || text[end] == "." {
                digits.append(text[end])
                end = text.index(after: end)
            }
            let previous = result.last
            let startsNumber = previous == nil || !(previous!.isNumber || previous!.isLetter || previous! == ".")
            let exponentFollows = end < text.endIndex && (text[end] == "e" || text[end] == "E")
            if startsNumber, !exponentFollows, digits.contains(where: \.isNumber), digits.allSatisfy({ $0 == "0" || $0 == "." }) {
                result += digits
                index = end
                continue
            }
        }
        result.append(character)
        index = text.index(after: index)
    }
    return result
}

/// `x` with `digits` decimals ("%.*f"), never "-0.00": values that round to zero print
/// without a sign. NaN and infinities print as "nan", "inf", "-inf".
public func fixedDecimal(_ x: Double, digits: Int = 2) -> String {
    guard x.isFinite else { return x.isNaN ? "nan" : (x > 0 ? "inf" : "-inf") }
    return signedZeroFree(String(format: "%.\(max(0, digits))f", x))
}

/// A term of a sum after its first: "+ 3.77" or "− 3.77" (a true minus sign), never
/// "+ -3.77"; zero prints as "+ 0.00".
public func signedTerm(_ x: Double, digits: Int = 2) -> String {
    let magnitude = fixedDecimal(abs(x), digits: digits)
    let isNegative = x < 0 && magnitude.contains(where: { $0 != "0" && $0 != "." })
    return (isNegative ? "− " : "+ ") + magnitude
}
