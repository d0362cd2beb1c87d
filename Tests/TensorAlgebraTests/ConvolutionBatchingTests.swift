import Testing
import TensorAlgebra

// The batched lowering (several samples' columns side by side in one GEMM, the output staged
// channel-major and put back in NCHW) against the one-sample lowering, sample by sample; and
// the 2×2 max pool's own loop against a plain loop over windows.
//
// Tolerance: both sides sum the same C·kh·kw products per output in Double (the weight
// gradient also ~10³ terms over positions and samples, in another grouping): rounding
// ~1e-15 relative per term, so 1e-12 relative leaves a wide margin; the forward pass and the
// input gradient group their sums the same way on both sides, and are compared at 1e-12 too.

/// max |a − b| / max(1, max |b|).
private func relativeError(_ a: Tensor<Double>, _ b: Tensor<Double>) -> Double {
    #expect(a.shape == b.shape)
    let scale = max(1, b.scalars.map(\.magnitude).max() ?? 0)
    return zip(a.scalars, b.scalars).map { ($0 - $1).magnitude }.max()! / scale
}

struct ConvolutionBatchingTests {
    /// Batch 7 against 1, 3, 7 and 16 samples per product: chunks that divide the batch, one
    /// that leaves a remainder, the whole batch, and more than the batch.
    @Test(arguments: [([7, 3, 9, 8], [4, 3, 3, 2], [1, 1], [0, 0], [1, 1]), ([7, 2, 11, 6], [5, 2, 3, 3], [2, 1], [1, 2], [2, 1]),
                      ([7, 3, 17], [4, 3, 4], [2], [1], [1])])
    func batchedProductsAgreeWithOneSampleAtATime(_ xShape: [Int], _ wShape: [Int], _ stride: [Int], _ padding: [Int], _ dilation: [Int]) throws {
        var generator = SeededGenerator(seed: 11)
        let x = Tensor<Double>.randomNormal(xShape, using: &generator), w = Tensor<Double>.randomNormal(wShape, using: &generator)
        let bias = Tensor<Double>.randomNormal([wShape[0]], using: &generator)
        let g = try WindowGeometry(inputSize: Array(xShape.dropFirst(2)), kernel: Array(wShape.dropFirst(2)), stride: stride, padding: padding,
                                   dilation: dilation)
        let outputShape = [xShape[0], wShape[0]] + g.outputSize
        let u = Tensor<Double>.randomNormal(outputShape, using: &generator)
        func passes(_ columnsShape: [Int]) -> [Tensor<Double>] {
            var columns = Tensor<Double>.zeros(columnsShape)
            var y = Tensor<Double>.zeros(outputShape), dx = Tensor<Double>.zeros(xShape), dw = Tensor<Double>.zeros(wShape)
            convolution(x, weight: w, bias: bias, geometry: g, columns: &columns, into: &y)
            convolutionInputGradient(u, weight: w, geometry: g, columns: &columns, into: &dx)
            convolutionWeightGradient(input: x, outputGradient: u, geometry: g, columns: &columns, into: &dw)
            return [y, dx, dw]
        }
        let reference = passes(convolutionColumnsShape(inputChannels: xShape[1], geometry: g))
        for samples in [1, 3, 7, 16] {
            let batched = passes(convolutionColumnsShape(inputChannels: xShape[1], outputChannels: wShape[0], geometry: g, samplesPerProduct: samples))
            let errors = zip(batched, reference).map { relativeError($0, $1) }
            #expect(errors.allSatisfy { $0 <= 1e-12 }, "\(samples) samples per product: output, dx, dw errors \(errors)")
        }
    }

    /// The 2×2, stride-2 pool (its own loop) against a plain loop over every window, on odd
    /// sizes (floor mode drops the last row and column), with ties (the first maximum in scan
    /// order wins), −∞ and NaNs (the first NaN of a window wins), in Float and Double.
    @Test func twoByTwoMaxPoolAgreesWithAPlainLoop() throws {
        var generator = SeededGenerator(seed: 5)
        var x = Tensor<Double>.randomNormal([3, 2, 7, 9], using: &generator).map { ($0 * 2).rounded() }  // many ties
        x[0, 0, 0, 1] = .nan
        x[0, 1, 2, 2] = -.infinity
        x[1, 0, 3, 3] = .nan
        x[1, 0, 4, 4] = .nan
        x[2, 1, 5, 6] = .nan
        let w = 9, (oh, ow) = (3, 4)  // 7×9 → 3×4
        var expectedY = Tensor<Double>.zeros([3, 2, oh, ow]), expectedWinners = expectedY
        for b in 0 ..< 3 {
            for c in 0 ..< 2 {
                for oy in 0 ..< oh {
                    for ox in 0 ..< ow {
                        var best = x[b, c, 2 * oy, 2 * ox], at = 2 * oy * w + 2 * ox
                        scan: for (i, j) in [(0, 1), (1, 0), (1, 1)] {
                            if best.isNaN { break scan }
                            let v = x[b, c, 2 * oy + i, 2 * ox + j]
                            if v > best || v.isNaN { best = v; at = (2 * oy + i) * w + 2 * ox + j }
                        }
                        expectedY[b, c, oy, ox] = best
                        expectedWinners[b, c, oy, ox] = Double(at)
                    }
                }
            }
        }
        let (y, winners) = maxPool(x, kernel: [2, 2])
        #expect(winners == expectedWinners)
        #expect(zip(y.scalars, expectedY.scalars).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) })
        let (yFloat, winnersFloat) = maxPool(x.converted(to: Float.self), kernel: [2, 2])
        #expect(winnersFloat == expectedWinners.converted(to: Float.self))
        #expect(zip(yFloat.scalars, expectedY.scalars).allSatisfy { Double($0) == $1 || ($0.isNaN && $1.isNaN) })
    }
}
