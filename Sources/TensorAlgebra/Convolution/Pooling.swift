// Max, average and global average pooling over NCL / NCHW batches, PyTorch's conventions
// (floor mode; max pooling pads with −∞ and takes the first maximum in scan order, NaN wins;
// average pooling counts the zero padding, `count_include_pad=True`). Each channel plane is
// pooled on its own, so the loops run over planes; there is nothing for GEMM to do here.

/// Checks that input and output are `[B, C] + size` for the geometry, returns B·C.
func poolPlanes(_ operation: String, input: [Int], output: [Int], geometry g: WindowGeometry) -> Int {
    requireShape(input.count == g.spatialRank + 2 && Array(input.dropFirst(2)) == g.inputSize,
                 "\(operation): input has shape \(input), expected [batch, channels] + \(g.inputSize)")
    requireShape(output == Array(input.prefix(2)) + g.outputSize,
                 "\(operation): output has shape \(output), expected \(Array(input.prefix(2)) + g.outputSize)")
    return input[0] * input[1]
}

/// output ← the maximum of every window, and winners ← where it was: the flat index within
/// its channel plane (y·W + x, as PyTorch's `return_indices`), stored as a scalar of the
/// output's shape so it can live in a layer's pattern (exact up to 2²⁴ positions per plane in
/// Float). A window wholly in the padding has no winner (−1) and outputs −∞, which PyTorch
/// also refuses (padding ≤ kernel / 2 rules it out; the layers check it).
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func maxPool<Scalar: BLASScalar>(
    _ input: Tensor<Scalar>, geometry g: WindowGeometry, into output: inout Tensor<Scalar>, winners: inout Tensor<Scalar>
) {
    let planes = poolPlanes("maxPool", input: input.shape, output: output.shape, geometry: g)
    requireShape(winners.shape == output.shape, "maxPool: winners have shape \(winners.shape), expected \(output.shape)")
    let x = input.storage.base + input.offset, y = output.makeUniqueStorage(), win = winners.makeUniqueStorage()
    if g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0 && g.dh == 1 && g.dw == 1 {
        maxPool2x2(x, planes: planes, g, into: y, winners: win)
        return
    }
    for p in 0 ..< planes {
        let xp = x + p * g.inputPlane, yp = y + p * g.outputPlane, wp = win + p * g.outputPlane
        for oy in 0 ..< g.oh {
            for ox in 0 ..< g.ow {
                var best = -Scalar.infinity, at = -1
                for i in 0 ..< g.kh {
                    let iy = oy * g.sh - g.ph + i * g.dh
                    if iy < 0 || iy >= g.h { continue }
                    for j in 0 ..< g.kw {
                        let ix = ox * g.sw - g.pw + j * g.dw
                        if ix < 0 || ix >= g.w { continue }
                        let v = xp[iy * g.w + ix]
                        if v > best || v.isNaN || at < 0 { best = v; at = iy * g.w + ix; if v.isNaN { break } }
                    }
                    if best.isNaN { break }
                }
                yp[oy * g.ow + ox] = best
                wp[oy * g.ow + ox] = Scalar(at)
            }
        }
    }
}

/// The 2×2, stride-2 max pool of a CNN (PyTorch's `MaxPool2d(2)`), with the general loop's
/// rules (the first maximum in scan order, the first NaN wins) and no bounds test per tap:
/// floor mode keeps every window inside the input.
///
/// Written without branches so that it vectorises: a tap replaces the best so far when it is
/// not ≤ it (greater, or NaN) and the best is not already NaN; after a ReLU, ties and
/// near-ties would make branches unpredictable. Winners are counted in the scalar type
/// (exact below 2²⁴ positions per plane in Float), which keeps the loop free of conversions.
@inline(__always)
func maxPool2x2<Scalar: BLASScalar>(_ x: UnsafePointer<Scalar>, planes: Int, _ g: WindowGeometry, into y: UnsafeMutablePointer<Scalar>,
                                    winners: UnsafeMutablePointer<Scalar>) {
    let (w, ow) = (g.w, g.ow)
    let right = Scalar(1), below = Scalar(w), diagonal = Scalar(w + 1)
    for p in 0 ..< planes {
        let xp = x + p * g.inputPlane, yp = y + p * g.outputPlane, wp = winners + p * g.outputPlane
        for oy in 0 ..< g.oh {
            let top = xp + 2 * oy * w, bottom = top + w, yr = yp + oy * ow, wr = wp + oy * ow
            let rowStart = Scalar(2 * oy * w)
            for ox in 0 ..< ow {
                let v0 = top[2 * ox], v1 = top[2 * ox + 1], v2 = bottom[2 * ox], v3 = bottom[2 * ox + 1]
                let at0 = rowStart + Scalar(2 * ox)
                var best = v0, at = at0
                let c1 = !(v1 <= best) && best == best
                best = c1 ? v1 : best
                at = c1 ? at0 + right : at
                let c2 = !(v2 <= best) && best == best
                best = c2 ? v2 : best
                at = c2 ? at0 + below : at
                let c3 = !(v3 <= best) && best == best
                best = c3 ? v3 : best
                at = c3 ? at0 + diagonal : at
                yr[ox] = best
                wr[ox] = at
            }
        }
    }
}

/// A winner's flat index, stored as a scalar, back as an Int: through the concrete type, as the
/// generic conversion checks exactness with a library call per element.
@inline(__always)
func winnerIndex<Scalar: BLASScalar>(_ value: Scalar) -> Int {
    if Scalar.self == Float.self { return Int(unsafeBitCast(value, to: Float.self)) }
    if Scalar.self == Double.self { return Int(unsafeBitCast(value, to: Double.self)) }
    return Int(value)
}

/// output[b, c, o] ← tangent[b, c, winners[b', c, o]]: the max pool's Jacobian at fixed
/// winners applied to a tangent (J·v), `b' = b` or 0 when `winners` has one row for all.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func maxPoolTangent<Scalar: BLASScalar>(
    _ tangent: Tensor<Scalar>, winners: Tensor<Scalar>, geometry g: WindowGeometry, into output: inout Tensor<Scalar>
) {
    let planes = poolPlanes("maxPoolTangent", input: tangent.shape, output: output.shape, geometry: g)
    let shared = winnersShared(winners, output.shape, "maxPoolTangent")
    let channelPlanes = planes / max(tangent.shape[0], 1)
    let t = tangent.storage.base + tangent.offset, y = output.makeUniqueStorage(), win = winners.storage.base + winners.offset
    for p in 0 ..< planes {
        let wp = win + (shared ? p % max(channelPlanes, 1) : p) * g.outputPlane
        let tp = t + p * g.inputPlane, yp = y + p * g.outputPlane
        for o in 0 ..< g.outputPlane {
            let at = winnerIndex(wp[o])
            yp[o] = at >= 0 ? tp[at] : 0
        }
    }
}

/// inputGradient ← the max pool's Jᵀ·outputGradient: every output's gradient added onto its
/// winner (windows that overlap may route several onto one input).
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func maxPoolGradient<Scalar: BLASScalar>(
    _ outputGradient: Tensor<Scalar>, winners: Tensor<Scalar>, geometry g: WindowGeometry, into inputGradient: inout Tensor<Scalar>
) {
    let planes = poolPlanes("maxPoolGradient", input: inputGradient.shape, output: outputGradient.shape, geometry: g)
    let shared = winnersShared(winners, outputGradient.shape, "maxPoolGradient")
    let channelPlanes = planes / max(inputGradient.shape[0], 1)
    let gy = outputGradient.storage.base + outputGradient.offset, dx = inputGradient.makeUniqueStorage()
    let win = winners.storage.base + winners.offset
    dx.update(repeating: 0, count: inputGradient.count)
    for p in 0 ..< planes {
        let wp = win + (shared ? p % max(channelPlanes, 1) : p) * g.outputPlane
        let gp = gy + p * g.outputPlane, dp = dx + p * g.inputPlane
        for o in 0 ..< g.outputPlane {
            let at = winnerIndex(wp[o])
            if at >= 0 { dp[at] += gp[o] }
        }
    }
}

/// Whether `winners` is one row shared by every row of `shape` (the analyzer's many
/// directions at one point) rather than one row per row.
func winnersShared<Scalar>(_ winners: Tensor<Scalar>, _ shape: [Int], _ operation: String) -> Bool {
    let perRow = Array(shape.dropFirst())
    requireShape(winners.rank == shape.count && Array(winners.shape.dropFirst()) == perRow && (winners.shape[0] == shape[0] || winners.shape[0] == 1),
                 "\(operation): winners have shape \(winners.shape), expected \(shape) or \([1] + perRow)")
    return winners.shape[0] == 1 && shape[0] != 1
}

/// output ← the mean of every window, the zero padding counted (PyTorch's default
/// `count_include_pad=True`: every window divides by kh·kw). Linear, so it is its own J·v.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func averagePool<Scalar: BLASScalar>(_ input: Tensor<Scalar>, geometry g: WindowGeometry, into output: inout Tensor<Scalar>) {
    let planes = poolPlanes("averagePool", input: input.shape, output: output.shape, geometry: g)
    let x = input.storage.base + input.offset, y = output.makeUniqueStorage()
    let scale = 1 / Scalar(g.kernelTaps)
    for p in 0 ..< planes {
        let xp = x + p * g.inputPlane, yp = y + p * g.outputPlane
        for oy in 0 ..< g.oh {
            for ox in 0 ..< g.ow {
                var sum: Scalar = 0
                for i in 0 ..< g.kh {
                    let iy = oy * g.sh - g.ph + i * g.dh
                    if iy < 0 || iy >= g.h { continue }
                    for j in 0 ..< g.kw {
                        let ix = ox * g.sw - g.pw + j * g.dw
                        if ix >= 0 && ix < g.w { sum += xp[iy * g.w + ix] }
                    }
                }
                yp[oy * g.ow + ox] = sum * scale
            }
        }
    }
}

/// inputGradient ← the average pool's transpose applied to outputGradient.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func averagePoolGradient<Scalar: BLASScalar>(_ outputGradient: Tensor<Scalar>, geometry g: WindowGeometry, into inputGradient: inout Tensor<Scalar>) {
    let planes = poolPlanes("averagePoolGradient", input: inputGradient.shape, output: outputGradient.shape, geometry: g)
    let gy = outputGradient.storage.base + outputGradient.offset, dx = inputGradient.makeUniqueStorage()
    let scale = 1 / Scalar(g.kernelTaps)
    dx.update(repeating: 0, count: inputGradient.count)
    for p in 0 ..< planes {
        let dp = dx + p * g.inputPlane, gp = gy + p * g.outputPlane
        for oy in 0 ..< g.oh {
            for ox in 0 ..< g.ow {
                let share = gp[oy * g.ow + ox] * scale
                for i in 0 ..< g.kh {
                    let iy = oy * g.sh - g.ph + i * g.dh
                    if iy < 0 || iy >= g.h { continue }
                    for j in 0 ..< g.kw {
                        let ix = ox * g.sw - g.pw + j * g.dw
                        if ix >= 0 && ix < g.w { dp[iy * g.w + ix] += share }
                    }
                }
            }
        }
    }
}

/// output[b, c] ← the mean of input[b, c, …] over every spatial position: `[B, C] + size` →
/// `[B, C]` (PyTorch's `adaptive_avg_pool` to size 1, flattened).
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func globalAveragePool<Scalar: BLASScalar>(_ input: Tensor<Scalar>, into output: inout Tensor<Scalar>) {
    requireShape(input.rank >= 3 && output.shape == Array(input.shape.prefix(2)),
                 "globalAveragePool: input \(input.shape) and output \(output.shape), expected [batch, channels] + size and [batch, channels]")
    let planes = output.count, plane = input.count / max(planes, 1)
    let x = input.storage.base + input.offset, y = output.makeUniqueStorage()
    let scale = 1 / Scalar(plane)
    for p in 0 ..< planes {
        var sum: Scalar = 0
        for i in 0 ..< plane { sum += x[p * plane + i] }
        y[p] = sum * scale
    }
}

/// inputGradient[b, c, …] ← outputGradient[b, c] / positions: the transpose of
/// ``globalAveragePool(_:into:)``.
@_specialize(where Scalar == Float)
@_specialize(where Scalar == Double)
public func globalAveragePoolGradient<Scalar: BLASScalar>(_ outputGradient: Tensor<Scalar>, into inputGradient: inout Tensor<Scalar>) {
    requireShape(inputGradient.rank >= 3 && outputGradient.shape == Array(inputGradient.shape.prefix(2)),
                 "globalAveragePoolGradient: output gradient \(outputGradient.shape) and input gradient \(inputGradient.shape), expected [batch, channels] and [batch, channels] + size")
    let planes = outputGradient.count, plane = inputGradient.count / max(planes, 1)
    let gy = outputGradient.storage.base + outputGradient.offset, dx = inputGradient.makeUniqueStorage()
    let scale = 1 / Scalar(plane)
    for p in 0 ..< planes {
        (dx + p * plane).update(repeating: gy[p] * scale, count: plane)
    }
}

// MARK: Allocating conveniences

/// PyTorch's `max_pool1d` / `max_pool2d` (stride defaults to the kernel) with the winners.
public func maxPool<Scalar: BLASScalar>(
    _ input: Tensor<Scalar>, kernel: [Int], stride: [Int]? = nil, padding: [Int]? = nil
) -> (output: Tensor<Scalar>, winners: Tensor<Scalar>) {
    let g = poolGeometry("maxPool", input, kernel, stride, padding)
    var output = Tensor<Scalar>.zeros(Array(input.shape.prefix(2)) + g.outputSize), winners = output
    maxPool(input, geometry: g, into: &output, winners: &winners)
    return (output, winners)
}

/// PyTorch's `avg_pool1d` / `avg_pool2d` (stride defaults to the kernel).
public func averagePool<Scalar: BLASScalar>(_ input: Tensor<Scalar>, kernel: [Int], stride: [Int]? = nil, padding: [Int]? = nil) -> Tensor<Scalar> {
    let g = poolGeometry("averagePool", input, kernel, stride, padding)
    var output = Tensor<Scalar>.zeros(Array(input.shape.prefix(2)) + g.outputSize)
    averagePool(input, geometry: g, into: &output)
    return output
}

func poolGeometry<Scalar>(_ operation: String, _ input: Tensor<Scalar>, _ kernel: [Int], _ stride: [Int]?, _ padding: [Int]?) -> WindowGeometry {
    requireShape(input.rank >= 3, "\(operation): input has shape \(input.shape), expected [batch, channels] + [L] or [H, W]")
    do { return try WindowGeometry(inputSize: Array(input.shape.dropFirst(2)), kernel: kernel, stride: stride ?? kernel, padding: padding) } catch {
        fatalError("\(operation): \(error)")
    }
}
