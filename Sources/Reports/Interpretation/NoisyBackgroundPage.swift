import Figures
import Foundation
import Interpretation

extension NoisyBackgroundTable {
    /// The experiment as one self-contained HTML page (`noisy-background`'s report.html): the
    /// settings, the table (every number marked with its table.json path, as on the
    /// interpretation pages) and the figure inline, with links to the files beside it.
    public func html(indexLink: String? = nil) -> String {
        var body = ""
        if let indexLink { body += "<nav><a href=\"\(escapeHTML(indexLink))\">← back to the full report</a></nav>" }
        body += "<h1>Noisy background (Szymanski et al.)</h1>"
        body += "<p class=\"meta\">\(escapeHTML(source)), \(jsonNumber(Double(clean.count), path: "rows.0.count", decimals: 0)) test images. "
            + "Rules: \(escapeHTML(settings.summary)). Mean object size \(jsonNumber(meanObjectPixels, path: "meanObjectPixels", decimals: 1)) pixels.</p>"
        body += "<div class=\"scroll\"><table class=\"numbers\"><tr><th>protocol</th><th>kept clean</th><th>clean pixels (mean)</th><th>accuracy</th><th>± s.e.</th>"
            + "<th>object's share of |W⊙x|</th><th>of |W|</th><th>of |Ω| (Insens)</th></tr>"
        for (i, row) in rows.enumerated() {
            func share(_ value: Double?, _ name: String) -> String {
                value.map { jsonNumber($0, path: "rows.\(i).\(name)", decimals: 1, scale: 100) + " %" } ?? "–"
            }
            body += "<tr><td>\(escapeHTML(row.name))</td><td>\(escapeHTML(row.summary))</td>"
                + "<td>\(jsonNumber(row.meanCleanPixels, path: "rows.\(i).meanCleanPixels", decimals: 1))</td>"
                + "<td>\(jsonNumber(row.accuracy, path: "rows.\(i).accuracy", decimals: 2, scale: 100)) %</td>"
                + "<td>\(jsonNumber(row.standardError, path: "rows.\(i).standardError", decimals: 2, scale: 100))</td>"
                + "<td>\(share(row.objectShareOfContribution, "objectShareOfContribution"))</td><td>\(share(row.objectShareOfWeight, "objectShareOfWeight"))</td>"
                + "<td>\(share(row.objectShareOfInsens, "objectShareOfInsens"))</td></tr>"
        }
        body += "</table></div><p class=\"meta\">W = W<sub>ŷ</sub>(x), the predicted class's row of the exact linearisation F(x) = W(x)·x + b(x); "
            + "the object is the clean image's. Ω(x): the Insens map of the image under the protocol (docs/theory.md §3), over the first "
            + (rows.first?.insensImages.map { jsonNumber(Double($0), path: "rows.0.insensImages", decimals: 0) + " images" } ?? "images (not computed)") + ". Standard error: binomial √(p(1−p)/n).</p>"
        body += "<figure id=\"fig1\">\(inlineSVG(figure()))<figcaption><b>Figure 1.</b> Test accuracy clean and under each protocol, ±1 standard error, "
            + "above example images under every protocol with their predictions (green right, red wrong). "
            + "<span class=\"files\">[<a href=\"figure.svg\">SVG</a>]</span></figcaption></figure>"
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Isometry: noisy background</title>
        <style>
        \(interpretationPageStyle)
        </style></head><body>
        \(body)
        <p class="meta">Written by <code>noisy-background</code> (Isometry). Numbers: <a href="table.json">table.json</a>, <a href="table.csv">table.csv</a>, <a href="summary.md">summary.md</a>.</p>
        </body></html>

        """
    }
}
