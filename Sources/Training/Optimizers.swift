import Foundation
import Networks
@_spi(RawBLAS) import TensorAlgebra
import IsometrySupport

/// An optimizer that owns its state and its step count (MLXOptimizers' shape): the trainer
/// hands it a stack and the workspace's gradients, it updates the parameters in place.
///
/// Parameters are numbered in the stack's order (``LayerStack/parameterNames``); the state
/// holds one buffer per parameter for each of ``stateNames``, allocated once by
/// ``prepare(shapes:trainable:)`` (a frozen parameter's buffers are empty) and updated in place.
public protocol Optimizer<Scalar>: AnyObject {
    associatedtype Scalar: BLASScalar
    /// "sgd", "adam", "adamw".
    var name: String { get }
    var learningRate: Schedule { get }
    /// Updates taken; the schedule and Adam's bias correction read it.
    var step: Int { get set }
    /// The coefficients, for metrics and for refusing a checkpoint of another optimizer.
    var settings: [String: Double] { get }
    /// The names of the per-parameter buffers ("momentum"; "m", "v").
    var stateNames: [String] { get }
    /// `state[b][p]`: buffer `stateNames[b]` of parameter p.
    var state: [[Tensor<Scalar>]] { get set }
    /// Parameter `slot` ← its update from `gradient` at `learningRate`, state updated in place.
    func update(_ parameter: inout Tensor<Scalar>, gradient: Tensor<Scalar>, slot: Int, learningRate: Double)
}

extension Optimizer {
    /// Allocates the state for parameters of these shapes, once: kept when it already fits.
    public func prepare(shapes: [[Int]], trainable: [Bool]) {
        let wanted = zip(shapes, trainable).map { $1 ? $0 : [0] }
        for b in stateNames.indices {
            if b >= state.count { state.append([]) }
            if state[b].map(\.shape) != wanted { state[b] = wanted.map { Tensor.zeros($0) } }
        }
    }

    /// One update of every parameter of `stack` not in `frozenLayers` from the gradients in
    /// `workspace` (of its last backward pass), at the rate of the current step; then step + 1.
    public func update(_ stack: inout LayerStack<Scalar>, gradients workspace: LayerStackWorkspace<Scalar>, frozenLayers: Set<Int> = []) {
        let rate = learningRate(step)
        var slot = 0
        stack.updateParameters { layer, index, parameter in
            // A frozen layer's parameters keep their slots (numbering by the stack's order).
            if !frozenLayers.contains(layer) {
                update(&parameter, gradient: workspace.parameterGradients[layer][index], slot: slot, learningRate: rate)
            }
            slot += 1
        }
        step += 1
    }
}

/// Stochastic gradient descent, PyTorch's `torch.optim.SGD`: g ← ∇ + λw (L2 weight decay),
/// v ← μv + g, w ← w − η·v (plain SGD, no state, when μ = 0).
public final class SGD<Scalar: BLASScalar>: Optimizer {
    public let learningRate: Schedule
    public let momentum: Double
    public let weightDecay: Double
    public var step = 0
    public var state: [[Tensor<Scalar>]] = []

    public init(learningRate: Schedule, momentum: Double = 0, weightDecay: Double = 0) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
    }

    public var name: String { "sgd" }
    public var settings: [String: Double] { ["momentum": momentum, "weight_decay": weightDecay] }
    public var stateNames: [String] { momentum == 0 ? [] : ["momentum"] }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func update(_ parameter: inout Tensor<Scalar>, gradient: Tensor<Scalar>, slot: Int, learningRate: Double) {
        let n = parameter.count
        let (eta, mu, lambda) = (Scalar(learningRate), Scalar(momentum), Scalar(weightDecay))
        parameter.withUnsafeMutableBufferPointer { w in
            gradient.withUnsafeBufferPointer { g in
                if momentum == 0 {
                    for i in 0 ..< n { w[i] -= eta * (g[i] + lambda * w[i]) }
                    return
                }
                state[0][slot].withUnsafeMutableBufferPointer { v in
                    for i in 0 ..< n {
                        // PyTorch starts the buffer at the first gradient: μ·0 + g is exactly g.
                        v[i] = mu * v[i] + (g[i] + lambda * w[i])
                        w[i] -= eta * v[i]
                    }
                }
            }
        }
    }
}

/// Adam (Kingma and Ba 2015), PyTorch's `torch.optim.Adam`: weight decay added to the
/// gradient (L2); ``AdamW`` decouples it. Defaults: lr 1e-3, β 0.9/0.999, ε 1e-8.
public class Adam<Scalar: BLASScalar>: Optimizer {
    public let learningRate: Schedule
    public let beta1: Double, beta2: Double, epsilon: Double, weightDecay: Double
    /// Decay applied to the weights (w ← w(1 − ηλ)) instead of the gradient.
    let decoupled: Bool
    public var step = 0
    public var state: [[Tensor<Scalar>]] = []

    public init(learningRate: Schedule = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8, weightDecay: Double = 0) {
        self.learningRate = learningRate
        (self.beta1, self.beta2, self.epsilon, self.weightDecay) = (beta1, beta2, epsilon, weightDecay)
        decoupled = false
    }

    init(learningRate: Schedule, beta1: Double, beta2: Double, epsilon: Double, weightDecay: Double, decoupled: Bool) {
        self.learningRate = learningRate
        (self.beta1, self.beta2, self.epsilon, self.weightDecay) = (beta1, beta2, epsilon, weightDecay)
        self.decoupled = decoupled
    }

    public var name: String { decoupled ? "adamw" : "adam" }
    public var settings: [String: Double] { ["beta1": beta1, "beta2": beta2, "epsilon": epsilon, "weight_decay": weightDecay] }
    public var stateNames: [String] { ["m", "v"] }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func update(_ parameter: inout Tensor<Scalar>, gradient: Tensor<Scalar>, slot: Int, learningRate: Double) {
        let n = parameter.count
        let t = Double(step + 1)
        // PyTorch's order of operations: step size η/(1 − β1ᵗ), denominator √v/√(1 − β2ᵗ) + ε.
        let stepSize = Scalar(learningRate / (1 - pow(beta1, t)))
        let root = Scalar((1 - pow(beta2, t)).squareRoot())
        let (b1, b2, eps) = (Scalar(beta1), Scalar(beta2), Scalar(epsilon))
        let lambda = Scalar(weightDecay), shrink = Scalar(1 - learningRate * weightDecay)
        let decoupled = decoupled
        // Two buffers of one array: nested mutable accesses to `state` would overlap, so take
        // each unique buffer's address in its own access (the state owns them alone).
        let m = state[0][slot].makeUniqueStorage(), v = state[1][slot].makeUniqueStorage()
        parameter.withUnsafeMutableBufferPointer { w in
            gradient.withUnsafeBufferPointer { g in
                for i in 0 ..< n {
                    var gi = g[i]
                    if decoupled { w[i] *= shrink } else { gi += lambda * w[i] }
                    m[i] += (gi - m[i]) * (1 - b1)
                    v[i] = b2 * v[i] + (1 - b2) * gi * gi
                    w[i] -= stepSize * (m[i] / (v[i].squareRoot() / root + eps))
                }
            }
        }
    }
}

/// Adam with decoupled weight decay (Loshchilov and Hutter 2019), PyTorch's
/// `torch.optim.AdamW`: w ← w(1 − ηλ) before the Adam step. Default decay 0.01.
public final class AdamW<Scalar: BLASScalar>: Adam<Scalar> {
    override public init(learningRate: Schedule = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8, weightDecay: Double = 0.01) {
        super.init(learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: weightDecay, decoupled: true)
    }
}
