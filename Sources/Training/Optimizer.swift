import Foundation
import Networks
import TensorAlgebra
import IsometrySupport

/// The optimizers, PyTorch's conventions: weight decay is added to the gradient (L2).
public enum OptimizerConfiguration: Sendable, Codable, Equatable {
    /// v ← μv + (g + λw), w ← w − η·v (plain SGD when μ = 0).
    case sgd(momentum: Double, weightDecay: Double)
    /// Adam (Kingma and Ba 2015) with bias correction.
    case adam(beta1: Double, beta2: Double, epsilon: Double, weightDecay: Double)

    public var name: String {
        switch self {
        case .sgd: "sgd"
        case .adam: "adam"
        }
    }
}

/// The learning rate as a function of the step.
public enum LearningRateSchedule: String, Sendable, Codable, CaseIterable {
    case constant
    /// η_t = η · ½(1 + cos(π t / T)) over the T steps of the run.
    case cosine

    public func rate(base: Double, step: Int, totalSteps: Int) -> Double {
        switch self {
        case .constant: base
        case .cosine: base * 0.5 * (1 + cos(Double.pi * Double(min(step, totalSteps)) / Double(max(totalSteps, 1))))
        }
    }
}

/// The optimizer's buffers, one per parameter, allocated on the first step and updated in
/// place afterwards: no allocation per step.
public final class OptimizerState<Scalar: BLASScalar> {
    public let configuration: OptimizerConfiguration
    /// SGD momentum, or Adam's first moment.
    public var first: [Tensor<Scalar>] = []
    /// Adam's second moment.
    public var second: [Tensor<Scalar>] = []
    /// Updates taken (Adam's bias correction needs it).
    public var steps = 0

    public init(_ configuration: OptimizerConfiguration) {
        self.configuration = configuration
    }

    /// Prepares the buffers for parameters of these shapes (kept if they already fit).
    public func prepare(shapes: [[Int]]) {
        // Plain SGD keeps no state.
        if case .sgd(momentum: 0, _) = configuration {
            first = []
            return
        }
        if first.map(\.shape) != shapes { first = shapes.map { Tensor.zeros($0) } }
        if case .adam = configuration, second.map(\.shape) != shapes { second = shapes.map { Tensor.zeros($0) } }
    }

    /// Applies one update to parameter `index` from its gradient.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func update(_ parameter: inout Tensor<Scalar>, gradient: Tensor<Scalar>, index: Int, learningRate: Double) {
        require(parameter.shape == gradient.shape, "update: parameter \(parameter.shape) and gradient \(gradient.shape) differ")
        gradient.withUnsafeBufferPointer { update(&parameter, gradient: $0.baseAddress!, index: index, learningRate: learningRate) }
    }

    /// The same with the gradient as raw elements, as many as the parameter has.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @_spi(RawBLAS) public func update(_ parameter: inout Tensor<Scalar>, gradient: UnsafePointer<Scalar>, index: Int, learningRate: Double) {
        let n = parameter.count
        let eta = Scalar(learningRate)
        let g = gradient
        if case .sgd(momentum: 0, let weightDecay) = configuration {
            let lambda = Scalar(weightDecay)
            parameter.withUnsafeMutableBufferPointer { w in
                for i in 0 ..< n { w[i] -= eta * (g[i] + lambda * w[i]) }
            }
            return
        }
        parameter.withUnsafeMutableBufferPointer { w in
            first[index].withUnsafeMutableBufferPointer { m in
                switch configuration {
                case .sgd(let momentum, let weightDecay):
                    let (mu, lambda) = (Scalar(momentum), Scalar(weightDecay))
                    for i in 0 ..< n {
                        let v = mu * m[i] + g[i] + lambda * w[i]
                        m[i] = v
                        w[i] -= eta * v
                    }
                case .adam(let beta1, let beta2, let epsilon, let weightDecay):
                    let t = Double(steps + 1)
                    let (b1, b2, eps, lambda) = (Scalar(beta1), Scalar(beta2), Scalar(epsilon), Scalar(weightDecay))
                    let c1 = Scalar(1 / (1 - pow(beta1, t)))
                    let c2 = Scalar(1 / (1 - pow(beta2, t)))
                    second[index].withUnsafeMutableBufferPointer { v in
                        for i in 0 ..< n {
                            let gi = g[i] + lambda * w[i]
                            m[i] = b1 * m[i] + (1 - b1) * gi
                            v[i] = b2 * v[i] + (1 - b2) * gi * gi
                            w[i] -= eta * (m[i] * c1) / (((v[i] * c2)).squareRoot() + eps)
                        }
                    }
                }
            }
        }
    }
}
