import Figures
import Foundation
@testable import Reports
import Testing

/// Issue 23 #7: in the standalone SVG of Figure 8 the row label "predicted: … (correct/wrong)"
/// ran under the first thumbnail and was cut. Labels now wrap to their column.
@Suite struct MapGridLabelTests {
    @Test func rowLabelsEndBeforeTheFirstMap() {
        let panel = MapPanel(values: [Double](repeating: 0.5, count: 4), limit: 1, title: "t", caption: "±1")
        let labels = ["#12<br>true: T-shirt/top<br>predicted: Pullover (wrong)", "#3<br>true: Ankle boot<br>predicted: Ankle boot (correct)",
                      "#7<br>true: x<br>predicted: Averyveryveryverylongclassname (wrong)"]
        let grid = MapGrid(width: 2, height: 2, columns: ["input", "true class"], rows: labels.map { MapRow(label: $0, panels: [panel, panel]) })
        let svg = grid.svg(title: "Linearisation", legend: nil).render()
        let firstImage = Double(svg.firstMatch(of: /<image x="([0-9.]+)"/)!.output.1)!
        // Every label (x = 10, size 11) must end before the first map, at the width estimated
        // for Helvetica (0.55 em a character, SVGCanvas's layout estimate) plus 4 px of margin.
        let texts = svg.matches(of: /<text x="10.00" y="[0-9.]+" font-size="11.00"[^>]*>([^<]*)<\/text>/).map { String($0.output.1) }
        #expect(texts.contains("(wrong)") || texts.contains("Pullover (wrong)"))
        #expect(texts.contains { $0.contains("Averyveryveryverylongclassname") })
        for text in texts {
            #expect(10 + SVGCanvas.estimatedTextWidth(text, size: 11) + 4 <= firstImage, "\"\(text)\" reaches the map at \(firstImage)")
        }
    }
}
