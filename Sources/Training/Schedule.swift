import Foundation

/// A learning rate as a function of the optimizer's step (0 for the first update), as a value
/// (MLXOptimizers' schedules are functions of the step too). A float literal is a constant
/// rate: `SGD(learningRate: 0.05)`.
///
/// Only the step is stored in a checkpoint; the schedule is given again on resume, so a
/// closure schedule resumes as well as a built-in one.
public struct Schedule: Sendable, ExpressibleByFloatLiteral, CustomStringConvertible {
    let rate: @Sendable (Int) -> Double
    public let description: String

    public init(description: String = "custom", _ rate: @escaping @Sendable (_ step: Int) -> Double) {
        self.rate = rate
        self.description = description
    }

    public init(floatLiteral value: Double) { self = .constant(value) }

    /// The rate for update `step` (0-based).
    public func callAsFunction(_ step: Int) -> Double { rate(step) }

    public static func constant(_ value: Double) -> Schedule { Schedule(description: "\(value)") { _ in value } }

    /// η·½(1 + cos(π·t/T)) from `base` down to `minimum` over `steps` updates, then `minimum`.
    public static func cosine(_ base: Double, steps: Int, minimum: Double = 0) -> Schedule {
        Schedule(description: "cosine \(base) over \(steps) steps") { step in
            let t = Double(min(step, steps)) / Double(max(steps, 1))
            return minimum + (base - minimum) * 0.5 * (1 + cos(Double.pi * t))
        }
    }

    /// `base · factor^⌊t / every⌋` (PyTorch's `StepLR`).
    public static func stepDecay(_ base: Double, every: Int, factor: Double) -> Schedule {
        precondition(every >= 1, "Schedule.stepDecay: every must be ≥ 1, got \(every)")
        return Schedule(description: "\(base) × \(factor) every \(every) steps") { step in base * pow(factor, Double(step / every)) }
    }

    /// A linear warm-up over `steps` updates to `then`'s first rate (update t < steps uses
    /// `then(0) · (t + 1)/steps`), then `then` from its own step 0 (MLX's `joinSchedules`).
    public static func warmup(steps: Int, then schedule: Schedule) -> Schedule {
        Schedule(description: "warm-up \(steps) steps, then \(schedule)") { step in
            step < steps ? schedule(0) * Double(step + 1) / Double(steps) : schedule(step - steps)
        }
    }

    /// Any function of the step.
    public static func custom(_ rate: @escaping @Sendable (_ step: Int) -> Double) -> Schedule { Schedule(rate) }
}
