// Convolutions (PyTorch's cross-correlation, batch first: NCL / NCHW) through OpenBLAS GEMM.
//
// Each sample's receptive fields are unfolded into a caller-owned column buffer (im2col,
// [C·kh·kw, oh·ow]) and multiplied by the weight seen as a matrix [O, C·kh·kw]: one GEMM per
// sample, written straight into that sample's [O, oh·ow] block of the NCHW output, so no
// transpose follows. A batched GEMM over [C·kh·kw, B·oh·ow] columns would need B times the
// buffer and an NCHW ↔ CNHW shuffle of the output; per sample keeps the buffer small (it stays
// in cache: 9·32 × 676 floats for the second layer of a 28×28 CNN) and the products are still
// GEMMs of hundreds by hundreds. A 1-D convolution is the 2-D one with height 1.

/// The im2col buffer shape for one sample: `[inputChannels·taps, outputPlane]`.
public func convolutionColumnsShape(inputChannels: Int, geometry: WindowGeometry) -> [Int] {
    [inputChannels * geometry.kernelTaps, geometry.outputPlane]
}

@usableFromInline
struct ConvolutionShapes {
    let batch, inputChannels, outputChannels: Int
    let columnRows: Int
}

/// Checks every shape against the geometry (programmer misuse stops, naming both shapes).
@usableFromInline
func convolutionShapes<Scalar>(
    _ operation: String, input: [Int], weight: Tensor<Scalar>, output: [Int], columns: Tensor<Scalar>, geometry g: WindowGeometry
) -> ConvolutionShapes {
    let rank = g.spatialRank
    requireShape(weight.rank == rank + 2 && Array(weight.shape.dropFirst(2)) == g.kernel,
            "\(operation): weight has shape \(weight.shape), expected [out, in] + kernel \(g.kernel)")
    let (outputChannels, inputChannels) = (weight.shape[0], weight.shape[1])
    requireShape(input.count == rank + 2 && input[1] == inputChannels && Array(input.dropFirst(2)) == g.inputSize,
            "\(operation): input has shape \(input), expected [batch, \(inputChannels)] + \(g.inputSize) for weight \(weight.shape)")
    let batch = input[0]
    requireShape(output == [batch, outputChannels] + g.outputSize,
            "\(operation): output has shape \(output), expected \([batch, outputChannels] + g.outputSize)")
    let columnsShape = convolutionColumnsShape(inputChannels: inputChannels, geometry: g)
    requireShape(columns.shape == columnsShape, "\(operation): column buffer has shape \(columns.shape), expected \(columnsShape)")
    return ConvolutionShapes(batch: batch, inputChannels: inputChannels, outputChannels: outputChannels, columnRows: columnsShape[0])
}

@usableFromInline
func requireShape(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}

/// Unfolds one sample's receptive fields: columns[(c·kh + i)·kw + j, y·ow + x] = input[c, y·sh − ph + i·dh, x·sw − pw + j·dw],
/// zero outside the input.
@usableFromInline
func im2col<Scalar: BLASScalar>(_ x: UnsafePointer<Scalar>, channels: Int, _ g: WindowGeometry, into columns: UnsafeMutablePointer<Scalar>) {
    let plane = g.outputPlane
    for c in 0 ..< channels {
        let xc = x + c * g.h * g.w
        for i in 0 ..< g.kh {
            for j in 0 ..< g.kw {
                let row = columns + ((c * g.kh + i) * g.kw + j) * plane
                for y in 0 ..< g.oh {
                    let iy = y * g.sh - g.ph + i * g.dh
                    let out = row + y * g.ow
                    if iy < 0 || iy >= g.h {
                        out.update(repeating: 0, count: g.ow)
                        continue
                    }
                    let xr = xc + iy * g.w
                    for xo in 0 ..< g.ow {
                        let ix = xo * g.sw - g.pw + j * g.dw
                        out[xo] = ix >= 0 && ix < g.w ? xr[ix] : 0
                    }
                }
            }
        }
    }
}

/// The adjoint of ``im2col``: adds every column entry back onto the input position it came
/// from (into a zeroed `x`).
@usableFromInline
func col2im<Scalar: BLASScalar>(_ columns: UnsafePointer<Scalar>, channels: Int, _ g: WindowGeometry, into x: UnsafeMutablePointer<Scalar>) {
    let plane = g.outputPlane
    x.update(repeating: 0, count: channels * g.h * g.w)
    for c in 0 ..< channels {
        let xc = x + c * g.h * g.w
        for i in 0 ..< g.kh {
            for j in 0 ..< g.kw {
                let row = columns + ((c * g.kh + i) * g.kw + j) * plane
                for y in 0 ..< g.oh {
                    let iy = y * g.sh - g.ph + i * g.dh
                    if iy < 0 || iy >= g.h { continue }
                    let xr = xc + iy * g.w, src = row + y * g.ow
                    for xo in 0 ..< g.ow {
                        let ix = xo * g.sw - g.pw + j * g.dw
                        if ix >= 0 && ix < g.w { xr[ix] += src[xo] }
                    }
                }
            }
        }
    }
}

/// output ← conv(input, weight) + bias for a batch: input `[B, C] + inputSize`, weight
/// `[O, C] + kernel` (PyTorch's layout), bias `[O]` or nil, output `[B, O] + outputSize`;
/// `columns` is the caller's im2col buffer of ``convolutionColumnsShape(inputChannels:geometry:)``,
/// reused for every sample (its contents are scratch).
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func convolution<Scalar: BLASScalar>(
    _ input: Tensor<Scalar>, weight: Tensor<Scalar>, bias: Tensor<Scalar>?, geometry g: WindowGeometry,
    columns: inout Tensor<Scalar>, into output: inout Tensor<Scalar>
) {
    let s = convolutionShapes("convolution", input: input.shape, weight: weight, output: output.shape, columns: columns, geometry: g)
    if let bias { requireShape(bias.shape == [s.outputChannels], "convolution: bias has shape \(bias.shape), expected [\(s.outputChannels)]") }
    let plane = g.outputPlane, inputStride = s.inputChannels * g.inputPlane, outputStride = s.outputChannels * plane
    let x = input.storage.base + input.offset, w = weight.storage.base + weight.offset
    let col = columns.makeUniqueStorage(), y = output.makeUniqueStorage()
    for b in 0 ..< s.batch {
        im2col(x + b * inputStride, channels: s.inputChannels, g, into: col)
        let yb = y + b * outputStride
        if let bias {
            let bp = bias.storage.base + bias.offset
            for o in 0 ..< s.outputChannels { (yb + o * plane).update(repeating: bp[o], count: plane) }
        }
        blasGEMM(transposeA: false, transposeB: false, m: s.outputChannels, n: plane, k: s.columnRows,
                 alpha: 1, a: w, lda: s.columnRows, b: col, ldb: plane, beta: bias == nil ? 0 : 1, c: yb, ldc: plane)
    }
}

/// inputGradient ← convᵀ(outputGradient): the gradient with respect to the input (the
/// adjoint of the bias-free ``convolution(_:weight:bias:geometry:columns:into:)``), per sample
/// columns = Wᵀ·G then col2im. `outputGradient` may have another batch size than the forward
/// pass; `inputGradient` has its batch size.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func convolutionInputGradient<Scalar: BLASScalar>(
    _ outputGradient: Tensor<Scalar>, weight: Tensor<Scalar>, geometry g: WindowGeometry,
    columns: inout Tensor<Scalar>, into inputGradient: inout Tensor<Scalar>
) {
    let s = convolutionShapes("convolutionInputGradient", input: inputGradient.shape, weight: weight, output: outputGradient.shape, columns: columns, geometry: g)
    let plane = g.outputPlane, inputStride = s.inputChannels * g.inputPlane, outputStride = s.outputChannels * plane
    let gy = outputGradient.storage.base + outputGradient.offset, w = weight.storage.base + weight.offset
    let col = columns.makeUniqueStorage(), dx = inputGradient.makeUniqueStorage()
    for b in 0 ..< s.batch {
        blasGEMM(transposeA: true, transposeB: false, m: s.columnRows, n: plane, k: s.outputChannels,
                 alpha: 1, a: w, lda: s.columnRows, b: gy + b * outputStride, ldb: plane, beta: 0, c: col, ldc: plane)
        col2im(col, channels: s.inputChannels, g, into: dx + b * inputStride)
    }
}

/// weightGradient ← Σ_b G_b·columns(x_b)ᵀ (written, not accumulated): the gradient of
/// ⟨outputGradient, conv(input)⟩ with respect to the weight `[O, C] + kernel`.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func convolutionWeightGradient<Scalar: BLASScalar>(
    input: Tensor<Scalar>, outputGradient: Tensor<Scalar>, geometry g: WindowGeometry,
    columns: inout Tensor<Scalar>, into weightGradient: inout Tensor<Scalar>
) {
    let s = convolutionShapes("convolutionWeightGradient", input: input.shape, weight: weightGradient, output: outputGradient.shape, columns: columns, geometry: g)
    let plane = g.outputPlane, inputStride = s.inputChannels * g.inputPlane, outputStride = s.outputChannels * plane
    let x = input.storage.base + input.offset, gy = outputGradient.storage.base + outputGradient.offset
    let col = columns.makeUniqueStorage(), dw = weightGradient.makeUniqueStorage()
    if s.batch == 0 { dw.update(repeating: 0, count: weightGradient.count) }
    for b in 0 ..< s.batch {
        im2col(x + b * inputStride, channels: s.inputChannels, g, into: col)
        // β = 1 after the first sample sums the batch in place, without a temporary.
        blasGEMM(transposeA: false, transposeB: true, m: s.outputChannels, n: s.columnRows, k: plane,
                 alpha: 1, a: gy + b * outputStride, lda: plane, b: col, ldb: plane, beta: b == 0 ? 0 : 1, c: dw, ldc: s.columnRows)
    }
}

/// biasGradient ← Σ_b Σ_positions G[b, o, …] for an output gradient `[B, O] + outputSize`
/// into `[O]` (written, not accumulated).
public func convolutionBiasGradient<Scalar: BLASScalar>(_ outputGradient: Tensor<Scalar>, into biasGradient: inout Tensor<Scalar>) {
    requireShape(outputGradient.rank >= 2 && biasGradient.shape == [outputGradient.shape[1]],
                 "convolutionBiasGradient: bias gradient has shape \(biasGradient.shape), output gradient \(outputGradient.shape)")
    let (batch, channels) = (outputGradient.shape[0], outputGradient.shape[1])
    let plane = outputGradient.shape.dropFirst(2).reduce(1, *)
    let gy = outputGradient.storage.base + outputGradient.offset, db = biasGradient.makeUniqueStorage()
    for o in 0 ..< channels {
        var sum: Scalar = 0
        for b in 0 ..< batch {
            let row = gy + (b * channels + o) * plane
            for p in 0 ..< plane { sum += row[p] }
        }
        db[o] = sum
    }
}

// MARK: Allocating conveniences (tests, one-off calls)

/// `conv2d` / `conv1d` as PyTorch's functional form: input `[B, C] + size`, weight
/// `[O, C] + kernel`; stops with the geometry's one line when the window does not fit.
public func convolution<Scalar: BLASScalar>(
    _ input: Tensor<Scalar>, weight: Tensor<Scalar>, bias: Tensor<Scalar>? = nil,
    stride: [Int]? = nil, padding: [Int]? = nil, dilation: [Int]? = nil
) -> Tensor<Scalar> {
    requireShape(input.rank >= 3, "convolution: input has shape \(input.shape), expected [batch, channels] + [L] or [H, W]")
    let g: WindowGeometry
    do { g = try WindowGeometry(inputSize: Array(input.shape.dropFirst(2)), kernel: Array(weight.shape.dropFirst(2)), stride: stride, padding: padding, dilation: dilation) } catch {
        fatalError("convolution: \(error)")
    }
    var columns = Tensor<Scalar>.zeros(convolutionColumnsShape(inputChannels: input.shape[1], geometry: g))
    var output = Tensor<Scalar>.zeros([input.shape[0], weight.shape[0]] + g.outputSize)
    convolution(input, weight: weight, bias: bias, geometry: g, columns: &columns, into: &output)
    return output
}
