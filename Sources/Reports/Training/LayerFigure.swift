import Figures
import Foundation

/// Per-layer readout accuracy and distance from identity, as a two-panel figure.
///
/// A dashed line marks chance, 100 / `classes` % (the axis reaches down to it).
public func layerFigure(accuracies: [Double], distances: [Double], title: String, classes: Int = 10) -> SVGCanvas {
    var canvas = SVGCanvas(width: 900, height: 380)
    canvas.text(title, x: 450, y: 24, size: 15, anchor: .middle, weight: "bold")
    let layers = Double(accuracies.count)
    let x1 = Scale(domain: 0.5 ... (layers + 0.5), pixels: (80, 420))
    let chance = 100 / Double(max(classes, 1))
    let low = max(0, min((accuracies.filter(\.isFinite).min() ?? 0) * 100, chance) - 5).rounded(.down)
    let y1 = Scale(domain: low ... 100, pixels: (320, 60))
    canvas.axes(x: x1, y: y1, xLabel: "layer", yLabel: "test accuracy of class dims (%)", xTicks: min(accuracies.count, 10))
    canvas.line(80, y1(chance), 420, y1(chance), stroke: "#999", width: 1, dash: "4,3")
    canvas.text("chance (\(compactChance(chance)) %)", x: 416, y: y1(chance) - 4, size: 11, anchor: .end, fill: "#777",
                data: ["quantity": "chance"])
    let points = accuracies.enumerated().map { (x1(Double($0.offset + 1)), y1($0.element * 100)) }
    canvas.polyline(points, stroke: "#2c7fb8", width: 2)
    for p in points { canvas.circle(x: p.0, y: p.1, radius: 4, fill: "#2c7fb8") }
    let x2 = Scale(domain: 0.5 ... (layers + 0.5), pixels: (530, 870))
    // Distances from data may be infinite (σ near 0): scale to the finite ones.
    let largest = distances.filter(\.isFinite).max() ?? 0
    let y2 = Scale(domain: 0 ... max(largest * 1.15, 1e-3), pixels: (320, 60))
    canvas.axes(x: x2, y: y2, xLabel: "layer", yLabel: "‖Wˡ − σI‖ / ‖σI‖ (Frobenius)", xTicks: min(distances.count, 10))
    for (l, d) in distances.enumerated() {
        let cx = x2(Double(l + 1))
        canvas.rect(x: cx - 10, y: y2(d), width: 20, height: y2(0) - y2(d), fill: "#d95f0e")
    }
    return canvas
}

/// 10 for 10 classes, 33.3 for 3.
private func compactChance(_ value: Double) -> String {
    value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
}
