extension Tensor {
    /// A tensor of the given shape from its elements in row-major order.
    public init(shape: [Int], scalars: [Scalar]) {
        let expected = Tensor.elementCount(of: shape)
        if scalars.count != expected {
            fatalError("Tensor(shape: \(shape)) needs \(expected) scalars, got \(scalars.count)")
        }
        self.init(uninitializedShape: shape)
        scalars.withUnsafeBufferPointer { source in
            storage.base.initialize(from: source.baseAddress!, count: expected)
        }
    }

    /// A vector.
    public init(_ scalars: [Scalar]) {
        self.init(shape: [scalars.count], scalars: scalars)
    }

    /// A matrix from its rows, which must all have the same length.
    public init(_ rows: [[Scalar]]) {
        let width = rows.first?.count ?? 0
        if let bad = rows.firstIndex(where: { $0.count != width }) {
            fatalError("Tensor(rows): row 0 has \(width) elements but row \(bad) has \(rows[bad].count)")
        }
        self.init(shape: [rows.count, width], scalars: rows.flatMap { $0 })
    }

    /// A rank-3 tensor from nested arrays, which must be rectangular.
    public init(_ planes: [[[Scalar]]]) {
        let matrices = planes.map { Tensor($0) }
        let inner = matrices.first?.shape ?? [0, 0]
        if let bad = matrices.firstIndex(where: { $0.shape != inner }) {
            fatalError("Tensor(planes): plane 0 has shape \(inner) but plane \(bad) has \(matrices[bad].shape)")
        }
        self.init(shape: [planes.count] + inner, scalars: matrices.flatMap(\.scalars))
    }

    /// Every element equal to `value`.
    public init(repeating value: Scalar, shape: [Int]) {
        self.init(uninitializedShape: shape)
        if value == 0 && value.sign == .plus {
            // +0 of Float and Double is all zero bits: one memset. The generic initialize is
            // not specialised across modules and copies element by element through value
            // witnesses, which made the zeroing of a layer workspace cost more than its GEMMs
            // (perf of bench-attribution on the CNN: 22 % of the time).
            UnsafeMutableRawPointer(storage.base).initializeMemory(as: UInt8.self, repeating: 0, count: count * MemoryLayout<Scalar>.stride)
        } else {
            storage.base.initialize(repeating: value, count: count)
        }
    }

    public static func zeros(_ shape: [Int]) -> Tensor { Tensor(repeating: 0, shape: shape) }
    public static func ones(_ shape: [Int]) -> Tensor { Tensor(repeating: 1, shape: shape) }

    /// The n×n matrix `scale`·I: the identity initialisation of a layer.
    public static func identity(_ n: Int, scale: Scalar = 1) -> Tensor {
        var result = Tensor.zeros([n, n])
        result.withUnsafeMutableBufferPointer { elements in
            for i in 0 ..< n { elements[i * n + i] = scale }
        }
        return result
    }

    /// A diagonal matrix with `diagonal` on its diagonal.
    public static func diagonal(_ diagonal: Tensor) -> Tensor {
        diagonal.requireRank(1, "diagonal")
        let n = diagonal.count
        var result = Tensor.zeros([n, n])
        let values = diagonal.scalars
        result.withUnsafeMutableBufferPointer { elements in
            for i in 0 ..< n { elements[i * n + i] = values[i] }
        }
        return result
    }

    /// Independent normal deviates with the given mean and standard deviation.
    public static func randomNormal(
        _ shape: [Int], mean: Scalar = 0, standardDeviation: Scalar = 1,
        using generator: inout SeededGenerator
    ) -> Tensor {
        let result = Tensor(uninitializedShape: shape)
        let (mu, sd) = (Double(mean), Double(standardDeviation))
        for i in 0 ..< result.count {
            result.storage.base[i] = Scalar(mu + sd * generator.nextNormal())
        }
        return result
    }

    /// Independent uniform deviates in `range` (half-open).
    public static func randomUniform(
        _ shape: [Int], in range: Range<Scalar> = 0 ..< 1, using generator: inout SeededGenerator
    ) -> Tensor {
        let result = Tensor(uninitializedShape: shape)
        let (low, width) = (Double(range.lowerBound), Double(range.upperBound - range.lowerBound))
        for i in 0 ..< result.count {
            // Rounding to Float can reach the upper bound; keep the interval half-open.
            let value = Scalar(low + width * generator.nextUniform())
            result.storage.base[i] = value < range.upperBound ? value : range.lowerBound
        }
        return result
    }

    /// A random n×n orthogonal matrix drawn from the Haar measure, scaled by `scale`.
    ///
    /// QR of a Gaussian matrix, with each column of Q multiplied by the sign of R's diagonal:
    /// without that fix, LAPACK's sign convention biases the distribution (Mezzadri 2007).
    public static func randomOrthogonal(
        _ n: Int, scale: Scalar = 1, using generator: inout SeededGenerator
    ) -> Tensor {
        let gaussian = Tensor.randomNormal([n, n], using: &generator)
        // A square Gaussian matrix has full rank with probability one; LAPACK cannot fail on it.
        guard let (q, r) = try? qr(gaussian) else {
            fatalError("randomOrthogonal: QR of a \(n)×\(n) Gaussian matrix failed")
        }
        var result = q
        result.withUnsafeMutableBufferPointer { elements in
            r.withUnsafeBufferPointer { rElements in
                for j in 0 ..< n {
                    let sign: Scalar = rElements[j * n + j] < 0 ? -scale : scale
                    for i in 0 ..< n { elements[i * n + j] *= sign }
                }
            }
        }
        return result
    }
}
