import Figures
import Foundation
import Training

/// Where a per-epoch train figure belongs on the epoch axis: the centre of the steps it averages.
///
/// `trainLoss` and `trainAccuracy` of an ``EpochRecord`` are running means over the epoch's
/// mini-batches, taken while the weights change, not an evaluation at the epoch's end: they
/// describe the middle of the epoch, x = epoch − 0.5. A record resumed mid-epoch without the
/// running sums covers only the steps from `trainFiguresFromStep` on, and sits at their centre.
public func trainFigurePosition(_ record: EpochRecord, stepsPerEpoch: Int) -> Double {
    let steps = Double(max(stepsPerEpoch, 1))
    let first = Double(min(max((record.trainFiguresFromStep ?? 1) - 1, 0), max(stepsPerEpoch - 1, 0)))
    return Double(record.epoch - 1) + (first + steps) / 2 / steps
}

/// Loss and accuracy over training: two panels, per step (smoothed) and per epoch.
///
/// The train loss and accuracy per epoch are the running means over the epoch's mini-batches
/// (what ``Trainer`` records), drawn at mid-epoch (``trainFigurePosition(_:stepsPerEpoch:)``)
/// and labelled as such; test loss and accuracy are evaluated at the epoch's end and drawn there.
public func trainingCurvesFigure(history: [EpochRecord], stepLosses: [(step: Int, loss: Double)], stepsPerEpoch: Int, title: String) -> SVGCanvas {
    var canvas = SVGCanvas(width: 900, height: 400)
    canvas.text(title, x: 450, y: 24, size: 15, anchor: .middle, weight: "bold")
    let epochs = Double(max(history.last?.epoch ?? 1, 1))
    let trainColor = "#2c7fb8", testColor = "#d95f0e", stepColor = "#9ecae1"
    var plotted: [(Double, Double)] = []  // every drawn point, so that the legend can avoid them

    // Loss panel (log scale): smoothed step losses, and per-epoch train and test loss.
    let losses = stepLosses.map(\.loss) + history.flatMap { [$0.trainLoss, $0.testLoss] }
    let positive = losses.filter { $0 > 0 && $0.isFinite }
    let lossLow = max((positive.min() ?? 0.1) / 1.3, 1e-4), lossHigh = (positive.max() ?? 1) * 1.3
    let x1 = Scale(domain: 0 ... epochs, pixels: (80, 420))
    let y1 = Scale(domain: lossLow ... lossHigh, pixels: (330, 60), logarithmic: true)
    canvas.axes(x: x1, y: y1, xLabel: "epoch", yLabel: "cross-entropy loss (log scale)", xTicks: min(Int(epochs), 10))
    if !stepLosses.isEmpty && stepsPerEpoch > 0 {
        // Exponential moving average over about 50 steps.
        var average = stepLosses[0].loss
        let points = stepLosses.map { sample -> (Double, Double) in
            average = 0.96 * average + 0.04 * sample.loss
            return (x1(Double(sample.step) / Double(stepsPerEpoch)), y1(max(average, lossLow)))
        }
        canvas.polyline(points, stroke: stepColor, width: 1.2)
        plotted += points
    }
    let testX = history.map { Double($0.epoch) }
    let trainX = history.map { trainFigurePosition($0, stepsPerEpoch: stepsPerEpoch) }
    func markers(_ epochX: [Double], _ values: [Double], _ x: Scale, _ y: Scale, _ color: String, series: String, dashed: Bool = false) {
        let points = zip(epochX, values).map { (x($0), y($1)) }
        plotted += points
        for (a, b) in zip(points, points.dropFirst()) {  // the segments between the markers too
            plotted += (1 ..< 12).map { i in (a.0 + (b.0 - a.0) * Double(i) / 12, a.1 + (b.1 - a.1) * Double(i) / 12) }
        }
        canvas.polyline(points, stroke: color, width: 2, dash: dashed ? "6,3" : nil)
        for (p, epoch) in zip(points, epochX) {
            canvas.circle(x: p.0, y: p.1, radius: 3.5, fill: color, data: ["series": series, "epoch": String(format: "%.4f", epoch)])
        }
    }
    markers(trainX, history.map { max($0.trainLoss, lossLow) }, x1, y1, trainColor, series: "train-loss")
    markers(testX, history.map { max($0.testLoss, lossLow) }, x1, y1, testColor, series: "test-loss")

    // Accuracy panel.
    let accuracies = history.flatMap { [$0.trainAccuracy, $0.testAccuracy] }
    let accLow = max(0, (accuracies.min() ?? 0) - 0.05), accHigh = min(1, (accuracies.max() ?? 1) + 0.03)
    let x2 = Scale(domain: 0 ... epochs, pixels: (530, 870))
    let y2 = Scale(domain: (accLow * 100) ... max(accHigh * 100, accLow * 100 + 1), pixels: (330, 60))
    canvas.axes(x: x2, y: y2, xLabel: "epoch", yLabel: "accuracy (%)", xTicks: min(Int(epochs), 10))
    markers(trainX, history.map { $0.trainAccuracy * 100 }, x2, y2, trainColor, series: "train-accuracy")
    markers(testX, history.map { $0.testAccuracy * 100 }, x2, y2, testColor, series: "test-accuracy")
    if let last = history.last {
        let (labelX, labelY) = (x2(Double(last.epoch)) - 4, y2(last.testAccuracy * 100) + 18)
        canvas.text(String(format: "test %.2f %%", last.testAccuracy * 100), x: labelX, y: labelY, size: 11, anchor: .end, fill: testColor, halo: true)
        plotted += stride(from: 0.0, through: 76, by: 8).map { (labelX - $0, labelY - 4) }
    }
    // One legend per panel, each in the corner of its panel that hides the fewest drawn points.
    func placeLegend(_ entries: [(color: String, label: String, style: LegendStyle)], left: Double, right: Double) {
        let (width, height) = SVGCanvas.legendSize(entries)
        let corners = [(right - width - 6, 66.0), (left + 6, 66.0), (right - width - 6, 324 - height), (left + 6, 324 - height)]
        func hidden(_ corner: (Double, Double)) -> Int {
            plotted.filter { $0.0 >= corner.0 - 4 && $0.0 <= corner.0 + width + 4 && $0.1 >= corner.1 - 4 && $0.1 <= corner.1 + height + 4 }.count
        }
        let best = corners.min { hidden($0) < hidden($1) } ?? corners[0]
        canvas.legend(entries, x: best.0, y: best.1)
    }
    placeLegend([(stepColor, "train loss per step (moving average)", .line), (trainColor, TrainingCurvesLegend.trainLoss, .line),
                 (testColor, TrainingCurvesLegend.testLoss, .line)], left: 80, right: 420)
    placeLegend([(trainColor, TrainingCurvesLegend.trainAccuracy, .line), (testColor, TrainingCurvesLegend.testAccuracy, .line)], left: 530, right: 870)
    // The frames again, over the grid lines.
    canvas.rect(x: 80, y: 60, width: 340, height: 270, fill: "none", stroke: "#444")
    canvas.rect(x: 530, y: 60, width: 340, height: 270, fill: "none", stroke: "#444")
    return canvas
}

/// The legend's words for the per-epoch series: train figures are means over the epoch's
/// mini-batches (at mid-epoch), test figures are evaluated at the epoch's end.
public enum TrainingCurvesLegend {
    public static let trainLoss = "train loss, mean over the epoch's batches"
    public static let testLoss = "test loss, at epoch end"
    public static let trainAccuracy = "train acc., mean over the epoch's batches"
    public static let testAccuracy = "test accuracy, at epoch end"
}

/// The colours of `count` ordered layers: viridis from its dark end to t = 0.55, first layer
/// darkest. Sequential because layers are ordered (issue 23 #12: a categorical palette had
/// yellow, pink and teal labels at 1.6–2.2:1 on white); stopping at 0.55 keeps every colour at a
/// contrast of at least 3.4:1 against white (WCAG's ratio; viridis at 0.6 is 3.0:1).
public func layerPalette(_ count: Int) -> [String] {
    (0 ..< count).map { ColorMap.viridis.hex(count > 1 ? 0.55 * Double($0) / Double(count - 1) : 0) }
}

/// The layers that get a colour and a label: all of up to 10 layers; of more, the first, the
/// last and every k-th, at most 10 (the others are drawn thin and grey).
func labelledLayers(_ layers: Int) -> [Int] {
    guard layers > 10 else { return Array(0 ..< layers) }
    let step = Int((Double(layers - 1) / 9).rounded(.up))
    var shown = Array(stride(from: 0, to: layers - 1, by: step))
    shown.append(layers - 1)
    return shown
}

/// Label positions near `wanted` (sorted or not), at least `spacing` apart and inside
/// `low ... high`: labels that would overlap are pushed apart symmetrically.
func spreadLabels(_ wanted: [Double], spacing: Double, low: Double, high: Double) -> [Double] {
    let order = wanted.indices.sorted { wanted[$0] < wanted[$1] }
    var placed = order.map { min(max(wanted[$0], low), high) }
    // Repeatedly merge overlapping neighbours into clusters centred on their mean.
    for _ in 0 ..< 200 {
        var moved = false
        for i in 1 ..< max(placed.count, 1) where placed[i] - placed[i - 1] < spacing - 1e-9 {
            let centre = (placed[i] + placed[i - 1]) / 2
            placed[i - 1] = centre - spacing / 2
            placed[i] = centre + spacing / 2
            moved = true
        }
        // Keep inside the bounds.
        if let first = placed.first, first < low { placed = placed.map { $0 + (low - first) }; moved = true }
        if let last = placed.last, last > high, placed.count > 0 {
            let shift = last - high
            placed = placed.map { $0 - shift }
            moved = true
        }
        if !moved { break }
    }
    var result = [Double](repeating: 0, count: wanted.count)
    for (k, index) in order.enumerated() { result[index] = placed[k] }
    return result
}

/// How far every layer has moved from σI during training: ‖Wˡ − σI‖_F / ‖σI‖_F against the epoch,
/// one line per layer in a sequential palette (``layerPalette(_:)``), each labelled at its end (labels pushed apart
/// where lines end close together, with a leader line to their end point). Of more than 10
/// layers, the first, the last and every k-th are coloured and labelled, the others grey.
public func distanceTrajectoryFigure(trace: [(step: Int, distances: [Double])], stepsPerEpoch: Int, title: String) -> SVGCanvas {
    var canvas = SVGCanvas(width: 900, height: 400)
    canvas.text(title, x: 430, y: 24, size: 15, anchor: .middle, weight: "bold")
    let layers = trace.first?.distances.count ?? 0
    let perEpoch = Double(max(stepsPerEpoch, 1))
    let firstEpoch = Double(trace.first?.step ?? 0) / perEpoch, lastEpoch = Double(trace.last?.step ?? 1) / perEpoch
    let (plotLeft, plotRight, plotTop, plotBottom) = (90.0, 740.0, 50.0, 340.0)
    let x = Scale(domain: firstEpoch ... max(lastEpoch, firstEpoch + 1e-9), pixels: (plotLeft, plotRight))
    let highest = trace.flatMap(\.distances).filter(\.isFinite).max() ?? 0
    let y = Scale(domain: 0 ... (highest.isFinite ? max(highest * 1.1, 1e-6) : 1), pixels: (plotBottom, plotTop))
    canvas.axes(x: x, y: y, xLabel: "epoch", yLabel: "‖Wˡ − σI‖ / ‖σI‖ (Frobenius)", xTicks: min(max(Int(lastEpoch - firstEpoch), 2), 10))
    let shown = labelledLayers(layers)
    func points(_ l: Int) -> [(Double, Double)] {
        trace.map { (x(Double($0.step) / perEpoch), y($0.distances[l].isFinite ? $0.distances[l] : 0)) }
    }
    // Unlabelled layers first, thin and grey, under the labelled ones.
    for l in 0 ..< layers where !shown.contains(l) { canvas.polyline(points(l), stroke: "#c8c8c8", width: 1) }
    var ends: [(layer: Int, point: (Double, Double), color: String)] = []
    let palette = layerPalette(shown.count)
    for (k, l) in shown.enumerated() {
        let color = palette[k]
        let line = points(l)
        canvas.polyline(line, stroke: color, width: 1.8)
        if let end = line.last { ends.append((l, end, color)) }
    }
    // Direct labels at the right of the plot, in the order of the line ends.
    let labelX = plotRight + 22
    let positions = spreadLabels(ends.map(\.point.1), spacing: 14, low: plotTop + 4, high: plotBottom)
    for (end, labelY) in zip(ends, positions) {
        canvas.circle(x: end.point.0, y: end.point.1, radius: 2.5, fill: end.color)
        canvas.polyline([(end.point.0 + 3, end.point.1), (labelX - 12, end.point.1), (labelX - 3, labelY)], stroke: end.color, width: 1)
        canvas.text("layer \(end.layer + 1)", x: labelX, y: labelY + 4, size: 11, fill: end.color)
    }
    if shown.count < layers {
        canvas.text("grey: the other \(layers - shown.count) layers", x: plotRight, y: plotTop - 8, size: 11, anchor: .end, fill: "#777")
    }
    // The frame again, over the grid lines.
    canvas.rect(x: plotLeft, y: plotTop, width: plotRight - plotLeft, height: plotBottom - plotTop, fill: "none", stroke: "#444")
    return canvas
}
