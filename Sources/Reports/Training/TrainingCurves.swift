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

/// Loss and accuracy over training: two panels, per step (smoothed) and per epoch, side by
/// side at double-column width and stacked in a single column.
///
/// The train loss and accuracy per epoch are the running means over the epoch's mini-batches
/// (what ``Trainer`` records), drawn at mid-epoch (``trainFigurePosition(_:stepsPerEpoch:)``)
/// and labelled as such; test loss and accuracy are evaluated at the epoch's end and drawn there.
/// One legend under the panels serves both (the colours are the same in each).
public func trainingCurvesFigure(history: [EpochRecord], stepLosses: [(step: Int, loss: Double)], stepsPerEpoch: Int, title: String,
                                 width: FigureWidth = .doubleColumn) -> SVGCanvas {
    var canvas = SVGCanvas(printWidth: width, height: 0)
    let type = canvas.typography
    let top = canvas.figureTitle(title)
    let epochs = Double(max(history.last?.epoch ?? 1, 1))
    let trainColor = "#2c7fb8", testColor = "#d95f0e", stepColor = "#9ecae1"

    // Loss (log scale): smoothed step losses, and per-epoch train and test loss.
    let losses = stepLosses.map(\.loss) + history.flatMap { [$0.trainLoss, $0.testLoss] }
    let positive = losses.filter { $0 > 0 && $0.isFinite }
    let lossLow = max((positive.min() ?? 0.1) / 1.3, 1e-4), lossHigh = (positive.max() ?? 1) * 1.3
    let accuracies = history.flatMap { [$0.trainAccuracy, $0.testAccuracy] }
    let accLow = max(0, (accuracies.min() ?? 0) - 0.05), accHigh = min(1, (accuracies.max() ?? 1) + 0.03)
    let lossDomain = lossLow ... lossHigh
    let accuracyDomain = (accLow * 100) ... max(accHigh * 100, accLow * 100 + 1)
    let plots = panelPlots(canvas, top: top, height: width == .singleColumn ? 165 : 185,
                           yScales: [Scale(domain: lossDomain, pixels: (1, 0), logarithmic: true), Scale(domain: accuracyDomain, pixels: (1, 0))])
    let x1 = Scale(domain: 0 ... epochs, pixels: (plots[0].left, plots[0].right))
    let y1 = Scale(domain: lossDomain, pixels: (plots[0].bottom, plots[0].top), logarithmic: true)
    canvas.axes(x: x1, y: y1, xLabel: "epoch", yLabel: "cross-entropy loss (log scale)", xTicks: min(Int(epochs), 10),
                data: ["panel": "loss"])
    if !stepLosses.isEmpty && stepsPerEpoch > 0 {
        // Exponential moving average over about 50 steps.
        var average = stepLosses[0].loss
        let points = stepLosses.map { sample -> (Double, Double) in
            average = 0.96 * average + 0.04 * sample.loss
            return (x1(Double(sample.step) / Double(stepsPerEpoch)), y1(max(average, lossLow)))
        }
        canvas.polyline(points, stroke: stepColor, width: 1.2)
    }
    let testX = history.map { Double($0.epoch) }
    let trainX = history.map { trainFigurePosition($0, stepsPerEpoch: stepsPerEpoch) }
    func markers(_ epochX: [Double], _ values: [Double], _ x: Scale, _ y: Scale, _ color: String, series: String) {
        let points = zip(epochX, values).map { (x($0), y($1)) }
        canvas.polyline(points, stroke: color, width: 2)
        for (p, epoch) in zip(points, epochX) {
            canvas.circle(x: p.0, y: p.1, radius: 3, fill: color, data: ["series": series, "epoch": String(format: "%.4f", epoch)])
        }
    }
    markers(trainX, history.map { max($0.trainLoss, lossLow) }, x1, y1, trainColor, series: "train-loss")
    markers(testX, history.map { max($0.testLoss, lossLow) }, x1, y1, testColor, series: "test-loss")

    // Accuracy.
    let x2 = Scale(domain: 0 ... epochs, pixels: (plots[1].left, plots[1].right))
    let y2 = Scale(domain: accuracyDomain, pixels: (plots[1].bottom, plots[1].top))
    canvas.axes(x: x2, y: y2, xLabel: "epoch", yLabel: "accuracy (%)", xTicks: min(Int(epochs), 10), data: ["panel": "accuracy"])
    markers(trainX, history.map { $0.trainAccuracy * 100 }, x2, y2, trainColor, series: "train-accuracy")
    markers(testX, history.map { $0.testAccuracy * 100 }, x2, y2, testColor, series: "test-accuracy")
    if let last = history.last {
        // Below the last test marker, or above it when that would leave the plot.
        let below = y2(last.testAccuracy * 100) + type.tick + 6
        let labelY = below < plots[1].bottom - 4 ? below : y2(last.testAccuracy * 100) - 8
        canvas.text(String(format: "test %.2f %%", last.testAccuracy * 100), x: x2(Double(last.epoch)) - 4, y: labelY, size: type.tick,
                    anchor: .end, fill: testColor, halo: true)
    }
    // The frames again, over the lines.
    canvas.frame(x: x1, y: y1)
    canvas.frame(x: x2, y: y2)
    let legendTop = plots.map(\.bottom).max()! + type.xTitleOffset + 8
    canvas.height = canvas.legendRows([(stepColor, TrainingCurvesLegend.steps, .line), (trainColor, TrainingCurvesLegend.train, .marker),
                                       (testColor, TrainingCurvesLegend.test, .marker)],
                                      x: plots[0].left - 30, y: legendTop, width: canvas.width - plots[0].left + 24) + 6
    return canvas
}

/// The legend's words: train figures per epoch are means over the epoch's mini-batches (drawn
/// at mid-epoch), test figures are evaluated at the epoch's end.
public enum TrainingCurvesLegend {
    public static let steps = "train loss per step (moving average of about 50 steps)"
    public static let train = "train, running mean over the epoch's mini-batches (at mid-epoch)"
    public static let test = "test, evaluated at the epoch's end"
}

/// The plot areas of a figure's panels: side by side in one row at double-column width, one
/// above the other in a single column, each with room on its left for the axis that `yScales`
/// (only their domains count) will draw, and room below for the x axis.
func panelPlots(_ canvas: SVGCanvas, top: Double, height: Double, yScales: [Scale],
                right: Double = 8) -> [(left: Double, right: Double, top: Double, bottom: Double)] {
    let type = canvas.typography
    let stacked = canvas.printWidth == .singleColumn
    let columns = stacked ? 1 : yScales.count
    let cell = canvas.width / Double(columns)
    var plots: [(left: Double, right: Double, top: Double, bottom: Double)] = []
    // Stacked panels share their left edge: the widest axis sets it.
    let sharedMargin = yScales.map { canvas.leftMargin(y: $0) }.max() ?? 0
    for (index, scale) in yScales.enumerated() {
        let column = stacked ? 0 : index, row = stacked ? index : 0
        let left = cell * Double(column) + (stacked ? sharedMargin : canvas.leftMargin(y: scale)) + 4
        let plotTop = top + Double(row) * (height + type.xTitleOffset + 14)
        plots.append((left, cell * Double(column + 1) - right, plotTop, plotTop + height))
    }
    return plots
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
/// one line per layer in a sequential palette (``layerPalette(_:)``), each labelled at its end
/// with its final distance (labels pushed apart where lines end close together, with a leader
/// line to their end point). Of more than 10 layers, the first, the last and every k-th are
/// coloured and labelled, the others grey.
public func distanceTrajectoryFigure(trace: [(step: Int, distances: [Double])], stepsPerEpoch: Int, title: String,
                                     width: FigureWidth = .doubleColumn) -> SVGCanvas {
    var canvas = SVGCanvas(printWidth: width, height: 0)
    let type = canvas.typography
    let top = canvas.figureTitle(title) + 4
    let layers = trace.first?.distances.count ?? 0
    let perEpoch = Double(max(stepsPerEpoch, 1))
    let firstEpoch = Double(trace.first?.step ?? 0) / perEpoch, lastEpoch = Double(trace.last?.step ?? 1) / perEpoch
    let highest = trace.flatMap(\.distances).filter(\.isFinite).max() ?? 0
    let yDomain = 0 ... (highest.isFinite ? max(highest * 1.1, 1e-6) : 1)
    // Room on the right for the labels, "layer 10: 0.1234".
    let labelWidth = SVGCanvas.estimatedTextWidth("layer 10: 0.0000", size: type.tick) + 26
    let plotLeft = canvas.leftMargin(y: Scale(domain: yDomain, pixels: (1, 0))) + 4
    let (plotRight, plotTop, plotBottom) = (canvas.width - labelWidth, top, top + (width == .singleColumn ? 190 : 220))
    let x = Scale(domain: firstEpoch ... max(lastEpoch, firstEpoch + 1e-9), pixels: (plotLeft, plotRight))
    let y = Scale(domain: yDomain, pixels: (plotBottom, plotTop))
    canvas.axes(x: x, y: y, xLabel: "epoch", yLabel: "‖W^{ℓ} − σI‖_{F} / ‖σI‖_{F}", xTicks: min(max(Int(lastEpoch - firstEpoch), 2), 10),
                data: ["panel": "distance"])
    let shown = labelledLayers(layers)
    func points(_ l: Int) -> [(Double, Double)] {
        trace.map { (x(Double($0.step) / perEpoch), y($0.distances[l].isFinite ? $0.distances[l] : 0)) }
    }
    // Unlabelled layers first, thin and grey, under the labelled ones.
    for l in 0 ..< layers where !shown.contains(l) { canvas.polyline(points(l), stroke: "#c8c8c8", width: 1) }
    var ends: [(layer: Int, point: (Double, Double), value: Double, color: String)] = []
    let palette = layerPalette(shown.count)
    for (k, l) in shown.enumerated() {
        let color = palette[k]
        let line = points(l)
        canvas.polyline(line, stroke: color, width: 1.8)
        if let end = line.last, let value = trace.last?.distances[l] { ends.append((l, end, value, color)) }
    }
    // Direct labels at the right of the plot, in the order of the line ends.
    let labelX = plotRight + 22
    let positions = spreadLabels(ends.map(\.point.1), spacing: type.tick * 1.25, low: plotTop + 4, high: plotBottom)
    for (end, labelY) in zip(ends, positions) {
        canvas.circle(x: end.point.0, y: end.point.1, radius: 2.5, fill: end.color)
        canvas.polyline([(end.point.0 + 3, end.point.1), (labelX - 12, end.point.1), (labelX - 3, labelY)], stroke: end.color, width: 1)
        canvas.text("layer \(end.layer + 1): " + (end.value.isFinite ? String(format: "%.4f", end.value) : "∞"), x: labelX,
                    y: labelY + type.tick * 0.36, size: type.tick, fill: end.color, data: ["layer": String(end.layer + 1)])
    }
    var bottom = plotBottom + type.xTitleOffset + 6
    if shown.count < layers {
        bottom = canvas.paragraph("Grey: the other \(layers - shown.count) layers.", x: 6, y: bottom + type.caption, width: canvas.width - 12,
                                  size: type.caption, fill: "#555")
    }
    // The frame again, over the lines.
    canvas.frame(x: x, y: y)
    canvas.height = bottom + 6
    return canvas
}
