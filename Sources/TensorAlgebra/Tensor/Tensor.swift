/// The buffer behind one or more tensors. Tensors share it until one of them writes
/// (copy-on-write), so passing tensors around and slicing rows costs no copy.
@usableFromInline
final class TensorStorage<Scalar>: @unchecked Sendable {
    @usableFromInline let base: UnsafeMutablePointer<Scalar>
    @usableFromInline let capacity: Int

    /// Uninitialised memory: every constructor writes all of it before anyone reads it.
    /// 64-byte alignment matches a cache line and the widest SIMD loads OpenBLAS issues.
    @usableFromInline
    init(capacity: Int) {
        // Every BLAS call goes through a tensor, so this is the first moment to make sure
        // OpenBLAS runs the right kernels (a one-time check, then a load of a flag).
        _ = OpenBLAS.repairedCoreSelection
        self.capacity = capacity
        let bytes = max(1, capacity) * MemoryLayout<Scalar>.stride
        base = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            .bindMemory(to: Scalar.self, capacity: max(1, capacity))
    }

    deinit { UnsafeMutableRawPointer(base).deallocate() }
}

/// A dense, row-major array of Float or Double of any rank, with value semantics.
///
/// Storage is shared between copies until one of them is mutated (copy-on-write, checked
/// with `isKnownUniquelyReferenced`). A tensor views a contiguous run of its storage, which
/// is what lets ``rows(_:)`` hand out a mini-batch without copying.
///
/// ```swift
/// let a = Tensor<Double>([[1, 2], [3, 4]])
/// let b = matmul(a, a, transposeB: true)      // a·aᵀ through GEMM, aᵀ never formed
/// print(b)                                   // [[5, 11], [11, 25]]
/// ```
public struct Tensor<Scalar: BLASScalar>: @unchecked Sendable {
    @usableFromInline var storage: TensorStorage<Scalar>
    @usableFromInline var offset: Int
    /// The extent of each axis, outermost first.
    public private(set) var shape: [Int]
    /// The number of elements, the product of `shape`.
    public let count: Int

    @usableFromInline
    init(storage: TensorStorage<Scalar>, offset: Int, shape: [Int], count: Int) {
        self.storage = storage
        self.offset = offset
        self.shape = shape
        self.count = count
    }

    /// A tensor whose elements are not yet written. Internal: callers must fill every element.
    @usableFromInline
    init(uninitializedShape shape: [Int]) {
        let count = Tensor.elementCount(of: shape)
        self.init(storage: TensorStorage(capacity: count), offset: 0, shape: shape, count: count)
    }

    @usableFromInline
    static func elementCount(of shape: [Int]) -> Int {
        var count = 1
        for extent in shape {
            guard extent >= 0 else { fatalError("negative extent in shape \(shape)") }
            let (product, overflow) = count.multipliedReportingOverflow(by: extent)
            guard !overflow, product <= Int.max / MemoryLayout<Scalar>.stride else {
                fatalError("shape \(shape) has too many elements to address")
            }
            count = product
        }
        return count
    }

    /// The number of axes.
    public var rank: Int { shape.count }

    /// Rows of a matrix (the first axis). Stops on a tensor that is not rank 2.
    public var rows: Int {
        requireRank(2, "rows")
        return shape[0]
    }

    /// Columns of a matrix (the second axis). Stops on a tensor that is not rank 2.
    public var columns: Int {
        requireRank(2, "columns")
        return shape[1]
    }

    @inlinable
    func requireRank(_ expected: Int, _ operation: String) {
        if shape.count != expected {
            fatalError("\(operation): expected a rank-\(expected) tensor, got shape \(shape)")
        }
    }

    // MARK: Access to the elements

    /// Calls `body` with the elements in row-major order.
    @inlinable
    public func withUnsafeBufferPointer<R>(
        _ body: (UnsafeBufferPointer<Scalar>) throws -> R
    ) rethrows -> R {
        try body(UnsafeBufferPointer(start: storage.base + offset, count: count))
    }

    /// Calls `body` with writable elements, first copying them if the storage is shared.
    @inlinable
    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (UnsafeMutableBufferPointer<Scalar>) throws -> R
    ) rethrows -> R {
        makeUnique()
        return try body(UnsafeMutableBufferPointer(start: storage.base + offset, count: count))
    }

    @inlinable
    mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) {
            let fresh = TensorStorage<Scalar>(capacity: count)
            fresh.base.initialize(from: storage.base + offset, count: count)
            storage = fresh
            offset = 0
        }
    }

    /// The address of the first element, read-only, for the package's hot loops that keep
    /// pointers across BLAS calls (`@_spi(RawBLAS) import TensorAlgebra`).
    ///
    /// Valid as long as this tensor is neither mutated (which may copy a shared buffer) nor
    /// released. Read-only on purpose: a writable pointer from a non-mutating getter would let
    /// a write through one copy show up in every copy sharing the storage.
    @_spi(RawBLAS)
    public var unsafeReadAddress: UnsafePointer<Scalar> { UnsafePointer(storage.base + offset) }

    /// Copies the storage if it is shared, so this tensor owns it alone, and returns the
    /// address of its first element for writing.
    ///
    /// Writes through the address reach this tensor only while it is not copied: a copy made
    /// afterwards shares the storage again and would see them. Prefer
    /// ``withUnsafeMutableBufferPointer(_:)``, which scopes the pointer.
    @discardableResult
    @_spi(RawBLAS) public mutating func makeUniqueStorage() -> UnsafeMutablePointer<Scalar> {
        makeUnique()
        return storage.base + offset
    }

    /// The elements in row-major order, as a new array.
    public var scalars: [Scalar] { withUnsafeBufferPointer { Array($0) } }

    /// The single element of a tensor with one element.
    public var scalar: Scalar {
        if count != 1 { fatalError("scalar: tensor of shape \(shape) has \(count) elements") }
        return storage.base[offset]
    }

    @usableFromInline
    func flatIndex(_ indices: [Int]) -> Int {
        if indices.count != shape.count {
            fatalError("index \(indices) has \(indices.count) components for shape \(shape)")
        }
        var flat = 0
        for (index, extent) in zip(indices, shape) {
            if index < 0 || index >= extent {
                fatalError("index \(indices) is out of bounds for shape \(shape)")
            }
            flat = flat * extent + index
        }
        return flat
    }

    /// The element at a full index, one component per axis.
    public subscript(_ indices: Int...) -> Scalar {
        get { storage.base[offset + flatIndex(indices)] }
        set {
            let flat = flatIndex(indices)
            makeUnique()
            storage.base[offset + flat] = newValue
        }
    }

    // MARK: Views

    /// Rows `range` of the first axis, sharing storage: a mini-batch costs no copy.
    public func rows(_ range: Range<Int>) -> Tensor {
        if shape.isEmpty || range.lowerBound < 0 || range.upperBound > shape[0] {
            fatalError("rows \(range) out of bounds for shape \(shape)")
        }
        let rowSize = shape.count == 1 ? 1 : shape.dropFirst().reduce(1, *)
        var newShape = shape
        newShape[0] = range.count
        return Tensor(
            storage: storage, offset: offset + range.lowerBound * rowSize, shape: newShape,
            count: range.count * rowSize)
    }

    /// Row `index` of the first axis, with that axis removed, sharing storage.
    public func row(_ index: Int) -> Tensor {
        var slice = rows(index ..< index + 1)
        slice.shape.removeFirst()
        return slice
    }

    /// The same elements under another shape, sharing storage. One extent may be -1, inferred.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var resolved = newShape
        let inferred = newShape.indices.filter { newShape[$0] == -1 }
        if inferred.count > 1 { fatalError("reshape \(shape) to \(newShape): more than one -1") }
        if let axis = inferred.first {
            let known = newShape.enumerated().filter { $0.offset != axis }.map(\.element)
                .reduce(1, *)
            if known == 0 || count % known != 0 {
                fatalError("reshape: cannot reshape \(shape) to \(newShape)")
            }
            resolved[axis] = count / known
        }
        if resolved.contains(where: { $0 < 0 }) || resolved.reduce(1, *) != count {
            fatalError("reshape: cannot reshape \(shape) (\(count) elements) to \(newShape)")
        }
        return Tensor(storage: storage, offset: offset, shape: resolved, count: count)
    }

    /// The same elements under another shape, sharing storage.
    public func reshaped(_ newShape: Int...) -> Tensor { reshaped(newShape) }

    /// The transpose of a matrix (rank 2), as a new tensor: element [i, j] moves to [j, i].
    ///
    /// Products never need it: pass `transposeA`/`transposeB` to
    /// ``matmul(_:_:transposeA:transposeB:alpha:)`` instead, which costs no copy.
    public func transposed() -> Tensor {
        requireRank(2, "transposed")
        let (m, n) = (shape[0], shape[1])
        let result = Tensor(uninitializedShape: [n, m])
        let source = storage.base + offset
        let target = result.storage.base
        // Blocked so both sides stay in cache for large matrices.
        let block = 32
        for i0 in stride(from: 0, to: m, by: block) {
            for j0 in stride(from: 0, to: n, by: block) {
                for i in i0 ..< Swift.min(i0 + block, m) {
                    for j in j0 ..< Swift.min(j0 + block, n) {
                        target[j * m + i] = source[i * n + j]
                    }
                }
            }
        }
        return result
    }

    /// The same values in another precision.
    public func converted<Other: BLASScalar>(to: Other.Type = Other.self) -> Tensor<Other> {
        let result = Tensor<Other>(uninitializedShape: shape)
        let target = result.storage.base
        withUnsafeBufferPointer { source in
            for i in 0 ..< count { target[i] = Other(source[i]) }
        }
        return result
    }
}

extension Tensor: Equatable {
    /// Same shape and exactly the same elements.
    public static func == (lhs: Tensor, rhs: Tensor) -> Bool {
        lhs.shape == rhs.shape
            && lhs.withUnsafeBufferPointer { l in
                rhs.withUnsafeBufferPointer { r in l.elementsEqual(r) }
            }
    }
}

extension Tensor: CustomStringConvertible {
    /// Nested brackets like numpy, for small tensors in logs and tests.
    public var description: String {
        let values = scalars
        func render(_ axis: Int, _ start: Int) -> String {
            if axis == shape.count { return "\(values[start])" }
            let stride = shape[(axis + 1)...].reduce(1, *)
            let parts = (0 ..< shape[axis]).map { render(axis + 1, start + $0 * stride) }
            return "[" + parts.joined(separator: ", ") + "]"
        }
        return render(0, 0)
    }
}
