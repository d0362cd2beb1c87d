import Figures
import Foundation

/// Loss and accuracy over training: two panels, per step (smoothed) and per epoch.
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
    let epochX = history.map { Double($0.epoch) }
    func markers(_ values: [Double], _ x: Scale, _ y: Scale, _ color: String, dashed: Bool = false) {
        let points = zip(epochX, values).map { (x($0), y($1)) }
        plotted += points
        for (a, b) in zip(points, points.dropFirst()) {  // the segments between the markers too
            plotted += (1 ..< 12).map { i in (a.0 + (b.0 - a.0) * Double(i) / 12, a.1 + (b.1 - a.1) * Double(i) / 12) }
        }
        canvas.polyline(points, stroke: color, width: 2, dash: dashed ? "6,3" : nil)
        for p in points { canvas.circle(x: p.0, y: p.1, radius: 3.5, fill: color) }
    }
    markers(history.map { max($0.trainLoss, lossLow) }, x1, y1, trainColor)
    markers(history.map { max($0.testLoss, lossLow) }, x1, y1, testColor)

    // Accuracy panel.
    let accuracies = history.flatMap { [$0.trainAccuracy, $0.testAccuracy] }
    let accLow = max(0, (accuracies.min() ?? 0) - 0.05), accHigh = min(1, (accuracies.max() ?? 1) + 0.03)
    let x2 = Scale(domain: 0 ... epochs, pixels: (530, 870))
    let y2 = Scale(domain: (accLow * 100) ... max(accHigh * 100, accLow * 100 + 1), pixels: (330, 60))
    canvas.axes(x: x2, y: y2, xLabel: "epoch", yLabel: "accuracy (%)", xTicks: min(Int(epochs), 10))
    markers(history.map { $0.trainAccuracy * 100 }, x2, y2, trainColor)
    markers(history.map { $0.testAccuracy * 100 }, x2, y2, testColor)
    if let last = history.last {
        let (labelX, labelY) = (x2(Double(last.epoch)) - 4, y2(last.testAccuracy * 100) + 18)
        canvas.text(String(format: "test %.2f %%", last.testAccuracy * 100), x: labelX, y: labelY, size: 11, anchor: .end, fill: testColor, halo: true)
        plotted += stride(from: 0.0, through: 76, by: 8).map { (labelX - $0, labelY - 4) }
    }
    // The legend goes in the panel corner that hides the fewest drawn points.
    let entries: [(color: String, label: String, style: LegendStyle)] = [
        (stepColor, "train loss per step (moving average)", .line), (trainColor, "train, per epoch", .line),
        (testColor, "test, per epoch", .line)]
    let (width, height) = SVGCanvas.legendSize(entries)
    let corners = [(420 - width - 6, 66.0), (86.0, 66.0), (420 - width - 6, 324 - height), (86.0, 324 - height),
                   (870 - width - 6, 66.0), (536.0, 66.0), (870 - width - 6, 324 - height), (536.0, 324 - height)]
    func hidden(_ corner: (Double, Double)) -> Int {
        plotted.filter { $0.0 >= corner.0 - 4 && $0.0 <= corner.0 + width + 4 && $0.1 >= corner.1 - 4 && $0.1 <= corner.1 + height + 4 }.count
    }
    let best = corners.min { hidden($0) < hidden($1) } ?? corners[0]
    canvas.legend(entries, x: best.0, y: best.1)
    return canvas
}

/// Viridis from dark (first layer) to green-yellow (last), stopping short of the palest yellow.
private func color(for layer: Int, of layers: Int) -> String {
    ColorMap.viridis.hex(layers <= 1 ? 0 : Double(layer) / Double(layers - 1) * 0.9)
}

/// How far every layer has moved from σI during training: ‖Wˡ − σI‖_F / ‖σI‖_F against the epoch,
/// one line per layer, coloured from the first layer (dark) to the last (green-yellow).
public func distanceTrajectoryFigure(trace: [(step: Int, distances: [Double])], stepsPerEpoch: Int, title: String) -> SVGCanvas {
    var canvas = SVGCanvas(width: 900, height: 400)
    canvas.text(title, x: 430, y: 24, size: 15, anchor: .middle, weight: "bold")
    let layers = trace.first?.distances.count ?? 0
    let perEpoch = Double(max(stepsPerEpoch, 1))
    let firstEpoch = Double(trace.first?.step ?? 0) / perEpoch, lastEpoch = Double(trace.last?.step ?? 1) / perEpoch
    let x = Scale(domain: firstEpoch ... max(lastEpoch, firstEpoch + 1e-9), pixels: (90, 760))
    let highest = trace.flatMap(\.distances).filter(\.isFinite).max() ?? 0
    let y = Scale(domain: 0 ... (highest.isFinite ? max(highest * 1.1, 1e-6) : 1), pixels: (340, 50))
    canvas.axes(x: x, y: y, xLabel: "epoch", yLabel: "‖Wˡ − σI‖ / ‖σI‖ (Frobenius)", xTicks: min(max(Int(lastEpoch - firstEpoch), 2), 10))
    for l in 0 ..< layers {
        let color = color(for: l, of: layers)
        let points = trace.map { (x(Double($0.step) / perEpoch), y($0.distances[l].isFinite ? $0.distances[l] : 0)) }
        canvas.polyline(points, stroke: color, width: 1.8)
        if let end = points.last { canvas.circle(x: end.0, y: end.1, radius: 2.5, fill: color) }
    }
    // One legend row per layer, or per every k-th layer, as many rows as fit beside the plot.
    let (legendTop, bottomMargin) = (50.0, 10.0)
    let rows = Int((canvas.height - legendTop - bottomMargin - SVGCanvas.legendSize([]).height) / SVGCanvas.legendRowHeight)
    var shown = Array(stride(from: 0, to: layers, by: max(1, (layers + rows - 1) / rows)))
    if let last = shown.last, last != layers - 1 { shown[shown.count - 1] = layers - 1 }  // always name the class layer
    canvas.legend(shown.map { (color(for: $0, of: layers), "layer \($0 + 1)", LegendStyle.line) }, x: 780, y: legendTop)
    return canvas
}
