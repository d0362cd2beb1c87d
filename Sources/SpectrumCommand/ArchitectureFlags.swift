import ArgumentParser
import CommandSupport
import IsometrySupport
import Networks
import Spectrum

/// `--init` as given: an MLP's ``Initialization`` names, and with `--architecture` a
/// ``StackInitialization``'s. Parsed leniently so that the refusal names the model it is for.
struct InitializationName: ExpressibleByArgument, Equatable, Sendable {
    let text: String
    init?(argument: String) { text = argument }
    /// The MLP's view (nil for a stack-only name such as dirac).
    var perceptron: Initialization? { Initialization(rawValue: text) }
    /// A layer stack's view (nil for an MLP-only name such as identity).
    var stack: StackInitialization? { StackInitialization(rawValue: text) }
}

/// The flags of a stack drawn from an architecture string: a CNN of Dirac or delta-orthogonal
/// convolutions compared with its theory (docs/spectrum.md, "Convolutional networks").
struct StackOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Draw a layer stack from this architecture string instead of an MLP (e.g. conv64k3p1,hard-tanh,conv64k3p1,hard-tanh; docs/layers.md), initialised by --init at --sigma.", valueName: "string"))
    var architecture: String?
    @Option(name: .customLong("input-shape"), help: ArgumentHelp("The per-sample input shape of --architecture, channels first (64,32: 64 channels, 32 positions; 1,28,28 with --inputs test).", valueName: "C,L|C,H,W"))
    var inputShape: String?

    /// --input-shape as integers, nil when it is not a list of them.
    var parsedInputShape: [Int]? {
        guard let inputShape else { return nil }
        let parts = inputShape.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        return parts.contains(nil) ? nil : parts.compactMap { $0 }
    }
}

extension Analyze {
    static let stackInitializationNames = StackInitialization.allCases.map(\.rawValue).joined(separator: ", ")

    /// --init names the MLP's initialisations without --architecture and the stack's with it.
    func validateInitializationName() throws {
        guard let flag = initializationFlag else { return }
        let text = quotedValue(flag.text)
        if stackOptions.architecture != nil {
            if flag.stack == nil {
                throw ValidationError("--init '\(text)' does not apply with --architecture: use \(Self.stackInitializationNames) (leaving --init out is pytorch)"
                    + (flag.text == "identity" ? "; dirac is the convolution's identity" : flag.text == "orthogonal" ? "; delta-orthogonal is the convolution's orthogonal" : ""))
            }
        } else if flag.perceptron == nil {
            throw ValidationError("--init must be identity, gaussian, orthogonal or he, or with --architecture one of \(Self.stackInitializationNames), got '\(text)'")
        }
    }

    /// --architecture with --input-shape, and none of the flags that describe another network.
    func validateArchitectureFlags() throws {
        guard let architecture = stackOptions.architecture else {
            if stackOptions.inputShape != nil { throw ValidationError("--input-shape is the input shape of --architecture: give the string too") }
            return
        }
        let conflicts: [(String, Bool)] = [
            ("--weights", weights != nil), ("--checkpoint", checkpoint != nil), ("--activation", activation != nil),
            ("--activations", activations != nil), ("--layers", layers != nil), ("--width", width != nil),
            ("--sigma-w", sigmaW != nil),
        ]
        if let (flag, _) = conflicts.first(where: { $0.1 }) {
            throw ValidationError("\(flag) does not apply with --architecture: the string sets the layers, widths and activations"
                + (flag == "--sigma-w" ? " (the scale of dirac and delta-orthogonal weights is --sigma)" : ""))
        }
        if input == .fixedPoint {
            throw ValidationError("--input fixed-point does not apply with --architecture: a stack's inputs are N(0, q0) or the test images (--inputs test)")
        }
        guard let text = stackOptions.inputShape else {
            throw ValidationError("--architecture needs --input-shape, the per-sample input shape channels first (e.g. 64,32)")
        }
        guard let shape = stackOptions.parsedInputShape, (1 ... 3).contains(shape.count), shape.allSatisfy({ (1 ... 1_000_000).contains($0) }) else {
            throw ValidationError("--input-shape must be one to three integers from 1 to 1000000 separated by commas (e.g. 64,32), got '\(quotedValue(text))'")
        }
        do { _ = try ArchitectureString.parse(architecture, inputShape: shape) } catch {
            throw ValidationError("--architecture: \(error.description)")
        }
        let initialization = initializationFlag?.stack ?? .pytorch
        if let bytes = SpectrumConfiguration.estimatedBytes(architecture: architecture, inputShape: shape, initialization: initialization,
                                                            samples: samples, precision: precision) {
            try checkMemory(bytes, what: "--architecture on --input-shape \(text)")
        }
        if sigma != 1 && !initialization.usesSigma {
            throw ValidationError("--sigma does not apply to --init \(initialization.rawValue) with --architecture: it is σ of dirac (σ·δ) and delta-orthogonal (σ·H), the others scale by fan-in")
        }
        if sigmaB != 0 && initialization == .pytorch {
            throw ValidationError("--sigma-b does not apply to --init pytorch, which draws its biases uniform in ±1/√fan_in")
        }
    }
}
