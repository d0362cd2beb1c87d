import Foundation

/// How a metric's perturbed inputs were answered: by a sample's ``ActivationPatternCertificate``
/// (F(x) + W(x)δ, no forward pass) or by the network's forward pass.
public struct PerturbationCounts: Sendable, Codable, Equatable {
    public var certified: Int
    public var forwarded: Int
    public var total: Int { certified + forwarded }

    public init(certified: Int = 0, forwarded: Int = 0) {
        self.certified = certified
        self.forwarded = forwarded
    }

    static func + (a: Self, b: Self) -> Self { Self(certified: a.certified + b.certified, forwarded: a.forwarded + b.forwarded) }
}
