import Foundation

// MARK: Finite depth: χ along the q-map trajectory

extension MeanField {
    /// The pre-activation variances q¹, …, q^L of an L-layer network whose first layer sees
    /// variance `firstVariance` (q¹ = σ_w² E[x²] + σ_b² for inputs x): q^{l+1} = σ_w² E[φ(√q^l z)²] + σ_b².
    ///
    /// Stops early (the array is shorter) when q stops being finite.
    public func varianceTrajectory(firstVariance: Double, layers: Int) -> [Double] {
        var q = firstVariance, trajectory: [Double] = []
        trajectory.reserveCapacity(max(layers, 0))
        for _ in 0 ..< max(layers, 0) {
            guard q.isFinite else { break }
            trajectory.append(q)
            q = variance(after: q)
        }
        return trajectory
    }

    /// The per-layer gains χ_l = σ_w² E[φ'(√q^l z)²] along ``varianceTrajectory(firstVariance:layers:)``.
    public func chiTrajectory(firstVariance: Double, layers: Int) -> [Double] {
        varianceTrajectory(firstVariance: firstVariance, layers: layers).map { chi(at: $0) }
    }

    /// The mean eigenvalue of J Jᵀ (J = D_L W_L ⋯ D_1 W_1, an activation after every layer)
    /// that mean-field theory predicts at finite depth: ∏_{l=1}^{L} χ_l along the q-map
    /// trajectory from q¹ = σ_w² `inputSecondMoment` + σ_b², where `inputSecondMoment` is E[x_i²]
    /// of the inputs (q0 for N(0, q0) inputs, the mean squared pixel for images).
    ///
    /// Why not χ^L: χ is the gain at the fixed point q*, and inputs far from q* reach it only
    /// after many layers (for hard-tanh at σ_w = 1, σ_b = 0, q decays to 0 like 1/l, never
    /// reaching it), so each layer's gain differs from χ until then. At the fixed point
    /// (`inputSecondMoment` = E[φ(√q* z)²]) the product is χ^L; for ReLU, whose χ_l = σ_w²/2
    /// does not depend on q, it is (σ_w²/2)^L from any start. Infinity when q diverges.
    public func meanEigenvalue(inputSecondMoment: Double, layers: Int) -> Double {
        let trajectory = varianceTrajectory(firstVariance: sigmaW * sigmaW * inputSecondMoment + sigmaB * sigmaB, layers: layers)
        guard trajectory.count == max(layers, 0) else { return .infinity }
        // Summed in logarithms: a product of 1000 gains of 1.3 overflows no sooner than its exp.
        let logSum = trajectory.reduce(0.0) { $0 + log(chi(at: $1)) }
        return exp(logSum)
    }
}
