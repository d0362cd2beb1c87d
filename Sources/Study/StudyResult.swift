import Foundation
import GridShards
import Networks

/// What one grid point recorded: the training's outcome, the theory at the point, and the
/// spectrum of J Jᵀ measured at initialisation.
public struct StudyResult: Sendable, Codable, Equatable {
    public var index: Int
    public var depth: Int
    public var initialization: Initialization
    /// The weight scale (σ of W = σI, σ_w of random weights; √2 for He).
    public var sigma: Double
    public var seed: UInt64

    /// Whether the loss became NaN or infinite; the point then stopped there (the study goes on).
    public var diverged: Bool
    /// Where it diverged ("epoch 1 step 37"), nil otherwise.
    public var divergedAt: String?
    /// Final test accuracy and loss (nil after divergence).
    public var testAccuracy: Double?
    public var testLoss: Double?
    /// Test accuracy and loss, and mean training loss, after every finished epoch.
    public var epochTestAccuracy: [Double]
    public var epochTestLoss: [Double]
    public var epochTrainLoss: [Double]
    /// Every layer's readout accuracy on the test split (its class dimensions; empty after divergence).
    public var layerAccuracy: [Double]
    /// ‖Wˡ − σI‖/‖σI‖ of every layer at the end.
    public var distanceFromIdentity: [Double]
    /// Wall time of the point (training, evaluation and spectrum), in seconds.
    public var seconds: Double

    /// Identity initialisation: the identity law's fraction of unit eigenvalues α (for hard-tanh
    /// the law is α at σ^{2L} and 1 − α at 0; in general the law's mass above 1e-3 of its λ_max)
    /// at (σ, q0 of the data, L).
    public var theoryUnitFraction: Double?
    /// The theory's mean eigenvalue of J Jᵀ: α σ^{2L} for identity; for random weights the
    /// finite-depth ∏ χ_l along the q-map from the data's q0 (χ^L only for inputs at q*).
    public var theoryMean: Double?
    /// Mean-field χ of random weights at the fixed point reached from the data's q0.
    public var chi: Double?
    /// Measured at initialisation on the first `spectrumInputs` training images: the fraction of
    /// eigenvalues above 1e-3 of each input's λ_max (averaged), and the mean eigenvalue.
    public var measuredFraction: Double?
    public var measuredMean: Double?

    public init(index: Int, depth: Int, initialization: Initialization, sigma: Double, seed: UInt64, diverged: Bool = false,
                divergedAt: String? = nil, testAccuracy: Double? = nil, testLoss: Double? = nil, epochTestAccuracy: [Double] = [],
                epochTestLoss: [Double] = [], epochTrainLoss: [Double] = [], layerAccuracy: [Double] = [],
                distanceFromIdentity: [Double] = [], seconds: Double = 0, theoryUnitFraction: Double? = nil, theoryMean: Double? = nil,
                chi: Double? = nil, measuredFraction: Double? = nil, measuredMean: Double? = nil) {
        self.index = index
        self.depth = depth
        self.initialization = initialization
        self.sigma = sigma
        self.seed = seed
        self.diverged = diverged
        self.divergedAt = divergedAt
        self.testAccuracy = testAccuracy
        self.testLoss = testLoss
        self.epochTestAccuracy = epochTestAccuracy
        self.epochTestLoss = epochTestLoss
        self.epochTrainLoss = epochTrainLoss
        self.layerAccuracy = layerAccuracy
        self.distanceFromIdentity = distanceFromIdentity
        self.seconds = seconds
        self.theoryUnitFraction = theoryUnitFraction
        self.theoryMean = theoryMean
        self.chi = chi
        self.measuredFraction = measuredFraction
        self.measuredMean = measuredMean
    }

    /// The same result without its wall time: what a re-run reproduces exactly.
    public var withoutTiming: StudyResult {
        var copy = self
        copy.seconds = 0
        return copy
    }

    public var arm: StudyGrid.Arm { StudyGrid.Arm(initialization: initialization, sigma: sigma) }
}

// MARK: Files

extension StudyResult {
    /// The columns of study.csv and of its shards. Lists (per epoch, per layer) are `;`-separated
    /// inside their field; an empty field is a value that does not apply (nil).
    public static let columns = "index,depth,initialization,sigma,seed,diverged,diverged_at,test_accuracy,test_loss,seconds,"
        + "theory_unit_fraction,theory_mean,chi,measured_fraction,measured_mean,"
        + "epoch_test_accuracy,epoch_test_loss,epoch_train_loss,layer_accuracy,distance_from_identity"

    /// One CSV line (every number in Swift's shortest round-trip form, so a file read back gives
    /// the same numbers to the last bit).
    public var csvLine: String {
        func number(_ x: Double?) -> String { x.map { "\($0)" } ?? "" }
        func list(_ xs: [Double]) -> String { xs.map { "\($0)" }.joined(separator: ";") }
        let fields: [String] = [
            String(index), String(depth), initialization.rawValue, "\(sigma)", String(seed), diverged ? "true" : "false",
            divergedAt ?? "", number(testAccuracy), number(testLoss), "\(seconds)",
            number(theoryUnitFraction), number(theoryMean), number(chi), number(measuredFraction), number(measuredMean),
            list(epochTestAccuracy), list(epochTestLoss), list(epochTrainLoss), list(layerAccuracy), list(distanceFromIdentity),
        ]
        return fields.joined(separator: ",")
    }

    /// Parses `csvLine`; nil when any field does not parse.
    public init?(csvLine line: String) {
        let f = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard f.count == 20, let index = Int(f[0]), let depth = Int(f[1]), let initialization = Initialization(rawValue: f[2]),
              let sigma = Double(f[3]), let seed = UInt64(f[4]), f[5] == "true" || f[5] == "false", let seconds = Double(f[9])
        else { return nil }
        var ok = true
        func number(_ s: String) -> Double? {
            if s.isEmpty { return nil }
            guard let x = Double(s) else { ok = false; return nil }
            return x
        }
        func list(_ s: String) -> [Double] {
            if s.isEmpty { return [] }
            let xs = s.split(separator: ";", omittingEmptySubsequences: false).compactMap { Double($0) }
            if xs.count != s.split(separator: ";", omittingEmptySubsequences: false).count { ok = false }
            return xs
        }
        self.init(index: index, depth: depth, initialization: initialization, sigma: sigma, seed: seed, diverged: f[5] == "true",
                  divergedAt: f[6].isEmpty ? nil : f[6], testAccuracy: number(f[7]), testLoss: number(f[8]),
                  epochTestAccuracy: list(f[15]), epochTestLoss: list(f[16]), epochTrainLoss: list(f[17]),
                  layerAccuracy: list(f[18]), distanceFromIdentity: list(f[19]), seconds: seconds,
                  theoryUnitFraction: number(f[10]), theoryMean: number(f[11]), chi: number(f[12]),
                  measuredFraction: number(f[13]), measuredMean: number(f[14]))
        if !ok { return nil }
    }
}

extension StudyResult {
    /// Why this row cannot be the result of its point of `grid` (its point number within the
    /// grid): another depth, arm or seed than the point's, a fraction outside [0, 1], a mean
    /// that is NaN or negative, or a measured mean or χ that is infinite (the measurement's
    /// eigenvalues are finite; only the theory's α σ^{2L} and χ^L may overflow). Nil when fine.
    func contradiction(with grid: StudyGrid) -> String? {
        let point = grid.point(index)
        if depth != point.depth { return "point \(index) is at L = \(point.depth) in the grid, but the row says L = \(depth)" }
        // The Gaussian arm's σ_w is computed (a quadrature for tanh); allow for another libm.
        let sameSigma = point.arm.initialization == .gaussian
            ? abs(sigma - point.arm.sigma) <= 1e-9 * point.arm.sigma : sigma == point.arm.sigma
        if initialization != point.arm.initialization || !sameSigma {
            return "point \(index) is \(grid.label(point.arm)) in the grid, but the row says \(initialization.rawValue) σ = \(sigma)"
        }
        if seed != point.seed { return "point \(index) has seed \(point.seed) in the grid, but the row says \(seed)" }
        let fractions: [(String, Double?)] = [("test_accuracy", testAccuracy), ("theory_unit_fraction", theoryUnitFraction),
                                              ("measured_fraction", measuredFraction)]
            + epochTestAccuracy.map { ("epoch_test_accuracy", $0) } + layerAccuracy.map { ("layer_accuracy", $0) }
        for case let (name, value?) in fractions where !(0 ... 1).contains(value) {
            return "\(name) is \(value), expected a fraction in [0, 1]"
        }
        if let theoryMean, theoryMean.isNaN || theoryMean < 0 { return "theory_mean is \(theoryMean), expected a number ≥ 0" }
        for case let (name, value?) in [("measured_mean", measuredMean), ("chi", chi)] where !(value.isFinite && value >= 0) {
            return "\(name) is \(value), expected a finite number ≥ 0"
        }
        return nil
    }
}

extension StudyGrid {
    /// study.csv and its shards `study-part-k-of-n.csv` (GridShards' format, shared with
    /// `spectrum sweep`): line 1 records this grid, shard files their shard and command.
    public static let fileFormat = GridFileFormat<StudyGrid, StudyResult>(
        kind: "study", columns: StudyResult.columns, pointCount: { $0.pointCount },
        isValid: { $0.problem == nil },
        index: { $0.index }, encode: { $0.csvLine }, decode: { StudyResult(csvLine: $0) },
        check: { grid, result in result.contradiction(with: grid) })

    /// The whole study as study.csv.
    public func csv(_ results: [StudyResult]) -> String { Self.fileFormat.text(grid: self, rows: results) }

    /// study.json: the grid and every point's record.
    public func json(_ results: [StudyResult]) -> Data {
        struct Document: Encodable {
            var grid: StudyGrid
            var arms: [String]
            var points: [StudyResult]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let document = Document(grid: self, arms: arms.map(label), points: results.sorted { $0.index < $1.index })
        guard let data = try? encoder.encode(document) else { fatalError("StudyGrid: the study does not encode as JSON") }
        return data
    }
}
