import Foundation

/// The printed width of a figure in a two-column paper: one column, or the whole text width
/// (a `figure*` across both columns).
///
/// A canvas made with ``SVGCanvas/init(printWidth:height:)`` is laid out at that width, one
/// canvas pixel being a CSS pixel (1/96 in), and states it in its document (`width="6.75in"`):
/// printed at the stated width, its text has the sizes of ``Typography/print``, 7.5–9 pt.
/// 3.25 in and 6.75 in are the column and text widths of ICML's and NeurIPS's two-column
/// formats (CVPR's and IEEE's differ by at most 0.4 in).
public enum FigureWidth: String, Sendable, CaseIterable {
    /// One column: 3.25 in (312 canvas pixels). Multi-panel figures stack their panels.
    case singleColumn = "single-column"
    /// The text width across both columns: 6.75 in (648 canvas pixels).
    case doubleColumn = "double-column"

    public var inches: Double {
        switch self {
        case .singleColumn: 3.25
        case .doubleColumn: 6.75
        }
    }

    /// The width in canvas pixels: 96 per inch, the unit of SVG and CSS.
    public var pixels: Double { inches * 96 }

    /// What a figure file of this width adds to its name: nothing for the double column
    /// (`curves.svg`), `-column` for a single column (`curves-column.svg`).
    public var fileSuffix: String { self == .singleColumn ? "-column" : "" }

    /// `name.svg` → `name-column.svg` for a single column (the suffix goes before the last
    /// extension of the last path component); the name itself for the double column.
    public func fileName(_ name: String) -> String {
        guard !fileSuffix.isEmpty else { return name }
        let slash = name.lastIndex(of: "/").map { name.index(after: $0) } ?? name.startIndex
        guard let dot = name[slash...].lastIndex(of: "."), dot > slash else { return name + fileSuffix }
        return String(name[..<dot]) + fileSuffix + String(name[dot...])
    }
}

/// The text sizes of a canvas, in canvas pixels, and where axes put their labels.
public struct Typography: Sendable, Equatable {
    /// Tick labels, legend entries, colour-bar labels and annotations.
    public var tick: Double
    /// Axis titles.
    public var label: Double
    /// Panel and figure titles.
    public var title: Double
    /// Captions under a figure.
    public var caption: Double
    /// The smallest superscript or subscript, in pixels (scripts are 72 % of their text's size
    /// but no smaller).
    public var smallestScript: Double
    /// The baselines of x tick labels and of the x axis title below the axis.
    public var tickLabelOffset: Double
    public var xTitleOffset: Double
    /// The distance of the y axis title from the axis; nil: just left of the widest tick label.
    public var yTitleOffset: Double?

    /// Figures drawn in pixels for the screen, with no stated print width: 11 px ticks and
    /// legends, 13 px axis titles, 15 px titles, 11 px captions.
    public static let screen = Typography(tick: 11, label: 13, title: 15, caption: 11, smallestScript: 0,
                                          tickLabelOffset: 18, xTitleOffset: 38, yTitleOffset: 48)

    /// Print sizes on a canvas at its printed width: 7.5 pt tick labels, legends and captions,
    /// 8 pt axis titles and 9 pt titles; superscripts and subscripts no smaller than
    /// ``minimumPoints``.
    public static let print = Typography(
        tick: pixels(points: 7.5), label: pixels(points: 8), title: pixels(points: 9), caption: pixels(points: 7.5),
        smallestScript: pixels(points: minimumPoints), tickLabelOffset: 4 + pixels(points: 7.5),
        xTitleOffset: 4 + pixels(points: 7.5) + 4 + pixels(points: 8), yTitleOffset: nil)

    /// The smallest text print allows: 7 pt.
    public static let minimumPoints = 7.0

    /// Canvas pixels (1/96 in) of a size in points (1/72 in).
    public static func pixels(points: Double) -> Double { points * 96 / 72 }
}
