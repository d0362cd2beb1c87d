import Datasets
import Foundation
import Networks
import TensorAlgebra
import IsometrySupport

// The interpreter's analyses on any piecewise-linear layer stack: what needs only the map
// (predictions, linearisation, switched projections, Insens) for every stack, what reads the
// class units of every layer (readout, contribution maps, templates) for stacks with class
// dimensions, with a typed error naming the missing piece otherwise.

extension LayerStack {
    /// The output units that score the classes: the class units of a stack with class
    /// dimensions, all outputs otherwise.
    public var scoreUnits: Range<Int> { classDimensions?.classRange ?? 0 ..< outputShape.reduce(1, *) }

    /// The layers read as the classifier's layers ℓ = 1 … L when the stack has class
    /// dimensions (docs/theory.md §1): the dense layers whose output is `features + classes`
    /// wide, their outputs h^ℓ the pre-activations whose class units are read.
    public func readoutLayers() throws(InterpretationError) -> [Int] {
        guard let classes = classDimensions else { throw .needsClassDimensions(analysis: "per-layer readout") }
        return layers.indices.filter { layers[$0] is Dense<Scalar> && shapes[$0 + 1] == [classes.width] }
    }

    /// Checks that the stack can be read exactly and that `data` and `samples` fit it: the
    /// images have as many pixels as the stack takes inputs (D with class dimensions), in a shape
    /// its first layer reads (``LayerStack/checkSamples(shape:source:)``), every
    /// label is one of its score units, the sample indices are in range.
    public func check(data: LabeledImages, samples: [Int] = []) throws(InterpretationError) {
        try checkInterpretable()
        guard data.count > 0 else { throw .emptyData }
        let inputs = classDimensions?.features ?? inputShape.reduce(1, *)
        guard data.features == inputs else { throw .inputWidthMismatch(found: data.features, expected: inputs) }
        do { try checkSamples(shape: data.imageShape, source: "the images") } catch { throw .sampleShape(error) }
        // The stack's score units are the classes (a dataset's class count may be a format's
        // default): every label must name one of them.
        if let label = data.labels.max(), label >= scoreUnits.count {
            throw .outputsDoNotFitClasses(outputs: scoreUnits.count, classes: label + 1)
        }
        if let bad = samples.first(where: { $0 < 0 || $0 >= data.count }) { throw .sampleOutOfRange(index: bad, count: data.count) }
    }

    /// Images `indices` of `data` as a batch `[count] + inputShape` (pixels / 255, class
    /// units zero).
    func batch(_ data: LabeledImages, _ indices: ArraySlice<Int>) -> Tensor<Scalar> {
        let width = inputShape.reduce(1, *)
        var rows = Tensor<Scalar>.zeros([indices.count, width])
        data.gather(indices, into: &rows)
        return rows.reshaped([indices.count] + inputShape)
    }
}

/// The predictions of a stack over a dataset: argmax of its score units.
public struct StackEvaluation: Sendable, Codable, Equatable {
    public var predictions: [Int]
    public var correct: Int
    public var accuracy: Double
    /// confusion[true][predicted].
    public var confusion: [[Int]]

    /// Runs `data` through `stack` in batches (``LayerStack/check(data:samples:)`` first).
    public init<Scalar: BLASScalar>(_ stack: LayerStack<Scalar>, data: LabeledImages, batchSize: Int = 500) throws(InterpretationError) {
        require(batchSize >= 1, "StackEvaluation: batch size must be at least 1, got \(batchSize)")
        try stack.check(data: data)
        let units = stack.scoreUnits
        var predictions: [Int] = []
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: units.count), count: units.count)
        var start = 0
        while start < data.count {
            let size = min(batchSize, data.count - start)
            let output = stack(stack.batch(data, Array(start ..< start + size)[...]))
            let width = output.count / size
            output.withUnsafeBufferPointer { f in
                for i in 0 ..< size {
                    let scores = f[(i * width + units.lowerBound) ..< (i * width + units.upperBound)]
                    // The first of equal maxima, as PyTorch's argmax.
                    var best = 0
                    for (k, value) in scores.enumerated() where value > scores[scores.startIndex + best] { best = k }
                    predictions.append(best)
                    confusion[data.labels[start + i]][best] += 1
                }
            }
            start += size
        }
        self.predictions = predictions
        correct = zip(predictions, data.labels).filter { $0 == $1 }.count
        accuracy = Double(correct) / Double(data.count)
        self.confusion = confusion
    }
}

/// One image's analysis on a stack: what applies to every piecewise-linear stack (switched
/// projections, Insens) and, with class dimensions, the contribution maps of its readout layers.
public struct StackSampleAnalysis: Sendable {
    public var index: Int
    public var label: Int
    public var prediction: Int
    /// The image's features, pixels in [0, 1].
    public var input: [Double]
    /// The Insens map Ω(x) over the features, and how many inactive units entered it.
    public var insens: [Double]
    public var insensUnits: Int
    /// The switched projections' reproduction error (every unit of every layer).
    public var projectionError: Double
    /// The fraction of active units of every unit layer at this image (``UnitActivity``).
    public var activeFractions: [Double]
    /// With class dimensions, per readout layer ℓ: x^ℓ[0..<D] − x^{ℓ−1}[0..<D], x^ℓ the
    /// layer's output after its activation (the dense output when none follows); nil without.
    public var layerChanges: [[Double]]?
    /// With class dimensions, per readout layer: x^ℓ[0..<D] − x^0[0..<D]; nil without.
    public var cumulativeChanges: [[Double]]?
}

extension LayerStack {
    /// Analyses image `index` of `data` (checked with ``check(data:samples:)`` by the caller
    /// or here).
    public func analyse(_ data: LabeledImages, index: Int) throws(InterpretationError) -> StackSampleAnalysis {
        try check(data: data, samples: [index])
        let x = batch(data, [index])
        let projections = try SwitchedLinearProjections(self, at: x.reshaped(inputShape))
        let (insens, units) = projections.insens()
        let scores = projections.outputs.last!.scalars[scoreUnits]
        var prediction = 0
        for (k, value) in scores.enumerated() where value > scores[scores.startIndex + prediction] { prediction = k }
        let features = classDimensions?.features ?? x.count
        let input = Array(x.scalars[0 ..< features]).map(Double.init)
        var layerChanges: [[Double]]?, cumulative: [[Double]]?
        if classDimensions != nil {
            var previous = input
            layerChanges = []
            cumulative = []
            for l in try readoutLayers() {
                // The layer's output after the activation that follows it, if one does.
                let after = l + 1 < layerCount && layers[l + 1] is ActivationLayer<Scalar> ? l + 1 : l
                let state = projections.outputs[after].scalars[0 ..< features].map(Double.init)
                layerChanges!.append(zip(state, previous).map { $0 - $1 })
                cumulative!.append(zip(state, input).map { $0 - $1 })
                previous = state
            }
        }
        return StackSampleAnalysis(index: index, label: data.labels[index], prediction: prediction, input: input, insens: insens,
                                   insensUnits: units, projectionError: projections.reproductionError(),
                                   activeFractions: projections.activity.layers.indices.map { projections.activity.fraction(instance: 0, layer: $0) },
                                   layerChanges: layerChanges, cumulativeChanges: cumulative)
    }
}

extension LayerStack {
    /// The ``ChannelMaps`` of every channel layer (``channelLayers``) at image `index` of `data`
    /// for `scoreUnit` (an index into ``scoreUnits``; the predicted class when nil).
    public func channelMaps(_ data: LabeledImages, index: Int, scoreUnit: Int? = nil) throws(InterpretationError) -> [ChannelMaps] {
        try check(data: data, samples: [index])
        let layers = channelLayers
        guard !layers.isEmpty else { return [] }
        let projections = try SwitchedLinearProjections(self, at: batch(data, [index]).reshaped(inputShape))
        let scores = projections.outputs.last!.scalars[scoreUnits]
        var chosen = 0
        for (k, value) in scores.enumerated() where value > scores[scores.startIndex + chosen] { chosen = k }
        if let scoreUnit {
            guard (0 ..< scoreUnits.count).contains(scoreUnit) else { throw .unitOutOfRange(layer: layerCount - 1, unit: [scoreUnit], shape: [scoreUnits.count]) }
            chosen = scoreUnit
        }
        let features = classDimensions.map { 0 ..< $0.features }
        var maps: [ChannelMaps] = []
        for l in layers { maps.append(try projections.channelMaps(layer: l, unit: scoreUnits.lowerBound + chosen, features: features)) }
        return maps
    }
}

extension LayerReadout {
    /// Reads every readout layer of a stack with class dimensions over `data`: layer ℓ's
    /// class units h^ℓ[D..<D+C] as class scores. `sigma`, when given, gives each readout
    /// layer's ‖W − σI‖/‖σI‖ (empty otherwise: a stack does not know its initialisation).
    /// Throws ``InterpretationError/needsClassDimensions(analysis:)`` for a stack without.
    public init<Scalar: BLASScalar>(_ stack: LayerStack<Scalar>, data: LabeledImages, sigma: Double? = nil,
                                    batchSize: Int = 500) throws(InterpretationError) {
        require(batchSize >= 1, "LayerReadout: batch size must be at least 1, got \(batchSize)")
        let readout = try stack.readoutLayers()
        try stack.check(data: data)
        let classes = stack.classDimensions!
        let c = classes.classes
        var confusion = [[[Int]]](repeating: [[Int]](repeating: [Int](repeating: 0, count: c), count: c), count: readout.count)
        var likelihood = [Double](repeating: 0, count: readout.count)
        var start = 0
        while start < data.count {
            let size = min(batchSize, data.count - start)
            let workspace = stack.makeWorkspace(batchSize: size)
            stack.forward(stack.batch(data, Array(start ..< start + size)[...]), in: workspace)
            for (r, l) in readout.enumerated() {
                let h = workspace.activations[l + 1].scalars
                for i in 0 ..< size {
                    let scores = (0 ..< c).map { Double(h[i * classes.width + classes.features + $0]) }
                    let top = scores.max()!
                    let predicted = scores.firstIndex(of: top)!
                    let label = data.labels[start + i]
                    confusion[r][label][predicted] += 1
                    let total = scores.reduce(0) { $0 + Foundation.exp($1 - top) }
                    likelihood[r] += Foundation.exp(scores[label] - top) / total
                }
            }
            start += size
        }
        let count = Double(data.count)
        accuracies = confusion.map { m in Double((0 ..< c).reduce(0) { $0 + m[$1][$1] }) / count }
        trueClassLikelihoods = likelihood.map { $0 / count }
        self.confusion = confusion
        distanceFromIdentity = sigma.map { sigma in
            readout.map { l in
                let w = (stack.layers[l] as! Dense<Scalar>).weight
                let n = w.shape[0]
                let difference = w.withUnsafeBufferPointer { e in
                    (0 ..< n * n).reduce(0.0) { sum, i in
                        let d = Double(e[i]) - (i / n == i % n ? sigma : 0)
                        return sum + d * d
                    }
                }
                return (difference / (sigma * sigma * Double(n))).squareRoot()
            }
        } ?? []
        samples = data.count
    }
}

extension ClassTemplates {
    /// The class templates W^ℓ[D+c, 0..<D] of the readout layers of a stack with class
    /// dimensions; throws ``InterpretationError/needsClassDimensions(analysis:)`` without.
    public init<Scalar: BLASScalar>(_ stack: LayerStack<Scalar>) throws(InterpretationError) {
        guard let classes = stack.classDimensions else { throw .needsClassDimensions(analysis: "class templates") }
        let (d, c) = (classes.features, classes.classes)
        values = try stack.readoutLayers().map { l in
            let w = (stack.layers[l] as! Dense<Scalar>).weight
            let n = w.shape[1]
            return w.withUnsafeBufferPointer { e in (0 ..< c).map { k in (0 ..< d).map { Double(e[(d + k) * n + $0]) } } }
        }
    }
}

extension DatasetLinearisation {
    /// The linearisation of a stack's score units (``LayerStack/scoreUnits``) at the first
    /// `count` images of `data` (all when nil) in batches, then at `samples` with their maps
    /// kept: attributions over the D features, bias shares, scores.
    public init<Scalar: BLASScalar>(
        _ stack: LayerStack<Scalar>, data: LabeledImages, count: Int? = nil, samples: [Int] = [],
        batchSize: Int = 1000, progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }
    ) throws(InterpretationError) {
        var activity = UnitActivity(stack)
        var classMeans = ClassMeanWeights(classes: stack.scoreUnits.count, features: data.features)
        try self.init(stack, data: data, count: count, samples: samples, batchSize: batchSize, activity: &activity,
                      classMeans: &classMeans, progress: progress)
    }

    /// As the public init, also counting the active units of the first `count` images into
    /// `activity` and adding their W(x) rows of their own class into `classMeans`.
    init<Scalar: BLASScalar>(
        _ stack: LayerStack<Scalar>, data: LabeledImages, count: Int?, samples: [Int], batchSize: Int,
        activity: inout UnitActivity, classMeans: inout ClassMeanWeights, progress: (_ done: Int, _ total: Int) -> Void
    ) throws(InterpretationError) {
        require(batchSize >= 1, "DatasetLinearisation: batch size must be at least 1, got \(batchSize)")
        require(count.map { $0 >= 1 } ?? true, "DatasetLinearisation: count must be at least 1, got \(count ?? 0)")
        try stack.check(data: data, samples: samples)
        let units = stack.scoreUnits
        let total = min(count ?? data.count, data.count)
        let work = total + samples.count
        var worst = 0.0
        var start = 0
        while start < total {
            let size = min(batchSize, total - start)
            let linear = StackLinearisation(checked: stack, inputs: stack.batch(data, Array(start ..< start + size)[...]), units: units)
            worst = max(worst, linear.completenessError)
            activity.append(contentsOf: linear.activity)
            for i in 0 ..< size { classMeans.add(linear, instance: i, label: data.labels[start + i]) }
            start += size
            progress(start, work)
        }
        var detail: [SampleLinearisation] = []
        var first = 0
        while first < samples.count {
            let chosen = samples[first ..< min(first + batchSize, samples.count)]
            let inputs = stack.batch(data, chosen)
            let linear = StackLinearisation(checked: stack, inputs: inputs, units: units)
            worst = max(worst, linear.completenessError)
            let width = inputs.count / chosen.count
            for (row, index) in chosen.enumerated() {
                let x = Array(inputs.scalars[(row * width) ..< (row * width + data.features)])
                detail.append(SampleLinearisation(
                    index: index, attributions: (0 ..< units.count).map { linear.attribution(instance: row, unit: $0, input: x) },
                    biasShares: (0 ..< units.count).map { Double(linear.biases[row, $0]) },
                    logits: (0 ..< units.count).map { Double(linear.outputs[row, $0]) }))
            }
            first += chosen.count
            progress(total + first, work)
        }
        self.count = total
        self.batchSize = batchSize
        completenessError = worst
        self.samples = detail
    }
}
