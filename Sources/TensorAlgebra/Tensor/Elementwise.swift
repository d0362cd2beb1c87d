// Elementwise arithmetic with numpy's broadcasting rules: shapes are aligned on their last
// axis, and an axis of extent 1 (or a missing leading axis) repeats to match the other.
// So a [rows, cols] tensor combines with a [cols] row vector or a [rows, 1] column.

/// The shape two operands broadcast to, or nil when they are incompatible.
@usableFromInline
func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? {
    let rank = max(a.count, b.count)
    var result = [Int](repeating: 1, count: rank)
    for axis in 0 ..< rank {
        let x = axis < rank - a.count ? 1 : a[axis - (rank - a.count)]
        let y = axis < rank - b.count ? 1 : b[axis - (rank - b.count)]
        if x != y && x != 1 && y != 1 { return nil }
        result[axis] = x == 1 ? y : x
    }
    return result
}

/// Element strides of `shape` read as `target` (0 on repeated axes).
@usableFromInline
func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
    var strides = [Int](repeating: 0, count: target.count)
    var stride = 1
    for axis in (0 ..< shape.count).reversed() {
        let targetAxis = axis + target.count - shape.count
        strides[targetAxis] = shape[axis] == 1 ? 0 : stride
        stride *= shape[axis]
    }
    return strides
}

extension Tensor {
    /// Combines two tensors elementwise after broadcasting them to a common shape.
    @inlinable
    package static func combine(
        _ a: Tensor, _ b: Tensor, _ operation: StaticString = "combine",
        _ body: (Scalar, Scalar) -> Scalar
    ) -> Tensor {
        guard let shape = broadcastShape(a.shape, b.shape) else {
            fatalError("\(operation): shapes \(a.shape) and \(b.shape) do not broadcast")
        }
        let result = Tensor(uninitializedShape: shape)
        let out = result.storage.base
        let x = a.storage.base + a.offset
        let y = b.storage.base + b.offset
        let n = result.count
        if a.count == n && b.count == n {
            for i in 0 ..< n { out[i] = body(x[i], y[i]) }
        } else if a.count == n && b.count > 0 && a.shape.suffix(b.shape.count) == b.shape[...] {
            // Row broadcast: b repeats every b.count elements.
            let width = b.count
            for start in stride(from: 0, to: n, by: width) {
                for j in 0 ..< width { out[start + j] = body(x[start + j], y[j]) }
            }
        } else if a.count == n && b.count == 1 {
            let value = y[0]
            for i in 0 ..< n { out[i] = body(x[i], value) }
        } else {
            broadcastLoop(shape, a, b) { outIndex, i, j in out[outIndex] = body(x[i], y[j]) }
        }
        return result
    }

    /// Odometer over a broadcast shape, handing out the flat index into each operand.
    @usableFromInline
    static func broadcastLoop(
        _ shape: [Int], _ a: Tensor, _ b: Tensor, _ body: (Int, Int, Int) -> Void
    ) {
        let count = shape.reduce(1, *)
        if count == 0 { return }
        let sa = broadcastStrides(a.shape, to: shape)
        let sb = broadcastStrides(b.shape, to: shape)
        var index = [Int](repeating: 0, count: shape.count)
        var (i, j) = (0, 0)
        for flat in 0 ..< count {
            body(flat, i, j)
            var axis = shape.count - 1
            while axis >= 0 {
                index[axis] += 1
                i += sa[axis]
                j += sb[axis]
                if index[axis] < shape[axis] { break }
                i -= sa[axis] * shape[axis]
                j -= sb[axis] * shape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
    }

    /// Updates `self` elementwise with `other` broadcast to `self`'s shape.
    @inlinable
    package mutating func combineInPlace(
        with other: Tensor, _ operation: StaticString = "combineInPlace",
        _ body: (Scalar, Scalar) -> Scalar
    ) {
        guard broadcastShape(shape, other.shape) == shape else {
            fatalError("\(operation): shape \(other.shape) does not broadcast to \(shape)")
        }
        makeUnique()
        let x = storage.base + offset
        let y = other.storage.base + other.offset
        let n = count
        if other.count == n {
            for i in 0 ..< n { x[i] = body(x[i], y[i]) }
        } else if other.count > 0 && shape.suffix(other.shape.count) == other.shape[...] {
            let width = other.count
            for start in stride(from: 0, to: n, by: width) {
                for j in 0 ..< width { x[start + j] = body(x[start + j], y[j]) }
            }
        } else {
            Tensor.broadcastLoop(shape, self, other) { outIndex, i, j in
                x[outIndex] = body(x[i], y[j])
            }
        }
    }

    /// A new tensor with `transform` applied to every element.
    @inlinable
    public func map(_ transform: (Scalar) -> Scalar) -> Tensor {
        let result = Tensor(uninitializedShape: shape)
        let out = result.storage.base
        let x = storage.base + offset
        for i in 0 ..< count { out[i] = transform(x[i]) }
        return result
    }

    /// Applies `transform` to every element in place.
    @inlinable
    public mutating func mapInPlace(_ transform: (Scalar) -> Scalar) {
        makeUnique()
        let x = storage.base + offset
        for i in 0 ..< count { x[i] = transform(x[i]) }
    }

    // MARK: Operators

    @inlinable public static func + (a: Tensor, b: Tensor) -> Tensor { combine(a, b, "+", +) }
    @inlinable public static func - (a: Tensor, b: Tensor) -> Tensor { combine(a, b, "-", -) }
    @inlinable public static func * (a: Tensor, b: Tensor) -> Tensor { combine(a, b, "*", *) }
    @inlinable public static func / (a: Tensor, b: Tensor) -> Tensor { combine(a, b, "/", /) }

    @inlinable public static func += (a: inout Tensor, b: Tensor) { a.combineInPlace(with: b, "+=", +) }
    @inlinable public static func -= (a: inout Tensor, b: Tensor) { a.combineInPlace(with: b, "-=", -) }
    @inlinable public static func *= (a: inout Tensor, b: Tensor) { a.combineInPlace(with: b, "*=", *) }
    @inlinable public static func /= (a: inout Tensor, b: Tensor) { a.combineInPlace(with: b, "/=", /) }

    @inlinable public static func + (a: Tensor, s: Scalar) -> Tensor { a.map { $0 + s } }
    @inlinable public static func - (a: Tensor, s: Scalar) -> Tensor { a.map { $0 - s } }
    @inlinable public static func * (a: Tensor, s: Scalar) -> Tensor { a.map { $0 * s } }
    @inlinable public static func / (a: Tensor, s: Scalar) -> Tensor { a.map { $0 / s } }
    @inlinable public static func + (s: Scalar, a: Tensor) -> Tensor { a.map { s + $0 } }
    @inlinable public static func - (s: Scalar, a: Tensor) -> Tensor { a.map { s - $0 } }
    @inlinable public static func * (s: Scalar, a: Tensor) -> Tensor { a.map { s * $0 } }
    @inlinable public static func / (s: Scalar, a: Tensor) -> Tensor { a.map { s / $0 } }
    @inlinable public static prefix func - (a: Tensor) -> Tensor { a.map { -$0 } }

    @inlinable public static func += (a: inout Tensor, s: Scalar) { a.mapInPlace { $0 + s } }
    @inlinable public static func -= (a: inout Tensor, s: Scalar) { a.mapInPlace { $0 - s } }
    @inlinable public static func *= (a: inout Tensor, s: Scalar) { a.mapInPlace { $0 * s } }
    @inlinable public static func /= (a: inout Tensor, s: Scalar) { a.mapInPlace { $0 / s } }

    /// self ← self + α·x, elementwise, shapes equal: the optimizer update without temporaries.
    @inlinable
    public mutating func addScaled(_ x: Tensor, by alpha: Scalar) {
        if x.shape != shape { fatalError("addScaled: shapes \(shape) and \(x.shape) differ") }
        makeUnique()
        let target = storage.base + offset
        let source = x.storage.base + x.offset
        for i in 0 ..< count { target[i] += alpha * source[i] }
    }

    /// Copies the elements of `source`, of the same shape, into `self`'s storage.
    @inlinable
    package mutating func assign(_ source: Tensor) {
        if source.shape != shape { fatalError("assign: shapes \(shape) and \(source.shape) differ") }
        makeUnique()
        (storage.base + offset).update(from: source.storage.base + source.offset, count: count)
    }

    /// Sets every element to `value`.
    @inlinable
    public mutating func fill(with value: Scalar) {
        makeUnique()
        (storage.base + offset).update(repeating: value, count: count)
    }
}

/// The absolute value of every element, as numpy.abs.
public func abs<Scalar>(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
    x.map { $0.magnitude }
}
