#!/usr/bin/env bash
# The main job on a fresh machine, the whole pipeline on Fashion-MNIST: train an
# identity-initialised MLP, interpret it layer by layer, compare its Jacobian spectrum with the
# identity-initialisation theory, sweep σ × q0, study trainability against depth, and write
# out/report.html, which links everything. Measured: 77 min 37 s after the release build on a
# 2-vCPU AMD EPYC (OpenBLAS 0.3.21) shared with other jobs, load average 4–34, 2026-12-07;
# README.md has the steps.
# Every figure is written as SVG and, beside it, as PNG at 300 dpi (rsvg-convert, Debian's
# librsvg2-bin); figures are drawn at their printed width, 6.75 in (both columns of a paper),
# and beside each as NAME-column.svg at 3.25 in (one column), which the report shows on phones.
#
# Environment (Scripts/check-report.sh uses these for its small report):
#   ISOMETRY_REPORT_OUT    output folder (default: out)
#   ISOMETRY_REPORT_BUILD  release (default) or debug: which build of the commands to use
#   ISOMETRY_REPORT_SKIP_BUILD  1: the commands are built already (check-report.sh builds first)
#   ISOMETRY_REPORT_QUICK  1: a small report in well under a minute of computing (2,000 training
#                          images, 1 epoch, 4 images shown, 50 linearised, a 5 × 5 sweep)
set -euo pipefail
cd "$(dirname "$0")/.."
. Scripts/lib/ensure-packages.sh
. Scripts/lib/manifest.sh
ensure_packages pkg-config libopenblas-dev liblapacke-dev zlib1g-dev dataset-fashion-mnist librsvg2-bin
out=${ISOMETRY_REPORT_OUT:-out}
build=${ISOMETRY_REPORT_BUILD:-release}
quick=${ISOMETRY_REPORT_QUICK:-0}
case "$build" in
    release) [ "${ISOMETRY_REPORT_SKIP_BUILD:-0}" = 1 ] || for product in $(manifest_executables); do swift build -c release --product "$product"; done ;;
    debug) [ "${ISOMETRY_REPORT_SKIP_BUILD:-0}" = 1 ] || for product in $(manifest_executables); do swift build --product "$product"; done ;;
    *) echo "ISOMETRY_REPORT_BUILD must be release or debug, got $build" >&2; exit 2 ;;
esac
bin=.build/$build
mkdir -p "$out"

if [ "$quick" = 1 ]; then
    epochs=1; train_flags=(--epochs 1 --limit 2000)
    samples="0,1,2,3"; linearise=50
    trained_samples=1; init_samples=4
    sweep_flags=(--sigma-steps 5 --q0-steps 5 --width 100 --layers 10 --samples 2)
    study_flags=(--layers 2 5 --init identity gaussian --limit 500 --spectrum-inputs 1)
else
    epochs=5; train_flags=()
    samples="0,1,2,3,4,5,6,7"; linearise=1000
    trained_samples=4; init_samples=10
    sweep_flags=()
    study_flags=()
fi

epochs_text="$epochs epoch$([ "$epochs" = 1 ] || echo s)"
# Each step says how long it took, and the end the whole run's time after the build.
demo_start=$(date +%s); step_start=$demo_start
elapsed() { local s=$(( $(date +%s) - $1 )); printf '%dm%02ds' $((s / 60)) $((s % 60)); }
step_done() { echo "   (step took $(elapsed "$step_start"))"; step_start=$(date +%s); }

echo "== 1. train: 10-layer hard-tanh MLP, W = I, SGD, $epochs_text on Fashion-MNIST"
$bin/train --output "$out/train" --png "${train_flags[@]}" | tee "$out/train.txt"
step_done
echo
echo "== 2. interpret: per-layer readout, contribution maps, templates, exact linearisation, Insens"
$bin/interpret --checkpoint "$out/train/checkpoint.safetensors" --output "$out/interpret" --png --index ../report.html \
    --samples "$samples" --linearise "$linearise" | tee "$out/interpret.txt"
step_done
echo
echo "== 3. spectrum of the trained network beside the identity-initialisation law"
$bin/spectrum --checkpoint "$out/train/checkpoint.safetensors" --samples "$trained_samples" --plot "$out/spectrum-trained.svg" --png \
    | tee "$out/spectrum-trained.txt"
step_done
echo
# Figure 5 is a law with two atoms and a continuous part between them: orthogonal weights at
# σ_w = 1.1 over 4 layers, where L(1 − p) < 1 leaves an atom at σ_w^{2L} (issue 23 #13: identity
# weights at σ = 1 give one bar, an exact and trivial law, since the network only clips its inputs).
echo "== 4. the theory: orthogonal weights σ_w = 1.1, L = 4 (atoms at 0 and σ_w^{2L} = 2.144, free probability between), and a σ × q0 sweep"
$bin/spectrum --init orthogonal --sigma-w 1.1 --layers 4 --samples "$init_samples" --plot "$out/spectrum-init.svg" --png --csv "$out/spectrum-init.csv" \
    | tee "$out/spectrum-init.txt"
$bin/spectrum sweep --output "$out/sweep" "${sweep_flags[@]}" | tee "$out/sweep.txt"
step_done
echo
echo "== 5. trainability against depth: identity, orthogonal, Gaussian (critical) and He, beside the theory"
$bin/study --output "$out/study" --fresh "${study_flags[@]}" | tee "$out/study.txt"
step_done
if command -v rsvg-convert > /dev/null; then
    for svg in "$out/sweep/sweep.svg" "$out/sweep/sweep-column.svg" "$out/study/study.svg" "$out/study/study-column.svg"; do
        [ -f "$svg" ] || continue
        # A figure that states its printed size (width="6.75in") is rendered at 300 dpi of it;
        # one in pixels is zoomed from 96 to 300 dpi.
        if head -c 600 "$svg" | grep -q '<svg[^>]* width="[0-9.]*in"'; then zoom=1; else zoom=3.125; fi
        rsvg-convert --zoom "$zoom" --dpi-x 300 --dpi-y 300 --background-color white -f png -o "${svg%.svg}.png" "$svg"
    done
fi

# The numbers the captions quote, from the commands' own output.
accuracy=$(grep -o '"testAccuracy" : [0-9.]*' "$out/train/metrics.json" | tail -1 | awk '{printf "%.2f", $3 * 100}')
# 60000 → 60,000, as the report writes every count of images.
train_images=$(grep -o ', [0-9]* images, batch' "$out/train.txt" | head -1 | grep -o '[0-9]*' | sed -e ':a' -e 's/\([0-9]\)\([0-9]\{3\}\)\($\|,\)/\1,\2\3/' -e 'ta')
shown=$(echo "$samples" | tr ',' '\n' | wc -l)
sweep_grid=$(grep -o 'swept [0-9]* points' "$out/sweep.txt" | grep -o '[0-9]*' || echo "the")
html_escape() { sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g'; }
# A command's printed report: its paragraphs (split at blank lines) as <pre> blocks that wrap,
# and its table (the paragraph headed "… measured … agree") as an HTML table, whose cells wrap
# inside their column on a phone, so that a row stays a row with its ✓ or ✗. Cells are
# separated by two or more spaces in the printed table (SpectrumReport.text pads them so).
report_text() {
    html_escape < "$1" | awk 'BEGIN { RS = ""; FS = "\n" }
        !($1 ~ /measured/ && $1 ~ /agree *$/) { printf "<pre>%s</pre>\n", $0; next }
        {
            print "<div class=\"table\"><table class=\"spectrum\">"
            for (i = 1; i <= NF; i++) {
                n = split($i, cell, /  +/)
                gsub(/λ_max/, "λ<sub>max</sub>", cell[1])
                if (i == 1) { print "<tr><th></th><th>measured</th><th>theory</th><th>band</th><th>agree</th></tr>"; continue }
                printf "<tr><td>%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"n\">%s</td><td class=\"mark\">%s</td></tr>\n",
                    cell[1], cell[2], cell[3], cell[4], (n >= 5 ? cell[5] : "")
            }
            print "</table></div>"
        }'
}
figure() {  # number, file (relative to $out), alt text, caption (HTML)
    local png="${2%.svg}.png" column="${2%.svg}-column.svg" links="<a href=\"$2\">SVG</a>" picture
    [ -f "$out/$png" ] && links="$links, <a href=\"$png\">PNG, 300 dpi</a>"
    if [ -f "$out/$column" ]; then
        # Phones get the single-column figure (panels stacked, text at print size).
        links="$links; one column: <a href=\"$column\">SVG</a>"
        [ -f "$out/${column%.svg}.png" ] && links="$links, <a href=\"${column%.svg}.png\">PNG</a>"
        picture="<picture><source media=\"(max-width: 600px)\" srcset=\"$column\"><img src=\"$2\" alt=\"$3\"></picture>"
        echo "<figure id=\"fig$1\" class=\"print\"><a href=\"$2\">$picture</a><figcaption><b>Figure $1.</b> $4 <span class=\"files\">[$links]</span></figcaption></figure>"
    else
        # No single-column version: on a phone the figure keeps a readable width and scrolls sideways.
        echo "<figure id=\"fig$1\" class=\"wide\"><div class=\"scroll\"><a href=\"$2\"><img src=\"$2\" alt=\"$3\"></a></div><figcaption><b>Figure $1.</b> $4 <span class=\"files\">[$links]</span></figcaption></figure>"
    fi
}


# The index: links the three modules' figures (written atomically).
cat > "$out/.report.html.tmp" <<HTML
<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Isometry: full report</title>
<style>
body { font-family: Helvetica, Arial, sans-serif; max-width: 1100px; margin: 24px auto; padding: 0 12px; color: #222; line-height: 1.45; }
h1 { font-size: 26px; } h2 { border-bottom: 1px solid #ddd; margin-top: 32px; font-size: 20px; }
figure { margin: 14px 0 24px; } figure img { display: block; max-width: 100%; height: auto; border: 1px solid #ddd; }
figure.print { max-width: 900px; } figure.print img { width: 100%; }
figcaption { font-size: 14px; color: #333; margin-top: 6px; max-width: 950px; } .files { font-size: 13px; }
pre { background: #f6f6f6; padding: 10px; font-size: 12px; margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; }
pre + div.table, div.table + pre { margin-top: 0; }
div.table { background: #f6f6f6; padding: 4px 10px; overflow-x: auto; } table.spectrum { border-collapse: collapse; font-size: 13px; }
table.spectrum th { font-weight: normal; color: #555; text-align: right; padding: 2px 8px; } table.spectrum td { padding: 1px 8px; }
table.spectrum td.n { text-align: right; font-variant-numeric: tabular-nums; } table.spectrum td.mark { text-align: center; }
nav { font-size: 14px; } nav a { margin-right: 10px; white-space: nowrap; }
@media (max-width: 600px) {
  h1 { font-size: 22px; } pre { font-size: 10px; padding: 6px; }
  table.spectrum { font-size: 11px; } table.spectrum td, table.spectrum th { padding: 1px 3px; } div.table { padding: 4px; }
  figure.wide .scroll { overflow-x: auto; } figure.wide img { width: 960px; max-width: none; }
}
</style></head><body>
<h1>Identity-initialised MLP on Fashion-MNIST</h1>
<nav><a href="#training">1. Training</a> <a href="#interpretation">2. Interpretation</a> <a href="#spectrum">3. Spectrum</a> <a href="#sweep">4. Sweep</a> <a href="#study">5. Depth</a></nav>
<p>10 layers of width 794 (784 pixels + 10 classes), W = I at initialisation, hard-tanh, SGD, $epochs_text on ${train_images} training images.
Test accuracy ${accuracy} % on the 10,000 test images. Generated by <code>Scripts/demo.sh</code>; every figure is also a PNG at 300 dpi (link under it).</p>

<h2 id="training">1. Training</h2>
$(figure 1 train/curves.svg "training curves" "Training curves (side by side; stacked on a phone). Loss panel: cross-entropy loss (log scale), per step as a moving average over about 50 mini-batches of 128 of the ${train_images} training images. Per epoch, the train loss is the running mean over the epoch's mini-batches, taken while the weights change (not an evaluation at the epoch's end), so it is drawn at mid-epoch (epoch − 0.5); the test loss is evaluated on all 10,000 test images at the epoch's end and drawn there. Accuracy panel: train (running mean over the epoch's mini-batches, at mid-epoch) and test (at the epoch's end).")
$(figure 2 train/distances.svg "every layer's distance from identity during training" "How far each of the 10 layers moved from its initialisation σI during training: ‖W<sup>ℓ</sup> − σI‖<sub>F</sub> / ‖σI‖<sub>F</sub> against the epoch, one line per layer, labelled at its end with its final distance. Computed from the weights alone.")
$(figure 3 train/layers.svg "per-layer readout accuracy" "After training, per layer ℓ: test accuracy when layer ℓ's 10 class dimensions are read as class scores (no probe is trained), on the 10,000 test images; dashed: chance, 10 %. (Each layer's final distance from σI is the end of its line in Figure 2.)")
<p>Numbers: <a href="train/metrics.json">metrics.json</a>, <a href="train/metrics.csv">metrics.csv</a>; weights: <a href="train/checkpoint.safetensors">checkpoint.safetensors</a>.</p>

<h2 id="interpretation">2. Layer-wise interpretation</h2>
<p><a href="interpret/report.html"><b>Open the interpretation report</b></a> (8 numbered figures): readout accuracy, likelihood and confusion per layer on the 10,000 test images,
contribution maps, class increments and templates, and the exact linearisation W(x)·x + b(x) with Insens maps for ${shown} test images (completeness checked over ${linearise}).
Numbers in <a href="interpret/report.json">report.json</a>, maps as numpy arrays in <a href="interpret/maps/">interpret/maps/</a>, each figure as SVG and PNG in <a href="interpret/figures/">interpret/figures/</a>.</p>

<h2 id="spectrum">3. Jacobian spectrum: trained network and theory</h2>
$(figure 4 spectrum-trained.svg "spectrum of the trained network" "Eigenvalues of J Jᵀ (J the input–output Jacobian) of the trained network, histogram over ${trained_samples} input$([ "$trained_samples" = 1 ] || echo s) u ~ N(0, 0.5·I) × 794 eigenvalues each, with the identity-initialisation law at σ = 1, q0 = 0.5 as the reference: training moves the spectrum away from it. Bottom: the fraction of eigenvalues ≤ λ on a linear axis around λ = 1 (zoomed to how far the eigenvalues near 1 spread), where an atom is a vertical step: most eigenvalues lie near 1 (a tall histogram bin) but few exactly at it (the table's atom row), and the two panels say the same thing. The table under it holds the same numbers.")
$(report_text "$out/spectrum-trained.txt")
$(figure 5 spectrum-init.svg "spectrum at initialisation with theory" "The theory at initialisation: eigenvalues of J Jᵀ of a 4-layer hard-tanh network of width 794 with orthogonal weights at σ<sub>w</sub> = 1.1, over ${init_samples} draws of the weights, each at an input at the mean-field fixed point q* = 0.376 (p = 0.897 of the units active), × 794 eigenvalues, against the free-probability law (Pennington et al. 2018): an atom at λ = 0 (10.3 %, left panel), one at σ<sub>w</sub><sup>8</sup> = 2.144 (58.8 %, since L(1 − p) &lt; 1) and a continuous part between them. Eigenvalues: <a href=\"spectrum-init.csv\">spectrum-init.csv</a>.")
$(report_text "$out/spectrum-init.txt")

<h2 id="sweep">4. Sweep over σ and q0</h2>
<p>How the identity-initialised network's spectrum depends on the weight scale σ and the input variance q0: at each of ${sweep_grid} grid points
(σ evenly spaced, q0 on a log scale) the spectrum of J Jᵀ is measured and compared with theory. First row: the fraction of non-zero eigenvalues (the units that pass gradient);
second row: log<sub>10</sub> of the mean eigenvalue, 0 on the dashed critical curve α·σ<sup>2L</sup> = 1, where the network is an isometry on average. In each row the measurement (left; first on a phone) and the theory should look alike, except in hatched cells: there every sampled eigenvalue was 0 because the theory's non-zero mass is too small to be sampled (fewer than 3 non-zero eigenvalues expected in samples × 794; the figure's caption gives the largest expected count), so the measurement is not possible at this sample size rather than in disagreement.</p>
$(figure 6 sweep/sweep.svg "sweep over sigma and q0" "The σ × q0 sweep, ${sweep_grid} points: measured and theoretical fraction of non-zero eigenvalues (first row) and log<sub>10</sub> mean eigenvalue (second row), with the critical curve dashed. Numbers: <a href=\"sweep/sweep.csv\">sweep.csv</a>.")

<h2 id="study">5. Trainability against depth</h2>
<p>Why identity initialisation: networks of growing depth L, each trained for one epoch as in section 1 (SGD, lr 0.01, batch 128) from four initialisations.
The theory panels show what the spectrum of J Jᵀ at initialisation predicts: for identity weights the fraction of unit eigenvalues and the mean α σ<sup>2L</sup>, for random weights the mean-field mean ∏<sub>l</sub> χ<sub>l</sub> along the q-map from the data's q<sub>0</sub>. Details and the default grid's results: docs/study.md.</p>
$(figure 7 study/study.svg "test accuracy against depth for four initialisations, with the theory" "Test accuracy on the 10,000 test images against depth L, one line per initialisation, beside the spectrum theory at initialisation. Numbers: <a href=\"study/study.csv\">study.csv</a>, <a href=\"study/study.json\">study.json</a>.")
</body></html>
HTML
mv "$out/.report.html.tmp" "$out/report.html"
echo
echo "Open $out/report.html (it links $out/interpret/report.html and every figure). Done in $(elapsed "$demo_start") after the build."
