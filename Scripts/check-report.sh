#!/usr/bin/env bash
# The real-browser check of the reports (run by Scripts/test.sh).
#
# 1. Builds a SMALL report with the commands themselves: Scripts/demo.sh with
#    ISOMETRY_REPORT_QUICK=1 and the debug build (train on 2,000 images for 1 epoch, interpret
#    4 images and linearise 50, two spectra, a 5 × 5 sweep), every figure also as PNG, into
#    out/report-check/site; then the CNN pages on Tests/Fixtures/FashionCNN: `interpret` (2 images,
#    linearise 50) into site/interpret-cnn and `noisy-background` (200 images) into
#    site/noisy-background, and `interpret --evaluate` (16 images, 3 methods) on the fixture and on the
#    demo's MLP into site/attribution-cnn and site/attribution.
# 2. Loads every HTML page and every SVG of it in headless Chromium (Debian's `chromium`,
#    installed when missing) at 1400 px and at 390 px (a phone: mobile emulation, so the
#    viewport tag counts), driven through the DevTools protocol by python3's standard library
#    (a WebSocket client of a few lines; no packages). It fails on
#      * any console error or uncaught exception, and any failed load (Network.loadingFailed,
#        a Log entry of level error);
#      * a local link or image that does not exist on disk, an in-page #anchor without its
#        target, an <img> that did not decode;
#      * an HTML page without a viewport tag, or whose content is wider than the viewport at
#        390 px (document scrollWidth > clientWidth; the widest offenders are named);
#      * an SVG that does not parse (Chromium shows a parsererror);
#      * in an SVG, a text element whose rendered box overlaps an <image> (a map thumbnail) by
#        more than a pixel each way: a label running under a picture (issue 23 #7);
#      * in an SVG that states its printed width (width="6.75in", Figures' FigureWidth), text
#        or a superscript that prints below 7 pt at that width (its font size, through every
#        transform, × the printed width / the viewBox width), text whose box leaves the
#        figure, and two texts whose boxes overlap by more than a pixel each way (issue 23 #8).
#        SVGs in pixels, with no stated print width, are listed as not checked for print size.
#
# `Scripts/check-report.sh FOLDER` checks a report already written instead (e.g. `out` after
# Scripts/demo.sh); screenshots go to out/report-check/screenshots either way.
# 3. Writes a full-page screenshot of each load to out/report-check/screenshots (NAME-WIDTH.png).
#
# About a minute on 2 idle cores after the build (most of it training and the layer readout in
# the debug build); the browser part takes 10-20 s. Runs as root without a display:
# chromium --headless=new --no-sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
. Scripts/lib/ensure-packages.sh
. Scripts/lib/manifest.sh
ensure_packages chromium librsvg2-bin python3
check=out/report-check
# The debug build of every command of the manifest (demo.sh runs them all, study included; a
# no-op after Scripts/test.sh's build); the clock starts after it.
if [ $# -eq 0 ]; then
    for product in $(manifest_executables); do swift build --product "$product" > /dev/null; done
fi
start=$(date +%s)
if [ $# -ge 1 ]; then
    # Scripts/check-report.sh FOLDER: check a report already written (e.g. out, from demo.sh).
    site=$1
    rm -rf "$check/screenshots"; mkdir -p "$check/screenshots"
else
    site=$check/site
    rm -rf "$check"; mkdir -p "$check/screenshots"
    ISOMETRY_REPORT_OUT="$site" ISOMETRY_REPORT_BUILD=debug ISOMETRY_REPORT_SKIP_BUILD=1 ISOMETRY_REPORT_QUICK=1 Scripts/demo.sh > "$check/demo.log" 2>&1 \
        || { tail -20 "$check/demo.log"; echo "check-report: building the small report failed (log: $check/demo.log)" >&2; exit 1; }
    # The CNN pages: the interpretation of the Fashion-MNIST CNN fixture (its channel maps, W(x)
    # per class, active units) and the noisy-background page on the same network (200 images,
    # Insens over 4 of them: a debug build takes seconds an image, and the page is what is checked).
    cnn=conv32k3,relu,maxpool2,conv64k3,relu,maxpool2,flatten,dense128,relu,dense10
    .build/debug/interpret --model Tests/Fixtures/FashionCNN/model.safetensors --architecture "$cnn" --samples 0,1 \
        --linearise 50 --png --index ../report.html --output "$site/interpret-cnn" > "$check/interpret-cnn.log" 2>&1 \
        || { tail -5 "$check/interpret-cnn.log"; echo "check-report: interpreting the CNN fixture failed" >&2; exit 1; }
    .build/debug/noisy-background --checkpoint Tests/Fixtures/FashionCNN/model.safetensors --architecture "$cnn" --limit 200 --insens-images 4 \
        --output "$site/noisy-background" > "$check/noisy-background.log" 2>&1 \
        || { tail -5 "$check/noisy-background.log"; echo "check-report: noisy-background on the CNN fixture failed" >&2; exit 1; }
    # The attribution comparison (interpret --evaluate) on the CNN fixture and on the demo's
    # identity MLP, over few images: the page, its table, curves and maps are what is checked, so
    # three methods and the metrics with curves (every default would cost minutes in a debug build).
    quick="--methods gradient,gradient-x-input,integrated-gradients --steps 16 --metrics completeness-residual,deletion-auc,insertion-auc"
    .build/debug/interpret --evaluate --model Tests/Fixtures/FashionCNN/model.safetensors --architecture "$cnn" --images 16 $quick \
        --index ../report.html --output "$site/attribution-cnn" > "$check/attribution-cnn.log" 2>&1 \
        || { tail -5 "$check/attribution-cnn.log"; echo "check-report: interpret --evaluate on the CNN fixture failed" >&2; exit 1; }
    .build/debug/interpret --evaluate --checkpoint "$site/train/checkpoint.safetensors" --images 16 $quick \
        --index ../report.html --output "$site/attribution" > "$check/attribution.log" 2>&1 \
        || { tail -5 "$check/attribution.log"; echo "check-report: interpret --evaluate on the identity MLP failed" >&2; exit 1; }
    echo "check-report: small report built in $(( $(date +%s) - start )) s ($site)"
fi

profile=$(mktemp -d)
chromium --headless=new --no-sandbox --disable-gpu --no-first-run --no-default-browser-check --disable-extensions \
    --hide-scrollbars --user-data-dir="$profile" --remote-debugging-port=0 --remote-debugging-address=127.0.0.1 about:blank \
    > "$check/chromium.log" 2>&1 &
browser=$!
trap 'kill $browser 2>/dev/null; wait $browser 2>/dev/null; rm -rf "$profile"' EXIT

python3 - "$site" "$check/screenshots" "$profile" <<'PYTHON'
import base64, json, os, socket, struct, sys, time, urllib.parse, urllib.request

site, shots, profile = sys.argv[1:4]
site = os.path.abspath(site)

# The browser writes its port to DevToolsActivePort once it listens.
deadline = time.time() + 30
while True:
    try:
        port = int(open(os.path.join(profile, "DevToolsActivePort")).read().split()[0])
        break
    except (OSError, ValueError, IndexError):
        if time.time() > deadline: sys.exit("check-report: chromium did not start (see chromium.log)")
        time.sleep(0.1)
targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
page = next(t for t in targets if t["type"] == "page")

class DevTools:
    """A minimal WebSocket client (RFC 6455, text frames) for the DevTools protocol."""
    def __init__(self, url):
        parsed = urllib.parse.urlparse(url)
        self.sock = socket.create_connection((parsed.hostname, parsed.port), timeout=60)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {parsed.path} HTTP/1.1\r\nHost: {parsed.hostname}:{parsed.port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        response = b""
        while b"\r\n\r\n" not in response: response += self.sock.recv(1)
        if b" 101 " not in response.split(b"\r\n")[0]: sys.exit(f"check-report: DevTools handshake failed: {response[:200]!r}")
        self.next_id, self.events = 0, []

    def exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk: raise ConnectionError("DevTools closed the connection")
            data += chunk
        return data

    def receive(self):
        message = b""
        while True:
            head = self.exact(2)
            fin, opcode, length = head[0] & 0x80, head[0] & 0x0F, head[1] & 0x7F
            if length == 126: length = struct.unpack(">H", self.exact(2))[0]
            elif length == 127: length = struct.unpack(">Q", self.exact(8))[0]
            payload = self.exact(length)
            if opcode == 8: raise ConnectionError("DevTools closed the connection")
            if opcode in (0, 1, 2): message += payload
            if fin and opcode in (0, 1, 2): return json.loads(message)

    def send(self, method, **params):
        self.next_id += 1
        data = json.dumps({"id": self.next_id, "method": method, "params": params}).encode()
        mask = os.urandom(4)
        header = bytes([0x81]) + (bytes([0x80 | len(data)]) if len(data) < 126 else
                                  bytes([0x80 | 126]) + struct.pack(">H", len(data)) if len(data) < 65536 else
                                  bytes([0x80 | 127]) + struct.pack(">Q", len(data)))
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))
        while True:
            message = self.receive()
            if message.get("id") == self.next_id:
                if "error" in message: raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, event, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(e.get("method") == event for e in self.events): return
            self.events.append(self.receive())
        raise TimeoutError(event)

tools = DevTools(page["webSocketDebuggerUrl"])
for domain in ("Page", "Runtime", "Log", "Network"): tools.send(f"{domain}.enable")

# In the page: viewport tag, overflow and its widest offenders, links, images, anchors.
PROBE = r"""(() => {
  const root = document.documentElement, isSVG = root.namespaceURI === 'http://www.w3.org/2000/svg';
  const out = {isSVG, parseError: !!document.querySelector('parsererror') || (!isSVG && !document.body),
               viewport: !!document.querySelector('meta[name=viewport]'),
               scrollWidth: root.scrollWidth, clientWidth: root.clientWidth, wide: [], links: [], badImages: [], badAnchors: []};
  out.overlaps = []; out.small = []; out.outside = []; out.collisions = []; out.printInches = null;
  const printWidth = isSVG ? (root.getAttribute('width') || '').match(/^([0-9.]+)in$/) : null;
  if (printWidth) {
    // Print size at the stated width: a user unit prints as (inches × 72 / viewBox width) pt.
    out.printInches = parseFloat(printWidth[1]);
    const pointsPerUnit = out.printInches * 72 / root.viewBox.baseVal.width;
    const toRoot = root.getScreenCTM().inverse();
    for (const t of document.querySelectorAll('text, tspan')) {
      if (!t.textContent.trim()) continue;
      const c = toRoot.multiply(t.getScreenCTM());
      const points = parseFloat(getComputedStyle(t).fontSize) * Math.sqrt(Math.abs(c.a * c.d - c.b * c.c)) * pointsPerUnit;
      if (points < 7 - 1e-3 && out.small.length < 5) out.small.push('"' + t.textContent.slice(0, 40) + '" prints at ' + points.toFixed(2) + ' pt');
    }
    const frame = root.getBoundingClientRect();
    const boxes = [...document.querySelectorAll('text')].filter(t => t.textContent.trim()).map(t => [t.textContent, t.getBoundingClientRect()]);
    for (const [content, r] of boxes) {
      const beyond = Math.max(frame.left - r.left, r.right - frame.right, frame.top - r.top, r.bottom - frame.bottom);
      if (beyond > 1 && out.outside.length < 5) out.outside.push('"' + content.slice(0, 40) + '" leaves the figure by ' + Math.round(beyond) + ' px');
    }
    for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
      const [a, r] = boxes[i], [b, q] = boxes[j];
      const dx = Math.min(r.right, q.right) - Math.max(r.left, q.left), dy = Math.min(r.bottom, q.bottom) - Math.max(r.top, q.top);
      if (dx > 1 && dy > 1 && out.collisions.length < 5) out.collisions.push('"' + a.slice(0, 30) + '" and "' + b.slice(0, 30) + '" overlap by ' + Math.round(dx) + ' × ' + Math.round(dy) + ' px');
    }
  }
  if (isSVG) {
    // Text that runs under a picture (a map thumbnail): its box, as rendered, overlaps an
    // <image> by more than a pixel in both directions (issue 23 #7).
    const images = [...document.querySelectorAll('image')].map(i => i.getBoundingClientRect());
    for (const t of document.querySelectorAll('text')) {
      const r = t.getBoundingClientRect();
      for (const i of images) {
        const dx = Math.min(r.right, i.right) - Math.max(r.left, i.left), dy = Math.min(r.bottom, i.bottom) - Math.max(r.top, i.top);
        if (dx > 1 && dy > 1 && out.overlaps.length < 5) { out.overlaps.push('"' + t.textContent.slice(0, 40) + '" overlaps an image by ' + Math.round(dx) + ' px'); break; }
      }
    }
  }
  if (!isSVG) {
    for (const e of document.body.querySelectorAll('*')) {
      const r = e.getBoundingClientRect();
      if (r.right > root.clientWidth + 1 && out.wide.length < 5) out.wide.push(e.tagName.toLowerCase() + (e.className && e.className.baseVal === undefined ? '.' + e.className : '') + ' right=' + Math.round(r.right));
    }
    for (const a of document.querySelectorAll('a[href]')) out.links.push(a.href);
    for (const i of document.images) { out.links.push(i.src); if (!i.complete || i.naturalWidth === 0) out.badImages.push(i.src.slice(0, 80)); }
    for (const source of document.querySelectorAll('source[srcset]')) out.links.push(new URL(source.getAttribute('srcset'), document.baseURI).href);
    for (const a of document.querySelectorAll('a[href^="#"]')) if (!document.getElementById(a.getAttribute('href').slice(1))) out.badAnchors.push(a.getAttribute('href'));
  }
  return JSON.stringify(out);
})()"""

pages = []
for folder, _, files in os.walk(site):
    for name in sorted(files):
        if name.endswith((".html", ".svg")): pages.append(os.path.join(folder, name))
pages.sort(key=lambda p: (not p.endswith(".html"), p))
failures, loads, unstated = [], 0, set()
for path in pages:
    relative = os.path.relpath(path, site)
    for width in (1400, 390):
        mobile = width < 600
        tools.send("Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1, mobile=mobile)
        tools.events.clear()
        tools.send("Page.navigate", url="file://" + urllib.parse.quote(path))
        tools.wait_for("Page.loadEventFired")
        time.sleep(0.05)
        result = json.loads(tools.send("Runtime.evaluate", expression=PROBE, returnByValue=True)["result"]["value"])
        tools.send("Runtime.evaluate", expression="1")  # drain the events that came with the load
        loads += 1
        where = f"{relative} at {width} px"
        for e in tools.events:
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                failures.append(f"{where}: console error: {' '.join(str(a.get('value', a.get('description', ''))) for a in params.get('args', []))}")
            elif method == "Runtime.exceptionThrown":
                failures.append(f"{where}: exception: {params['exceptionDetails'].get('text')}")
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                failures.append(f"{where}: {params['entry'].get('text')} {params['entry'].get('url', '')}")
            elif method == "Network.loadingFailed" and not params.get("canceled"):
                failures.append(f"{where}: failed load: {params.get('errorText')}")
        if result["parseError"]: failures.append(f"{where}: does not parse")
        failures += [f"{where}: text under a picture: {o}" for o in result["overlaps"]]
        if result["isSVG"] and result["printInches"] is None: unstated.add(relative)
        failures += [f"{where}: below 7 pt at its printed width of {result['printInches']} in: {o}" for o in result["small"]]
        failures += [f"{where}: {o}" for o in result["outside"]]
        failures += [f"{where}: text on text: {o}" for o in result["collisions"]]
        if not result["isSVG"]:
            if not result["viewport"]: failures.append(f"{where}: no <meta name=viewport> tag")
            if mobile and result["scrollWidth"] > result["clientWidth"]:
                failures.append(f"{where}: page is {result['scrollWidth']} px wide in a {result['clientWidth']} px viewport: {', '.join(result['wide'])}")
            failures += [f"{where}: image did not decode: {src}" for src in result["badImages"]]
            failures += [f"{where}: anchor without target: {a}" for a in result["badAnchors"]]
            for link in result["links"]:
                parsed = urllib.parse.urlparse(link)
                if parsed.scheme == "file":
                    target = urllib.parse.unquote(parsed.path)
                    if not os.path.exists(target):
                        failures.append(f"{where}: broken local link: {os.path.relpath(target, site)}")
                elif parsed.scheme not in ("data", "http", "https", "mailto"):
                    failures.append(f"{where}: unexpected link {link[:80]}")
        # A full-page screenshot, at most 8000 px tall.
        metrics = tools.send("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": max(metrics["width"], 1), "height": min(max(metrics["height"], 1), 8000), "scale": 1}
        shot = tools.send("Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip)["data"]
        name = relative.replace(os.sep, "_").rsplit(".", 1)[0] + f"-{width}.png"
        with open(os.path.join(shots, name), "wb") as f: f.write(base64.b64decode(shot))

print(f"check-report: {loads} loads of {len(pages)} pages and SVGs at 1400 and 390 px; screenshots in {shots}")
if unstated:
    print(f"check-report: {len(unstated)} SVG(s) in pixels, with no stated print width, not checked for print size: {', '.join(sorted(unstated))}")
if failures:
    print("\n".join("  " + f for f in failures))
    sys.exit(f"check-report: {len(failures)} problem(s)")
PYTHON
echo "check-report: passed in $(( $(date +%s) - start )) s"
