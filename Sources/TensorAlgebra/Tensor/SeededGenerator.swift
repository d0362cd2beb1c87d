/// A seeded random number generator that gives the same numbers on every machine.
///
/// The bits come from xoshiro256** (Blackman and Vigna), whose 256-bit state is filled from
/// the 64-bit seed by SplitMix64. Uniform doubles take the top 53 bits. Normal deviates use
/// Marsaglia's polar method with a logarithm written here in plain IEEE arithmetic (no libm,
/// no fused multiply-add), so a seed reproduces bit for bit on any platform Swift runs on.
/// Float tensors round the Double deviates, so both precisions draw the same numbers.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: (UInt64, UInt64, UInt64, UInt64)
    private var spareNormal: Double?

    public init(seed: UInt64) {
        var splitMix = seed
        func next() -> UInt64 {
            splitMix &+= 0x9E37_79B9_7F4A_7C15
            var z = splitMix
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (next(), next(), next(), next())
    }

    public mutating func next() -> UInt64 {
        let result = rotateLeft(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotateLeft(state.3, 45)
        return result
    }

    private func rotateLeft(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// A uniform double in [0, 1).
    public mutating func nextUniform() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// A standard normal deviate.
    public mutating func nextNormal() -> Double {
        if let spare = spareNormal {
            spareNormal = nil
            return spare
        }
        while true {
            let u = 2 * nextUniform() - 1
            let v = 2 * nextUniform() - 1
            let s = u * u + v * v
            if s > 0 && s < 1 {
                let factor = (-2 * portableLog(s) / s).squareRoot()
                spareNormal = v * factor
                return u * factor
            }
        }
    }
}

/// Natural logarithm from +, −, ×, ÷ only, so results are identical on every IEEE machine.
/// x = m·2^e with m in [√½, √2); log m = 2·atanh(t), t = (m − 1)/(m + 1), |t| < 0.172,
/// summed as an odd series until the terms no longer change the sum (about 1 ulp).
func portableLog(_ x: Double) -> Double {
    if !(x > 0 && x.isFinite) { fatalError("portable logarithm of \(x): needs a positive finite number") }
    var exponent = Double(x.exponent)
    var mantissa = x.significand  // in [1, 2)
    if mantissa > 1.4142135623730951 {
        mantissa /= 2
        exponent += 1
    }
    let t = (mantissa - 1) / (mantissa + 1)
    let t2 = t * t
    var term = t
    var sum = t
    var k = 3.0
    while true {
        term *= t2
        let next = sum + term / k
        if next == sum { break }
        sum = next
        k += 2
    }
    return 2 * sum + exponent * 0.6931471805599453
}
