// Convolutions (PyTorch's cross-correlation, batch first: NCL / NCHW) through OpenBLAS GEMM.
//
// Samples' receptive fields are unfolded into a caller-owned column buffer (im2col) and
// multiplied by the weight seen as a matrix [O, C·kh·kw]. Two lowerings, chosen by the
// buffer's shape:
// * one sample per GEMM ([C·kh·kw, oh·ow]): the product lands straight in that sample's
//   [O, oh·ow] block of the NCHW output, the buffer stays in L2 (288 × 121 floats for the
//   second layer of a 28×28 CNN), and on one thread these products run at the GEMM peak. The
//   layers use it: StackTrainer spends its threads on shards of the batch, each on one thread.
// * several samples per GEMM ([samples, C·kh·kw + O, oh·ow]): their columns side by side, so
//   the products are wide enough for BLAS's own threads; the output comes out channel-major
//   ([O, samples·oh·ow]) and is put back in NCHW (the bias added on the way), the output
//   gradient goes the other way first. bench-gemm --convolution measures both
//   (docs/benchmarks.md).
// A 1-D convolution is the 2-D one with height 1.

/// The im2col buffer shape for one sample at a time: `[inputChannels·taps, outputPlane]`.
public func convolutionColumnsShape(inputChannels: Int, geometry: WindowGeometry) -> [Int] {
    [inputChannels * geometry.kernelTaps, geometry.outputPlane]
}

/// The scratch shape for `samplesPerProduct` samples per GEMM:
/// `[samples, inputChannels·taps + outputChannels, outputPlane]`, their im2col columns side by
/// side and a block where the products' channel-major output (or output gradient) is staged
/// on its way to or from NCHW. One sample per product needs no staging; this shape with
/// `samplesPerProduct` 1 works too.
public func convolutionColumnsShape(inputChannels: Int, outputChannels: Int, geometry: WindowGeometry, samplesPerProduct: Int) -> [Int] {
    [samplesPerProduct, inputChannels * geometry.kernelTaps + outputChannels, geometry.outputPlane]
}

@usableFromInline
struct ConvolutionShapes {
    let batch, inputChannels, outputChannels: Int
    let columnRows: Int
    /// Samples unfolded side by side for one GEMM (1 for the one-sample buffer).
    let samplesPerProduct: Int
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
    let oneSample = convolutionColumnsShape(inputChannels: inputChannels, geometry: g)
    let samples = columns.rank == 3 ? columns.shape[0] : 1
    requireShape(columns.shape == oneSample || (samples >= 1 && columns.shape == convolutionColumnsShape(
                inputChannels: inputChannels, outputChannels: outputChannels, geometry: g, samplesPerProduct: samples)),
            "\(operation): column buffer has shape \(columns.shape), expected \(oneSample) or [samples, \(oneSample[0] + outputChannels), \(oneSample[1])]")
    return ConvolutionShapes(batch: batch, inputChannels: inputChannels, outputChannels: outputChannels, columnRows: oneSample[0],
                             samplesPerProduct: samples)
}

@usableFromInline
func requireShape(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}

/// The output columns `lo ..< hi` of kernel column j whose input column x·sw − pw + j·dw lies
/// inside the input (the others read padding), and that input column's offset at x = 0.
@inline(__always)
func validColumns(_ g: WindowGeometry, _ j: Int) -> (lo: Int, hi: Int, offset: Int) {
    let offset = j * g.dw - g.pw
    let lo = offset >= 0 ? 0 : min(g.ow, (-offset + g.sw - 1) / g.sw)
    let hi = g.w - 1 - offset < 0 ? lo : max(lo, min(g.ow, (g.w - 1 - offset) / g.sw + 1))
    return (lo, hi, offset)
}

/// Unfolds one sample's receptive fields: columns[((c·kh + i)·kw + j)·rowStride + y·ow + x]
/// = input[c, y·sh − ph + i·dh, x·sw − pw + j·dw], zero outside the input. `rowStride` is
/// the output plane for one sample, or a multiple of it when samples sit side by side.
@usableFromInline
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func im2col<Scalar: BLASScalar>(_ x: UnsafePointer<Scalar>, channels: Int, _ g: WindowGeometry, into columns: UnsafeMutablePointer<Scalar>, rowStride: Int) {
    if g.isDenseValid {
        // Stride 1, no padding, no dilation (a CNN's 3×3 layers): every row of a column row
        // is a run of ow inputs, one input row further down each time.
        var row = columns
        for c in 0 ..< channels {
            for i in 0 ..< g.kh {
                for j in 0 ..< g.kw {
                    var (source, target) = (x + ((c &* g.h &+ i) &* g.w &+ j), row)
                    for _ in 0 ..< g.oh {
                        copyRow(source, target, count: g.ow)
                        source += g.w
                        target += g.ow
                    }
                    row += rowStride
                }
            }
        }
        return
    }
    // The valid range of every kernel column is worked out once, so the copies below run
    // without a test per element (contiguous when the stride is 1).
    for j in 0 ..< g.kw {
        let (lo, hi, offset) = validColumns(g, j)
        for c in 0 ..< channels {
            let xc = x + c * g.h * g.w
            for i in 0 ..< g.kh {
                let row = columns + ((c * g.kh + i) * g.kw + j) * rowStride
                for y in 0 ..< g.oh {
                    let iy = y * g.sh - g.ph + i * g.dh
                    let out = row + y * g.ow
                    if iy < 0 || iy >= g.h {
                        zeroRow(out, count: g.ow)
                        continue
                    }
                    let xr = xc + iy * g.w + offset
                    for t in 0 ..< lo { out[t] = 0 }
                    if g.sw == 1 {
                        copyRow(xr + lo, out + lo, count: hi - lo)
                    } else {
                        for t in lo ..< hi { out[t] = xr[t * g.sw] }
                    }
                    for t in hi ..< g.ow { out[t] = 0 }
                }
            }
        }
    }
}

/// The adjoint of ``im2col(_:channels:_:into:rowStride:)``: x ← the sum of every column
/// entry on the input position it came from (x is overwritten).
@usableFromInline
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func col2im<Scalar: BLASScalar>(_ columns: UnsafePointer<Scalar>, rowStride: Int, channels: Int, _ g: WindowGeometry, into x: UnsafeMutablePointer<Scalar>) {
    x.update(repeating: 0, count: channels * g.h * g.w)
    // The order of the additions onto each input is (c, i, j, y), as it always was.
    if g.isDenseValid {
        var row = columns
        for c in 0 ..< channels {
            for i in 0 ..< g.kh {
                for j in 0 ..< g.kw {
                    var (source, target) = (row, x + ((c &* g.h &+ i) &* g.w &+ j))
                    for _ in 0 ..< g.oh {
                        addRow(source, target, count: g.ow)
                        source += g.ow
                        target += g.w
                    }
                    row += rowStride
                }
            }
        }
        return
    }
    for c in 0 ..< channels {
        let xc = x + c * g.h * g.w
        for i in 0 ..< g.kh {
            for j in 0 ..< g.kw {
                let (lo, hi, offset) = validColumns(g, j)
                let row = columns + ((c * g.kh + i) * g.kw + j) * rowStride
                for y in 0 ..< g.oh {
                    let iy = y * g.sh - g.ph + i * g.dh
                    if iy < 0 || iy >= g.h { continue }
                    let xr = xc + iy * g.w + offset, src = row + y * g.ow
                    if g.sw == 1 {
                        addRow(src + lo, xr + lo, count: hi - lo)
                    } else {
                        for t in lo ..< hi { xr[t * g.sw] += src[t] }
                    }
                }
            }
        }
    }
}

/// The batch in chunks of at most `samplesPerProduct` samples: `body(first, count)`.
@inline(__always)
func forEachChunk(_ batch: Int, _ samplesPerProduct: Int, _ body: (_ first: Int, _ count: Int) -> Void) {
    var first = 0
    while first < batch {
        let count = min(samplesPerProduct, batch - first)
        body(first, count)
        first += count
    }
}

/// stage[o, s·plane + p] ← nchw[s, o, p] for `count` samples: the channel-major layout a
/// GEMM over samples side by side reads.
@usableFromInline
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func stageChannelMajor<Scalar: BLASScalar>(_ nchw: UnsafePointer<Scalar>, count: Int, channels: Int, plane: Int, into stage: UnsafeMutablePointer<Scalar>) {
    for s in 0 ..< count {
        for o in 0 ..< channels {
            (stage + o * count * plane + s * plane).update(from: nchw + (s * channels + o) * plane, count: plane)
        }
    }
}

/// nchw[s, o, p] ← stage[o, s·plane + p] + bias[o]: the GEMM's channel-major output back to
/// NCHW, the bias added on the way.
@usableFromInline
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
func unstageChannelMajor<Scalar: BLASScalar>(
    _ stage: UnsafePointer<Scalar>, count: Int, channels: Int, plane: Int, bias: UnsafePointer<Scalar>?, into nchw: UnsafeMutablePointer<Scalar>
) {
    for s in 0 ..< count {
        for o in 0 ..< channels {
            let source = stage + o * count * plane + s * plane, target = nchw + (s * channels + o) * plane
            if let bias {
                let b = bias[o]
                for p in 0 ..< plane { target[p] = source[p] + b }
            } else {
                target.update(from: source, count: plane)
            }
        }
    }
}

/// output ← conv(input, weight) + bias for a batch: input `[B, C] + inputSize`, weight
/// `[O, C] + kernel` (PyTorch's layout), bias `[O]` or nil, output `[B, O] + outputSize`;
/// `columns` is the caller's scratch, of ``convolutionColumnsShape(inputChannels:geometry:)``
/// (one GEMM per sample) or of
/// ``convolutionColumnsShape(inputChannels:outputChannels:geometry:samplesPerProduct:)``
/// (one GEMM per that many samples); its contents are scratch.
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
    let stage = col + s.samplesPerProduct * s.columnRows * plane
    let bp = bias.map { $0.storage.base + $0.offset }
    forEachChunk(s.batch, s.samplesPerProduct) { first, count in
        let width = count * plane
        for k in 0 ..< count {
            im2col(x + (first + k) * inputStride, channels: s.inputChannels, g, into: col + k * plane, rowStride: width)
        }
        let yb = y + first * outputStride
        if count == 1 {
            // One sample's product is already NCHW: straight into the output, onto the bias.
            if let bp { for o in 0 ..< s.outputChannels { (yb + o * plane).update(repeating: bp[o], count: plane) } }
            blasGEMM(transposeA: false, transposeB: false, m: s.outputChannels, n: plane, k: s.columnRows,
                     alpha: 1, a: w, lda: s.columnRows, b: col, ldb: plane, beta: bp == nil ? 0 : 1, c: yb, ldc: plane)
        } else {
            blasGEMM(transposeA: false, transposeB: false, m: s.outputChannels, n: width, k: s.columnRows,
                     alpha: 1, a: w, lda: s.columnRows, b: col, ldb: width, beta: 0, c: stage, ldc: width)
            unstageChannelMajor(stage, count: count, channels: s.outputChannels, plane: plane, bias: bp, into: yb)
        }
    }
}

/// inputGradient ← convᵀ(outputGradient): the gradient with respect to the input (the
/// adjoint of the bias-free ``convolution(_:weight:bias:geometry:columns:into:)``), columns =
/// Wᵀ·G then col2im. `outputGradient` may have another batch size than the forward pass;
/// `inputGradient` has its batch size.
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
    let stage = col + s.samplesPerProduct * s.columnRows * plane
    forEachChunk(s.batch, s.samplesPerProduct) { first, count in
        let width = count * plane
        var gradient = UnsafePointer(gy + first * outputStride)
        if count > 1 {
            stageChannelMajor(gradient, count: count, channels: s.outputChannels, plane: plane, into: stage)
            gradient = UnsafePointer(stage)
        }
        blasGEMM(transposeA: true, transposeB: false, m: s.columnRows, n: width, k: s.outputChannels,
                 alpha: 1, a: w, lda: s.columnRows, b: gradient, ldb: width, beta: 0, c: col, ldc: width)
        for k in 0 ..< count {
            col2im(col + k * plane, rowStride: width, channels: s.inputChannels, g, into: dx + (first + k) * inputStride)
        }
    }
}

/// weightGradient ← Σ_b G_b·columns(x_b)ᵀ (written, not accumulated): the gradient of
/// ⟨outputGradient, conv(input)⟩ with respect to the weight `[O, C] + kernel`, one GEMM per
/// chunk of samples summing over their positions.
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
    let stage = col + s.samplesPerProduct * s.columnRows * plane
    if s.batch == 0 { dw.update(repeating: 0, count: weightGradient.count) }
    forEachChunk(s.batch, s.samplesPerProduct) { first, count in
        let width = count * plane
        for k in 0 ..< count {
            im2col(x + (first + k) * inputStride, channels: s.inputChannels, g, into: col + k * plane, rowStride: width)
        }
        var gradient = UnsafePointer(gy + first * outputStride)
        if count > 1 {
            stageChannelMajor(gradient, count: count, channels: s.outputChannels, plane: plane, into: stage)
            gradient = UnsafePointer(stage)
        }
        // β = 1 after the first chunk sums the batch in place, without a temporary.
        blasGEMM(transposeA: false, transposeB: true, m: s.outputChannels, n: s.columnRows, k: width,
                 alpha: 1, a: gradient, lda: width, b: col, ldb: width, beta: first == 0 ? 0 : 1, c: dw, ldc: s.columnRows)
    }
}

/// biasGradient ← Σ_b Σ_positions G[b, o, …] for an output gradient `[B, O] + outputSize`
/// into `[O]` (written, not accumulated).
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func convolutionBiasGradient<Scalar: BLASScalar>(_ outputGradient: Tensor<Scalar>, into biasGradient: inout Tensor<Scalar>) {
    requireShape(outputGradient.rank >= 2 && biasGradient.shape == [outputGradient.shape[1]],
                 "convolutionBiasGradient: bias gradient has shape \(biasGradient.shape), output gradient \(outputGradient.shape)")
    let (batch, channels) = (outputGradient.shape[0], outputGradient.shape[1])
    let plane = outputGradient.shape.dropFirst(2).reduce(1, *)
    let gy = outputGradient.storage.base + outputGradient.offset, db = biasGradient.makeUniqueStorage()
    db.update(repeating: 0, count: channels)
    for b in 0 ..< batch {
        for o in 0 ..< channels {
            db[o] += rowSum(gy + (b * channels + o) * plane, count: plane)
        }
    }
}

/// Σ row[0 ..< count] in eight interleaved partial sums (so the loop vectorises; strict
/// floating-point order would otherwise keep it one addition at a time).
@inline(__always)
func rowSum<Scalar: BLASScalar>(_ row: UnsafePointer<Scalar>, count: Int) -> Scalar {
    var (s0, s1, s2, s3, s4, s5, s6, s7) = (Scalar.zero, Scalar.zero, Scalar.zero, Scalar.zero, Scalar.zero, Scalar.zero, Scalar.zero, Scalar.zero)
    var p = 0
    while p + 8 <= count {
        s0 += row[p]; s1 += row[p + 1]; s2 += row[p + 2]; s3 += row[p + 3]
        s4 += row[p + 4]; s5 += row[p + 5]; s6 += row[p + 6]; s7 += row[p + 7]
        p += 8
    }
    var tail = Scalar.zero
    while p < count { tail += row[p]; p += 1 }
    return ((s0 + s4) + (s1 + s5)) + ((s2 + s6) + (s3 + s7)) + tail
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
