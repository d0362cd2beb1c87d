// Blocks of a matrix by ranges of rows and columns, as numpy's a[r0:r1, c0:c1].
//
// A block of columns is not contiguous in row-major storage, so these return copies; rows
// alone stay views through `rows(_:)`, which is what mini-batches use.

extension Tensor {
    /// The rows and columns of a matrix in `rowRange` × `columnRange`, as a new tensor:
    /// `a[0 ..< 500, 0 ..< 5]`, `a[2..., ..<3]`. Setting writes a block of exactly that shape.
    public subscript<R: RangeExpression, C: RangeExpression>(
        rowRange: R, columnRange: C
    ) -> Tensor where R.Bound == Int, C.Bound == Int {
        get { block(blockBounds(rowRange, columnRange)) }
        set { setBlock(blockBounds(rowRange, columnRange), to: newValue) }
    }

    /// Every row, the columns in `columnRange`: `a[..., 0 ..< 5]`.
    public subscript<C: RangeExpression>(
        _: UnboundedRange, columnRange: C
    ) -> Tensor where C.Bound == Int {
        get { self[0..., columnRange] }
        set { self[0..., columnRange] = newValue }
    }

    /// The rows in `rowRange`, every column: `a[0 ..< 5, ...]`.
    public subscript<R: RangeExpression>(
        rowRange: R, _: UnboundedRange
    ) -> Tensor where R.Bound == Int {
        get { self[rowRange, 0...] }
        set { self[rowRange, 0...] = newValue }
    }

    /// Columns `range` of a matrix, every row, as a new tensor.
    public func columns(_ range: Range<Int>) -> Tensor {
        self[0..., range]
    }

    /// The resolved ranges, or a stop naming the shape and the ranges asked for.
    private func blockBounds<R: RangeExpression, C: RangeExpression>(
        _ rowRange: R, _ columnRange: C
    ) -> (rows: Range<Int>, columns: Range<Int>) where R.Bound == Int, C.Bound == Int {
        if rank != 2 {
            fatalError("[\(rowRange), \(columnRange)]: needs a matrix, got shape \(shape)")
        }
        let rows = rowRange.relative(to: 0 ..< shape[0])
        let columns = columnRange.relative(to: 0 ..< shape[1])
        if rows.lowerBound < 0 || rows.upperBound > shape[0]
            || columns.lowerBound < 0 || columns.upperBound > shape[1]
        {
            fatalError("[\(rows), \(columns)] is out of bounds for shape \(shape)")
        }
        return (rows, columns)
    }

    private func block(_ bounds: (rows: Range<Int>, columns: Range<Int>)) -> Tensor {
        let (rows, columns) = bounds
        let width = shape[1]
        let result = Tensor(uninitializedShape: [rows.count, columns.count])
        let source = storage.base + offset
        for (i, row) in rows.enumerated() {
            (result.storage.base + i * columns.count)
                .initialize(from: source + row * width + columns.lowerBound, count: columns.count)
        }
        return result
    }

    private mutating func setBlock(_ bounds: (rows: Range<Int>, columns: Range<Int>), to value: Tensor) {
        let (rows, columns) = bounds
        if value.shape != [rows.count, columns.count] {
            fatalError(
                "[\(rows), \(columns)] of shape \(shape) is [\(rows.count), \(columns.count)], "
                    + "cannot assign shape \(value.shape)")
        }
        let width = shape[1]
        // If `value` shares storage with self, self is not uniquely referenced, so makeUnique
        // copies self and `value` still reads the old buffer: no overlap.
        makeUnique()
        let target = storage.base + offset
        let source = value.storage.base + value.offset
        for (i, row) in rows.enumerated() {
            (target + row * width + columns.lowerBound)
                .update(from: source + i * columns.count, count: columns.count)
        }
    }
}
