import Foundation
import TensorAlgebra
import IsometrySupport

/// How an embedding is judged in the t-SNE literature (docs/theory.md §8.3): trustworthiness
/// (Venna and Kaski; scikit-learn's `trustworthiness`) and the accuracy of k-nearest-neighbour
/// classification in the embedding.
public enum EmbeddingQuality {
    /// scikit-learn's `sklearn.manifold.trustworthiness(X, X_embedded, n_neighbors: k)`:
    ///
    ///     T(k) = 1 − 2/(n k (2n − 3k − 1)) Σ_i Σ_{j ∈ N_k^emb(i)} max(0, r(i, j) − k),
    ///
    /// r(i, j) the rank of j among i's neighbours in the input space (1 = nearest). `inputs` is
    /// `[n, d]`, `embedding` `[n, e]`, both Euclidean; k < n/2 (compared as real numbers, as
    /// scikit-learn does: 12 neighbours of 25 points pass), else `TrainingError.invalidSetting`.
    ///
    /// The input distances are computed a block of rows at a time (GEMMs of ‖x_i‖² + ‖x_j‖² −
    /// 2 x_i·x_j), never as an n × n matrix: a rank is the number of points strictly closer, so
    /// a row needs only its own distances. Ties (duplicate images) count as scikit-learn's
    /// argsort would break them only up to the order among equal distances.
    public static func trustworthiness<Scalar: BLASScalar>(inputs: Tensor<Scalar>, embedding: Tensor<Scalar>, neighbours k: Int = 12) throws(TrainingError) -> Double {
        let n = inputs.shape[0]
        guard inputs.shape.count == 2, embedding.shape.count == 2, embedding.shape[0] == n else {
            throw .dataMismatch("trustworthiness: inputs of shape \(inputs.shape) and an embedding of shape \(embedding.shape) are not the same points")
        }
        guard k >= 1, Double(k) < Double(n) / 2 else {
            throw .invalidSetting(name: "trustworthiness neighbours", value: "\(k)", expected: "at least 1 and below half the \(n) points (scikit-learn's k < n/2)")
        }
        let neighbours = try nearestNeighbours(of: embedding, k: k)
        let d = inputs.shape[1], block = 256
        var squaredNorms = [Double](repeating: 0, count: n)
        inputs.withUnsafeBufferPointer { x in
            for i in 0 ..< n {
                var s = 0.0
                for f in 0 ..< d { s += Double(x[i * d + f]) * Double(x[i * d + f]) }
                squaredNorms[i] = s
            }
        }
        var penalty = 0.0
        var distances = [Double](repeating: 0, count: n)
        var products = Tensor<Scalar>.zeros([block, n])
        var rows = Tensor<Scalar>.zeros([block, d])
        var start = 0
        while start < n {
            let count = min(block, n - start)
            if count != rows.shape[0] {
                rows = .zeros([count, d])
                products = .zeros([count, n])
            }
            rows.withUnsafeMutableBufferPointer { r in
                inputs.withUnsafeBufferPointer { x in r.baseAddress!.update(from: x.baseAddress! + start * d, count: count * d) }
            }
            matmul(rows, inputs, transposeB: true, into: &products)
            products.withUnsafeBufferPointer { g in
                for r in 0 ..< count {
                    let i = start + r
                    for j in 0 ..< n { distances[j] = squaredNorms[i] + squaredNorms[j] - 2 * Double(g[r * n + j]) }
                    for j in neighbours[(i * k) ..< ((i + 1) * k)] {
                        let dij = distances[j]
                        var closer = 0
                        for l in 0 ..< n where l != i && distances[l] < dij { closer += 1 }
                        // r(i, j) = the points strictly closer + 1.
                        penalty += Double(Swift.max(0, closer + 1 - k))
                    }
                }
            }
            start += count
        }
        let nn = Double(n), kk = Double(k)
        return 1 - penalty * (2 / (nn * kk * (2 * nn - 3 * kk - 1)))
    }

    /// The k nearest neighbours (Euclidean) of every row of `points` among the other rows, nearest
    /// first, as `n · k` indices (row i's at i·k ..< (i+1)·k); ties go to the lower index.
    public static func nearestNeighbours<Scalar: BLASScalar>(of points: Tensor<Scalar>, k: Int) throws(TrainingError) -> [Int] {
        try nearestNeighbours(of: points, among: points, k: k, excludingSelf: true)
    }

    /// The k nearest rows of `references` to every row of `queries`; with `excludingSelf`
    /// (queries and references the same points) row i is not its own neighbour. Fewer candidate
    /// points than k throws `TrainingError.invalidSetting`, rows of different widths `.dataMismatch`.
    public static func nearestNeighbours<Scalar: BLASScalar>(of queries: Tensor<Scalar>, among references: Tensor<Scalar>, k: Int,
                                                            excludingSelf: Bool = false) throws(TrainingError) -> [Int] {
        let n = queries.shape[0], m = references.shape[0], e = queries.count / max(n, 1)
        guard references.count / max(m, 1) == e else {
            throw .dataMismatch("nearest neighbours: queries of shape \(queries.shape) and references of shape \(references.shape) differ in width")
        }
        let candidates = m - (excludingSelf ? 1 : 0)
        guard k >= 1, k <= candidates else {
            throw .invalidSetting(name: "neighbours", value: "\(k)", expected: "between 1 and the \(candidates) points each point has as candidates (\(m) points)")
        }
        var result = [Int](repeating: 0, count: n * k)
        let q = queries.scalars.map(Double.init), r = references.scalars.map(Double.init)
        // The k best so far, sorted by (distance, index).
        var best = [(Double, Int)](repeating: (.infinity, Int.max), count: k)
        result.withUnsafeMutableBufferPointer { out in
            for i in 0 ..< n {
                for a in 0 ..< k { best[a] = (.infinity, Int.max) }
                for j in 0 ..< m where !(excludingSelf && j == i) {
                    var s = 0.0
                    for a in 0 ..< e {
                        let t = q[i * e + a] - r[j * e + a]
                        s += t * t
                    }
                    if s < best[k - 1].0 || (s == best[k - 1].0 && j < best[k - 1].1) {
                        var p = k - 1
                        while p > 0 && (best[p - 1].0 > s || (best[p - 1].0 == s && best[p - 1].1 > j)) {
                            best[p] = best[p - 1]
                            p -= 1
                        }
                        best[p] = (s, j)
                    }
                }
                for a in 0 ..< k { out[i * k + a] = best[a].1 }
            }
        }
        return result
    }

    /// The fraction of `queries` whose label is the majority label of their k nearest
    /// `references` (scikit-learn's `KNeighborsClassifier(n_neighbors: k)`, uniform weights: a
    /// tie between labels goes to the smallest). Without references, leave-one-out on the
    /// queries themselves (each point's neighbours are the others). Missing labels (an
    /// unlabelled split's `[]`) or too few points for k throw.
    public static func neighbourAccuracy<Scalar: BLASScalar>(_ queries: Tensor<Scalar>, labels: [Int], references: Tensor<Scalar>? = nil,
                                                            referenceLabels: [Int]? = nil, k: Int) throws(TrainingError) -> Double {
        let n = queries.shape[0]
        guard labels.count == n else { throw .dataMismatch("k-NN accuracy: \(labels.count) labels for \(n) points") }
        let (points, pointLabels) = (references ?? queries, referenceLabels ?? labels)
        guard pointLabels.count == points.shape[0] else {
            throw .dataMismatch("k-NN accuracy: \(pointLabels.count) reference labels for \(points.shape[0]) reference points")
        }
        if let bad = labels.first(where: { $0 < 0 }) ?? pointLabels.first(where: { $0 < 0 }) {
            throw .dataMismatch("k-NN accuracy: label \(bad) is negative")
        }
        let neighbours = try nearestNeighbours(of: queries, among: points, k: k, excludingSelf: references == nil)
        let classes = (pointLabels.max() ?? 0) + 1
        var correct = 0
        var votes = [Int](repeating: 0, count: classes)
        for i in 0 ..< n {
            for c in votes.indices { votes[c] = 0 }
            for j in neighbours[(i * k) ..< ((i + 1) * k)] { votes[pointLabels[j]] += 1 }
            var winner = 0
            for c in votes.indices where votes[c] > votes[winner] { winner = c }
            if winner == labels[i] { correct += 1 }
        }
        return Double(correct) / Double(max(n, 1))
    }
}
