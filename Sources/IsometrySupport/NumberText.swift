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

/// A parameter as names and captions print it: whole numbers below 10⁶ without decimals
/// ("10", "1000000" is "1e+06"), anything else with four significant digits ("0.5", "1.414").
public func compactNumber(_ x: Double) -> String {
    x == x.rounded() && abs(x) < 1e6 ? String(Int(x)) : String(format: "%.4g", x)
}

/// A fraction in per cent with two decimals: "15.40 %", never "-0.00 %".
public func percent(_ x: Double) -> String { fixedDecimal(100 * x) + " %" }

/// Five significant digits between 1e-3 and 1e5, otherwise scientific; no "-0".
public func short(_ x: Double) -> String {
    if x == 0 { return "0" }
    if abs(x) >= 1e-3 && abs(x) < 1e5 { return signedZeroFree(String(format: "%.5g", x)) }
    return String(format: "%.4e", x)
}


/// A number with `decimals` fixed decimals, a real minus sign (U+2212) and no "−0.00": values
/// that round to zero print as 0.
public func formatFixed(_ value: Double, decimals: Int) -> String {
    guard value.isFinite else { return value.isNaN ? "NaN" : (value > 0 ? "∞" : "−∞") }
    let text = String(format: "%.\(decimals)f", value)
    let zero = String(format: "%.\(decimals)f", 0.0)
    if text == "-" + zero { return zero }
    return text.replacingOccurrences(of: "-", with: "−")
}

/// A number in scientific notation, e.g. 3.6e−6 (three significant digits by default).
public func formatScientific(_ value: Double, digits: Int = 2) -> String {
    String(format: "%.\(digits - 1)e", value).replacingOccurrences(of: "e-0", with: "e−").replacingOccurrences(of: "e+0", with: "e")
        .replacingOccurrences(of: "e-", with: "e−").replacingOccurrences(of: "e+", with: "e").replacingOccurrences(of: "-", with: "−")
}

/// A scale limit with three significant digits (0.0825, 1.23, 12.3), never in e-notation for
/// the magnitudes maps have.
public func formatLimit(_ value: Double) -> String {
    guard value > 0, value.isFinite else { return "0" }
    if value < 1e-3 || value >= 1e5 { return formatScientific(value, digits: 3) }
    let decimals = max(0, 2 - Int(floor(log10(value))))
    return formatFixed(value, decimals: decimals)
}
