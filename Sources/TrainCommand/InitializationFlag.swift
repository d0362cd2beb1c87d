import ArgumentParser
import CommandSupport
import IsometrySupport
import Networks

/// `--init` as given: the identity classifier's ``Initialization`` names, and for a stack from
/// `--architecture` a ``StackInitialization``'s. Parsed leniently so that
/// ``Train/validateInitializationFlags()`` words every refusal for the model it applies to.
struct InitializationFlag: ExpressibleByArgument, Equatable, Sendable {
    let text: String
    init?(argument: String) { text = argument }
    /// The identity classifier's view (nil for a stack-only name).
    var classifier: Initialization? { Initialization(rawValue: text) }
    /// A layer stack's view (nil for a classifier-only name: identity, gaussian, orthogonal).
    var stack: StackInitialization? { StackInitialization(rawValue: text) }
}

extension Train {
    /// The identity classifier's view of --init.
    var initialization: Initialization? { initializationFlag?.classifier }

    /// What a new --architecture stack is initialised by: --init, or PyTorch's default.
    var stackInitialization: StackInitialization { initializationFlag?.stack ?? .pytorch }

    static let stackInitializationNames = StackInitialization.allCases.map(\.rawValue).joined(separator: ", ")

    /// --init and --sigma for the model they apply to: the identity classifier's names without
    /// --widths or --architecture (and a resumed identity classifier); he with --widths; a
    /// ``StackInitialization`` with --architecture, where --sigma is the σ of dirac and
    /// delta-orthogonal only. A resumed stack's are checked against its training state.
    func validateInitializationFlags() throws {
        let text = initializationFlag.map { quotedValue($0.text) }
        if architecture != nil {
            if let flag = initializationFlag, flag.stack == nil {
                throw ValidationError("--init \(text!) does not apply with --architecture: use \(Self.stackInitializationNames) (leaving --init out is pytorch)"
                    + (flag.text == "identity" ? "; dirac is the convolution's identity" : flag.text == "orthogonal" ? "; delta-orthogonal is the convolution's orthogonal" : ""))
            }
            if sigma != nil && !stackInitialization.usesSigma {
                throw ValidationError("--sigma does not apply to --init \(stackInitialization.rawValue) with --architecture: it is σ of dirac (σ·δ) and delta-orthogonal (σ·H), the others scale by fan-in")
            }
            return
        }
        guard let flag = initializationFlag else { return }
        if flag.classifier == nil && flag.stack == nil {
            throw ValidationError("--init must be identity, gaussian, orthogonal or he, or with --architecture one of \(Self.stackInitializationNames), got '\(text!)'")
        }
        if flag.classifier == nil && widths == nil && resume == nil {
            throw ValidationError("--init \(text!) needs --architecture (the identity classifier takes identity, gaussian, orthogonal or he)")
        }
    }
}
