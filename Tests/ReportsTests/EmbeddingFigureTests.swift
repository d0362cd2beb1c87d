import Figures
import Foundation
import Reports
import Testing

/// The embedding scatter and the maps figure read back against the numbers they were given.
@Suite struct EmbeddingFigureTests {
    @Test func scatterDrawsEveryPointInItsClassColour() throws {
        let x = [0.0, 1.5, -2.0, 3.25, 0.5], y = [1.0, -1.0, 0.25, 2.0, -3.0], labels = [0, 1, 2, 1, 0]
        for width in FigureWidth.allCases {
            let svg = embeddingScatter(x: x, y: y, labels: labels, classNames: ["a", "b", "c"], title: "t", width: width).render()
            let dots = svg.components(separatedBy: "<circle").dropFirst().filter { $0.contains("data-point=") }
            #expect(dots.count == 5)
            for dot in dots {
                func attribute(_ name: String) -> String {
                    let start = dot.range(of: "data-\(name)=\"")!.upperBound
                    return String(dot[start...].prefix { $0 != "\"" })
                }
                let i = Int(attribute("point"))!
                #expect(Double(attribute("x")) == x[i] && Double(attribute("y")) == y[i] && Int(attribute("label")) == labels[i])
                #expect(dot.contains(embeddingPalette[labels[i]]))
            }
            for name in ["a", "b", "c"] { #expect(svg.contains(">\(name)<"), "legend entry \(name)") }
        }
    }

    /// x spans 5.25 and y 5: a unit is drawn as long along x as along y (pixels per unit, to the
    /// SVG's two-decimal coordinates: each difference of two is off by up to 0.01 px), and y
    /// still runs upwards.
    @Test func scatterDrawsBothCoordinatesOnOneScale() throws {
        let x = [0.0, 1.5, -2.0, 3.25, 0.5], y = [1.0, -1.0, 0.25, 2.0, -3.0], labels = [0, 1, 2, 1, 0]
        for width in FigureWidth.allCases {
            let svg = embeddingScatter(x: x, y: y, labels: labels, classNames: ["a", "b", "c"], title: "t", width: width).render()
            var centre = [Int: (Double, Double)]()
            for dot in svg.components(separatedBy: "<circle").dropFirst().filter({ $0.contains("data-point=") }) {
                func attribute(_ name: String) -> String {
                    let start = dot.range(of: " \(name)=\"")!.upperBound
                    return String(dot[start...].prefix { $0 != "\"" })
                }
                centre[Int(attribute("data-point"))!] = (Double(attribute("cx"))!, Double(attribute("cy"))!)
            }
            // Points 2 and 3 are the x extremes, 4 and 3 the y extremes.
            let perUnitX = (centre[3]!.0 - centre[2]!.0) / (x[3] - x[2]), perUnitY = (centre[4]!.1 - centre[3]!.1) / (y[3] - y[4])
            #expect(perUnitX > 0 && abs(perUnitX - perUnitY) <= 0.01 / (x[3] - x[2]) + 0.01 / (y[3] - y[4]), "\(width): \(perUnitX) vs \(perUnitY) pixels per unit")
        }
    }

    @Test func mapsFigureHasAnImageAndTwoMapsPerRow() throws {
        let image = (0 ..< 16).map { Double($0) / 15 }
        let maps = [[(0 ..< 16).map { Double($0) - 8 }, (0 ..< 16).map { 8 - Double($0) }]]
        let svg = embeddingMapsFigure(images: [image], maps: maps, points: [[1.25, -2.5]], biases: [[0.5, 0.25]], captions: ["image 0"],
                                      imageShape: [4, 4], title: "maps").render()
        #expect(svg.components(separatedBy: "<image").count - 1 == 3)
        // The caption may wrap: its numbers, not its line breaks.
        for number in ["1.25", "-2.50", "0.50", "0.25"] { #expect(svg.contains(number), "\(number)") }
    }
}
