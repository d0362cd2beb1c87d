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
