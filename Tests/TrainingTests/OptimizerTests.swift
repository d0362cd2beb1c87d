import Testing
import TensorAlgebra
@testable import Training

@Suite struct OptimizerTests {
    @Test func sgdWithMomentumAndAdamByHand() {
        // One parameter, gradient 2, learning rate 0.1.
        var w = Tensor<Double>([1])
        let g = Tensor<Double>([2])
        let sgd = OptimizerState<Double>(.sgd(momentum: 0.9, weightDecay: 0.5))
        sgd.prepare(shapes: [[1]])
        sgd.update(&w, gradient: g, index: 0, learningRate: 0.1)
        // v = 0·0.9 + 2 + 0.5·1 = 2.5, w = 1 − 0.25 = 0.75
        #expect(abs(w[0] - 0.75) < 1e-15)
        sgd.update(&w, gradient: g, index: 0, learningRate: 0.1)
        // v = 0.9·2.5 + 2 + 0.5·0.75 = 4.625, w = 0.75 − 0.4625 = 0.2875
        #expect(abs(w[0] - 0.2875) < 1e-15)

        var u = Tensor<Double>([1])
        let adam = OptimizerState<Double>(.adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0))
        adam.prepare(shapes: [[1]])
        adam.update(&u, gradient: g, index: 0, learningRate: 0.1)
        // First step: m̂ = g, v̂ = g², so the step is η·g/(|g| + ε) ≈ 0.1.
        #expect(abs(u[0] - (1 - 0.1 * 2 / (2 + 1e-8))) < 1e-15)
    }

    @Test func cosineScheduleEndsAtZero() {
        #expect(LearningRateSchedule.cosine.rate(base: 0.1, step: 0, totalSteps: 100) == 0.1)
        #expect(abs(LearningRateSchedule.cosine.rate(base: 0.1, step: 50, totalSteps: 100) - 0.05) < 1e-15)
        #expect(abs(LearningRateSchedule.cosine.rate(base: 0.1, step: 100, totalSteps: 100)) < 1e-15)
        #expect(LearningRateSchedule.constant.rate(base: 0.1, step: 70, totalSteps: 100) == 0.1)
    }
}
