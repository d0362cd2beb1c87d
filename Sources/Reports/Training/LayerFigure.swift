import Figures
import Foundation

/// Per-layer readout accuracy: the test accuracy when each layer's class dimensions are read as
/// class scores, one marker per layer.
///
/// A dashed line marks chance, 100 / `classes` % (the axis reaches down to it). Each layer's
/// distance from σI is the end of its line in ``distanceTrajectoryFigure(trace:stepsPerEpoch:title:width:)``,
/// labelled there with its value, so this figure does not draw it again.
public func layerFigure(accuracies: [Double], title: String, classes: Int = 10, width: FigureWidth = .doubleColumn) -> SVGCanvas {
    var canvas = SVGCanvas(printWidth: width, height: 0)
    let type = canvas.typography
    let top = canvas.figureTitle(title) + 4
    let layers = Double(accuracies.count)
    let chance = 100 / Double(max(classes, 1))
    let low = max(0, min((accuracies.filter(\.isFinite).min() ?? 0) * 100, chance) - 5).rounded(.down)
    let yDomain = low ... 100
    let left = canvas.leftMargin(y: Scale(domain: yDomain, pixels: (1, 0))) + 4
    let (right, bottom) = (canvas.width - 10, top + (width == .singleColumn ? 170 : 190))
    let x = Scale(domain: 0.5 ... (layers + 0.5), pixels: (left, right))
    let y = Scale(domain: yDomain, pixels: (bottom, top))
    canvas.axes(x: x, y: y, xLabel: "layer ℓ", yLabel: "test accuracy of class dims (%)", xTicks: min(accuracies.count, 10),
                data: ["panel": "readout"])
    canvas.line(left, y(chance), right, y(chance), stroke: "#999", width: 1, dash: "4,3")
    canvas.text("chance (\(compactChance(chance)) %)", x: right - 4, y: y(chance) - 4, size: type.tick, anchor: .end, fill: "#666",
                data: ["quantity": "chance"])
    let points = accuracies.enumerated().map { (x(Double($0.offset + 1)), y($0.element * 100)) }
    canvas.polyline(points, stroke: "#2c7fb8", width: 2)
    for (layer, p) in points.enumerated() {
        canvas.circle(x: p.0, y: p.1, radius: 3.5, fill: "#2c7fb8", data: ["layer": String(layer + 1)])
    }
    canvas.height = bottom + type.xTitleOffset + 8
    return canvas
}

/// 10 for 10 classes, 33.3 for 3.
private func compactChance(_ value: Double) -> String {
    value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
}
