import Foundation
import Testing
import TensorAlgebra
import FileFormats

// Convolutions and pools against PyTorch (Scripts/make_conv_fixtures.py: F.conv2d, conv1d,
// max_pool2d/1d, avg_pool2d/1d and their autograd gradients, in float64), and exact identities
// that need no reference: a Dirac kernel is the identity; ⟨conv(x), y⟩ = ⟨x, convᵀ(y)⟩.
//
// Tolerances: every output is a sum of at most C·kh·kw = 18 products of O(1) numbers, so the
// rounding error is ~18 ulps of the largest magnitude: 1e-12 relative leaves 100× margin in
// Double; in Float (inputs rounded from the float64 fixtures) 18·2⁻²⁴ ≈ 1e-6, bound 1e-5.

func convFixture<Scalar: BLASScalar>(_ tag: String, _ name: String, as _: Scalar.Type = Scalar.self) throws -> Tensor<Scalar> {
    let url = Bundle.module.url(forResource: "\(tag)_\(name)", withExtension: "npy", subdirectory: "Fixtures/conv")!
    return try Tensor<Double>(contentsOfNumpyFile: url).converted(to: Scalar.self)
}

/// max |a − b| / max(1, max |b|), with the shapes checked.
func worstError<Scalar: BLASScalar>(_ a: Tensor<Scalar>, _ b: Tensor<Scalar>) -> Double {
    #expect(a.shape == b.shape)
    guard a.shape == b.shape else { return .infinity }
    let scale = max(1, b.scalars.reduce(0) { max($0, Double($1.magnitude)) })
    return zip(a.scalars, b.scalars).reduce(0) { max($0, Double(($1.0 - $1.1).magnitude)) } / scale
}

struct ConvolutionCase: Sendable, CustomStringConvertible {
    let tag: String
    let stride: [Int], padding: [Int], dilation: [Int]
    var description: String { tag }
}

let convolutionCases = [
    ConvolutionCase(tag: "conv2d_strided", stride: [2, 1], padding: [1, 0], dilation: [1, 1]),
    ConvolutionCase(tag: "conv2d_dilated", stride: [1, 1], padding: [2, 2], dilation: [2, 2]),
    ConvolutionCase(tag: "conv1d_strided", stride: [2], padding: [1], dilation: [1]),
]

func checkConvolution<Scalar: BLASScalar>(_ c: ConvolutionCase, as _: Scalar.Type, tolerance: Double) throws {
    let x: Tensor<Scalar> = try convFixture(c.tag, "x"), w: Tensor<Scalar> = try convFixture(c.tag, "w")
    let b: Tensor<Scalar> = try convFixture(c.tag, "b"), cot: Tensor<Scalar> = try convFixture(c.tag, "c")
    let g = try WindowGeometry(inputSize: Array(x.shape.dropFirst(2)), kernel: Array(w.shape.dropFirst(2)),
                               stride: c.stride, padding: c.padding, dilation: c.dilation)
    var columns = Tensor<Scalar>.zeros(convolutionColumnsShape(inputChannels: x.shape[1], geometry: g))
    var y = Tensor<Scalar>.zeros([x.shape[0], w.shape[0]] + g.outputSize)
    convolution(x, weight: w, bias: b, geometry: g, columns: &columns, into: &y)
    var dx = Tensor<Scalar>.zeros(x.shape), dw = Tensor<Scalar>.zeros(w.shape), db = Tensor<Scalar>.zeros(b.shape)
    convolutionInputGradient(cot, weight: w, geometry: g, columns: &columns, into: &dx)
    convolutionWeightGradient(input: x, outputGradient: cot, geometry: g, columns: &columns, into: &dw)
    convolutionBiasGradient(cot, into: &db)
    let errors = [worstError(y, try convFixture(c.tag, "y")), worstError(dx, try convFixture(c.tag, "dx")),
                  worstError(dw, try convFixture(c.tag, "dw")), worstError(db, try convFixture(c.tag, "db"))]
    #expect(errors.allSatisfy { $0 <= tolerance }, "\(c) \(Scalar.self): output, dx, dw, db errors \(errors)")
    print("\(c) \(Scalar.self): relative errors output \(errors[0]), dx \(errors[1]), dw \(errors[2]), db \(errors[3])")
    // The allocating form agrees with the in-place one.
    #expect(convolution(x, weight: w, bias: b, stride: c.stride, padding: c.padding, dilation: c.dilation) == y)
}

@Suite struct ConvolutionTests {
    @Test(arguments: convolutionCases) func float64AgreesWithPyTorch(_ c: ConvolutionCase) throws {
        try checkConvolution(c, as: Double.self, tolerance: 1e-12)
    }

    @Test(arguments: convolutionCases) func float32AgreesWithPyTorch(_ c: ConvolutionCase) throws {
        try checkConvolution(c, as: Float.self, tolerance: 1e-5)
    }

    /// A kernel with one 1 at its centre on the diagonal of the channels, padded to keep the
    /// size, copies its input exactly (every output is one product by 1 plus zeros).
    @Test func diracKernelIsTheIdentity() throws {
        var generator = SeededGenerator(seed: 3)
        let x = Tensor<Float>.randomNormal([2, 3, 6, 5], using: &generator)
        var w = Tensor<Float>.zeros([3, 3, 3, 5])
        w.withUnsafeMutableBufferPointer { p in
            for c in 0 ..< 3 { p[((c * 3 + c) * 3 + 1) * 5 + 2] = 1 }
        }
        #expect(convolution(x, weight: w, padding: [1, 2]) == x)
        let x1 = Tensor<Double>.randomNormal([2, 2, 9], using: &generator)
        var w1 = Tensor<Double>.zeros([2, 2, 3])
        w1.withUnsafeMutableBufferPointer { p in p[0 * 6 + 0 * 3 + 1] = 1; p[1 * 6 + 1 * 3 + 1] = 1 }
        #expect(convolution(x1, weight: w1, padding: [1]) == x1)
    }

    /// ⟨conv(x), y⟩ = ⟨x, convᵀ(y)⟩: the input gradient is the adjoint of the bias-free
    /// convolution. Both sides sum ~10³ products in Double: 1e-12 relative.
    @Test(arguments: [([2, 3, 9, 8], [4, 3, 3, 2], [2, 3], [1, 2], [2, 1]), ([3, 2, 17], [5, 2, 4], [3], [2], [2])])
    func inputGradientIsTheAdjoint(_ shapes: ([Int], [Int], [Int], [Int], [Int])) throws {
        let (xShape, wShape, stride, padding, dilation) = shapes
        var generator = SeededGenerator(seed: 9)
        let x = Tensor<Double>.randomNormal(xShape, using: &generator), w = Tensor<Double>.randomNormal(wShape, using: &generator)
        let g = try WindowGeometry(inputSize: Array(xShape.dropFirst(2)), kernel: Array(wShape.dropFirst(2)),
                                   stride: stride, padding: padding, dilation: dilation)
        var columns = Tensor<Double>.zeros(convolutionColumnsShape(inputChannels: xShape[1], geometry: g))
        var y = Tensor<Double>.zeros([xShape[0], wShape[0]] + g.outputSize)
        convolution(x, weight: w, bias: nil, geometry: g, columns: &columns, into: &y)
        let u = Tensor<Double>.randomNormal(y.shape, using: &generator)
        var back = Tensor<Double>.zeros(xShape)
        convolutionInputGradient(u, weight: w, geometry: g, columns: &columns, into: &back)
        let left = zip(y.scalars, u.scalars).reduce(0) { $0 + $1.0 * $1.1 }
        let right = zip(x.scalars, back.scalars).reduce(0) { $0 + $1.0 * $1.1 }
        #expect(abs(left - right) <= 1e-12 * max(abs(left), 1), "⟨conv x, u⟩ = \(left), ⟨x, convᵀ u⟩ = \(right)")
    }

    @Test(arguments: ["maxpool2d", "maxpool1d"]) func maxPoolAgreesWithPyTorch(_ tag: String) throws {
        let (kernel, stride, padding) = tag == "maxpool2d" ? ([3, 3], [2, 2], [1, 1]) : ([2], [2], [0])
        let x: Tensor<Double> = try convFixture(tag, "x"), c: Tensor<Double> = try convFixture(tag, "c")
        let g = try WindowGeometry(inputSize: Array(x.shape.dropFirst(2)), kernel: kernel, stride: stride, padding: padding)
        let (y, winners) = maxPool(x, kernel: kernel, stride: stride, padding: padding)
        // Maxima are copies and the gradient is a routing, so both are exact.
        #expect(y == (try convFixture(tag, "y")))
        #expect(winners == (try convFixture(tag, "indices")))
        var dx = Tensor<Double>.zeros(x.shape)
        maxPoolGradient(c, winners: winners, geometry: g, into: &dx)
        #expect(dx == (try convFixture(tag, "dx")))
        // J·v at the winners is the transpose of the routing: ⟨J v, c⟩ = ⟨v, Jᵀ c⟩.
        var generator = SeededGenerator(seed: 4)
        let v = Tensor<Double>.randomNormal(x.shape, using: &generator)
        var jv = Tensor<Double>.zeros(y.shape)
        maxPoolTangent(v, winners: winners, geometry: g, into: &jv)
        let left = zip(jv.scalars, c.scalars).reduce(0) { $0 + $1.0 * $1.1 }, right = zip(v.scalars, dx.scalars).reduce(0) { $0 + $1.0 * $1.1 }
        #expect(abs(left - right) <= 1e-12 * max(abs(left), 1))
    }

    @Test(arguments: ["avgpool2d", "avgpool1d"]) func averagePoolAgreesWithPyTorch(_ tag: String) throws {
        let (kernel, stride, padding) = tag == "avgpool2d" ? ([3, 3], [2, 2], [1, 1]) : ([3], [2], [1])
        let x: Tensor<Double> = try convFixture(tag, "x"), c: Tensor<Double> = try convFixture(tag, "c")
        let g = try WindowGeometry(inputSize: Array(x.shape.dropFirst(2)), kernel: kernel, stride: stride, padding: padding)
        let y = averagePool(x, kernel: kernel, stride: stride, padding: padding)
        var dx = Tensor<Double>.zeros(x.shape)
        averagePoolGradient(c, geometry: g, into: &dx)
        let errors = [worstError(y, try convFixture(tag, "y")), worstError(dx, try convFixture(tag, "dx"))]
        #expect(errors.allSatisfy { $0 <= 1e-12 }, "\(tag): \(errors)")
    }

    @Test func globalAveragePoolAgreesWithPyTorch() throws {
        let x: Tensor<Double> = try convFixture("gap2d", "x"), c: Tensor<Double> = try convFixture("gap2d", "c")
        var y = Tensor<Double>.zeros([2, 3]), dx = Tensor<Double>.zeros(x.shape)
        globalAveragePool(x, into: &y)
        globalAveragePoolGradient(c, into: &dx)
        let errors = [worstError(y, try convFixture("gap2d", "y")), worstError(dx, try convFixture("gap2d", "dx"))]
        #expect(errors.allSatisfy { $0 <= 1e-12 }, "\(errors)")
    }

    @Test func geometriesWithoutOutputAreRefusedNamingTheSizes() throws {
        func message(_ body: () throws -> WindowGeometry) -> String {
            do { return "made \(try body())" } catch { return "\(error)" }
        }
        #expect(message { try WindowGeometry(inputSize: [4, 4], kernel: [5, 5]) }
                == "kernel 5×5 exceeds the padded input 4×4 (input 4×4, padding 0×0)")
        #expect(message { try WindowGeometry(inputSize: [4, 4], kernel: [3, 3], dilation: [2, 2]) }
                == "kernel 3×3 (dilated 5×5) exceeds the padded input 4×4 (input 4×4, padding 0×0)")
        #expect(message { try WindowGeometry(inputSize: [4], kernel: [7], padding: [1]) } == "kernel 7 exceeds the padded input 6 (input 4, padding 1)")
        #expect(message { try WindowGeometry(inputSize: [8, 8], kernel: [2, 2], stride: [0, 2]) } == "stride 0×2 has an extent < 1")
        #expect(message { try WindowGeometry(inputSize: [8, 8], kernel: [2, 2], padding: [-1, 0]) } == "padding -1×0 is negative")
        #expect(message { try WindowGeometry(inputSize: [8, 8], kernel: [2]) } == "kernel [2] has 1 entries for the 2-D input 8×8")
        #expect(message { try WindowGeometry(inputSize: [8, 8, 8], kernel: [2, 2, 2]) } == "spatial size [8, 8, 8] has rank 3, expected 1 ([L]) or 2 ([H, W])")
        #expect(message { try WindowGeometry(inputSize: [0, 8], kernel: [1, 1]) } == "input 0×8 is empty")
        // The output size is PyTorch's floor formula.
        #expect(try WindowGeometry(inputSize: [28, 28], kernel: [3, 3]).outputSize == [26, 26])
        #expect(try WindowGeometry(inputSize: [7, 6], kernel: [3, 2], stride: [2, 1], padding: [1, 0]).outputSize == [4, 5])
    }
}
