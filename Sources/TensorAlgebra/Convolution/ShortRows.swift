// Copies, fills and sums of short rows (a convolution's output row is 11 or 26 scalars in a
// 28×28 CNN). The compiler vectorises `for t in 0 ..< n` loops for long rows only: below its
// vector width times its unrolling (64 floats) every element goes one at a time. These move
// 32-byte blocks, the last one overlapping the one before, so a row of 11 floats is two moves.

/// dst[0 ..< count] ← src[0 ..< count] (the ranges do not overlap).
@inline(__always)
func copyRow<Scalar>(_ src: UnsafePointer<Scalar>, _ dst: UnsafeMutablePointer<Scalar>, count: Int) {
    copyBytes(UnsafeRawPointer(src), UnsafeMutableRawPointer(dst), count * MemoryLayout<Scalar>.stride)
}

@inline(__always)
func copyBytes(_ s: UnsafeRawPointer, _ d: UnsafeMutableRawPointer, _ n: Int) {
    typealias Block = SIMD8<UInt32>
    if n >= 32 {
        var b = 0
        while b + 32 < n {
            d.storeBytes(of: s.loadUnaligned(fromByteOffset: b, as: Block.self), toByteOffset: b, as: Block.self)
            b += 32
        }
        d.storeBytes(of: s.loadUnaligned(fromByteOffset: n - 32, as: Block.self), toByteOffset: n - 32, as: Block.self)
    } else if n >= 16 {
        let (head, tail) = (s.loadUnaligned(as: SIMD4<UInt32>.self), s.loadUnaligned(fromByteOffset: n - 16, as: SIMD4<UInt32>.self))
        d.storeBytes(of: head, as: SIMD4<UInt32>.self)
        d.storeBytes(of: tail, toByteOffset: n - 16, as: SIMD4<UInt32>.self)
    } else if n >= 8 {
        let (head, tail) = (s.loadUnaligned(as: UInt64.self), s.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self))
        d.storeBytes(of: head, as: UInt64.self)
        d.storeBytes(of: tail, toByteOffset: n - 8, as: UInt64.self)
    } else if n >= 4 {
        let (head, tail) = (s.loadUnaligned(as: UInt32.self), s.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self))
        d.storeBytes(of: head, as: UInt32.self)
        d.storeBytes(of: tail, toByteOffset: n - 4, as: UInt32.self)
    }
}

/// dst[0 ..< count] ← 0.
@inline(__always)
func zeroRow<Scalar>(_ dst: UnsafeMutablePointer<Scalar>, count: Int) {
    let d = UnsafeMutableRawPointer(dst), n = count * MemoryLayout<Scalar>.stride
    if n >= 32 {
        var b = 0
        while b + 32 < n {
            d.storeBytes(of: SIMD8<UInt32>(), toByteOffset: b, as: SIMD8<UInt32>.self)
            b += 32
        }
        d.storeBytes(of: SIMD8<UInt32>(), toByteOffset: n - 32, as: SIMD8<UInt32>.self)
    } else {
        var b = 0
        while b + 4 <= n {
            d.storeBytes(of: UInt32(0), toByteOffset: b, as: UInt32.self)
            b += 4
        }
    }
}

/// dst[0 ..< count] += src[0 ..< count], element by element in order (the sums are those of
/// the plain loop), eight at a time.
@inline(__always)
func addRow<Scalar: BLASScalar>(_ src: UnsafePointer<Scalar>, _ dst: UnsafeMutablePointer<Scalar>, count: Int) {
    if Scalar.self == Float.self {
        addRowVector(UnsafeRawPointer(src).assumingMemoryBound(to: Float.self), UnsafeMutableRawPointer(dst).assumingMemoryBound(to: Float.self), count)
    } else if Scalar.self == Double.self {
        addRowVector(UnsafeRawPointer(src).assumingMemoryBound(to: Double.self), UnsafeMutableRawPointer(dst).assumingMemoryBound(to: Double.self), count)
    } else {
        for t in 0 ..< count { dst[t] += src[t] }
    }
}

@inline(__always)
func addRowVector<S: SIMDScalar & BinaryFloatingPoint>(_ src: UnsafePointer<S>, _ dst: UnsafeMutablePointer<S>, _ count: Int) {
    let (s, d) = (UnsafeRawPointer(src), UnsafeMutableRawPointer(dst))
    let stride = MemoryLayout<S>.stride
    var t = 0
    while t + 8 <= count {
        let sum = d.loadUnaligned(fromByteOffset: t * stride, as: SIMD8<S>.self) + s.loadUnaligned(fromByteOffset: t * stride, as: SIMD8<S>.self)
        d.storeBytes(of: sum, toByteOffset: t * stride, as: SIMD8<S>.self)
        t += 8
    }
    while t < count {
        dst[t] += src[t]
        t += 1
    }
}
