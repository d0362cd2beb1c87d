import Foundation

/// Part k of n of a grid of numbered points (k in 1 … n).
///
/// Shard k takes the points whose number is k − 1 modulo n, so shards have about equal work
/// whatever the grid's order, and a point's number (hence its seed) does not depend on how the
/// grid is split: a sharded run gives exactly the numbers of an unsharded one.
public struct Shard: Sendable, Codable, Hashable, CustomStringConvertible {
    public let k: Int
    public let n: Int

    /// The whole grid: part 1 of 1.
    public static let whole = Shard(unchecked: 1, 1)

    /// The most parts a grid may be split into, whatever its size (a run also refuses more parts
    /// than its grid has points): `merge` reports shards one by one up to n, and no cluster
    /// runs a million jobs for one grid.
    package static let maximumCount = 1_000_000

    /// Part `k` of `n`; throws unless 1 ≤ k ≤ n ≤ `maximumCount`.
    public init(_ k: Int, of n: Int) throws(GridShardError) {
        guard (1 ... Self.maximumCount).contains(n), (1 ... n).contains(k) else { throw .invalidShard("\(k)/\(n)") }
        self.init(unchecked: k, n)
    }

    /// Parses `k/n` (as `--shard` takes it).
    public init(parsing text: String) throws(GridShardError) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]) else { throw .invalidShard(text) }
        guard (1 ... Self.maximumCount).contains(n), (1 ... n).contains(k) else { throw .invalidShard(text) }
        self.init(unchecked: k, n)
    }

    private init(unchecked k: Int, _ n: Int) {
        self.k = k
        self.n = n
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let (k, n) = (try container.decode(Int.self, forKey: .k), try container.decode(Int.self, forKey: .n))
        guard (1 ... Self.maximumCount).contains(n), (1 ... n).contains(k) else {
            throw DecodingError.dataCorruptedError(forKey: .k, in: container, debugDescription: "shard \(k)/\(n) is not 1 ≤ k ≤ n ≤ \(Self.maximumCount)")
        }
        self.init(unchecked: k, n)
    }

    public var isWhole: Bool { n == 1 }

    /// Whether point `index` belongs to this shard.
    public func contains(_ index: Int) -> Bool { index >= 0 && index % n == k - 1 }

    /// This shard's point numbers in a grid of `pointCount` points, in increasing order.
    public func indices(pointCount: Int) -> [Int] {
        Array(stride(from: k - 1, to: max(pointCount, 0), by: n))
    }

    /// "k/n".
    public var description: String { "\(k)/\(n)" }

    /// `<stem>.<extension>` for the whole grid, `<stem>-part-<k>-of-<n>.<extension>` for a part.
    public func fileName(stem: String, extension fileExtension: String) -> String {
        isWhole ? "\(stem).\(fileExtension)" : "\(stem)-part-\(k)-of-\(n).\(fileExtension)"
    }
}
