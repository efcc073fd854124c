// The dashboard page: draws the snapshot the server pushes over /api/stream (Server-Sent
// Events), or polls /api/snapshot when the stream is not available.
//
// Every value from the data is put into the page with textContent or an SVG attribute, never
// parsed as markup: a reason, a file name or a raw line shows as literal text.
"use strict";

(function () {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const STREAM_SILENCE_MS = 10000;
  const STREAM_RETRY_MS = 30000;

  // --- DOM helpers ----------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      node.setAttribute(name, String(value));
    }
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function byId(id) {
    return document.getElementById(id);
  }

  function setText(id, text) {
    const node = byId(id);
    if (node) node.textContent = text;
  }

  // --- number and time formats ----------------------------------------------------------

  function integer(value) {
    return value === null || value === undefined ? "–" : String(Math.round(value));
  }

  function decimal(value, digits) {
    if (value === null || value === undefined || !Number.isFinite(value)) return "–";
    return value.toFixed(digits);
  }

  function compact(value) {
    const size = Math.abs(value);
    if (size >= 1e9) return (value / 1e9).toFixed(1) + "G";
    if (size >= 1e6) return (value / 1e6).toFixed(1) + "M";
    if (size >= 1e4) return (value / 1e3).toFixed(0) + "k";
    if (size >= 1e3) return (value / 1e3).toFixed(1) + "k";
    if (size >= 10 || value === 0) return value.toFixed(0);
    return value.toFixed(size >= 1 ? 1 : 2);
  }

  function time(iso) {
    return iso ? iso.slice(11, 19) : "–";
  }

  function dateTime(iso) {
    return iso ? iso.slice(0, 10) + " " + iso.slice(11, 19) : "–";
  }

  // The top of an axis with four equal, round steps (4, 8, 10, 20, 40, 80, 100, ...).
  function niceMax(value) {
    if (!(value > 0)) return 1;
    const quarter = value / 4;
    const power = Math.pow(10, Math.floor(Math.log10(quarter)));
    for (const factor of [1, 2, 2.5, 5, 10]) {
      if (quarter <= factor * power * (1 + 1e-9)) return 4 * factor * power;
    }
    return 40 * power;
  }

  // --- charts ---------------------------------------------------------------------------

  const WIDTH = 640;
  const HEIGHT = 210;
  const PAD = { left: 46, right: 14, top: 10, bottom: 24 };

  function empty(host, text) {
    host.replaceChildren(el("div", "empty", text));
  }

  function legend(entries) {
    const box = el("div", "legend");
    for (const entry of entries) {
      const item = el("span");
      item.append(el("span", "swatch " + entry.cls), document.createTextNode(entry.label));
      box.append(item);
    }
    return box;
  }

  function yAxis(root, top) {
    const group = svg("g", { class: "axis" });
    const inner = HEIGHT - PAD.top - PAD.bottom;
    for (let tick = 0; tick <= 4; tick += 1) {
      const y = PAD.top + inner - (inner * tick) / 4;
      group.append(
        svg("line", {
          x1: PAD.left, x2: WIDTH - PAD.right, y1: y, y2: y, class: tick ? "" : "base",
        }),
        svg("text", { x: PAD.left - 6, y: y + 4, "text-anchor": "end" }, compact((top * tick) / 4)),
      );
    }
    root.append(group);
  }

  function xLabels(root, labels, positions) {
    const group = svg("g", { class: "axis" });
    const count = labels.length;
    const picks = count > 2 ? [0, Math.floor((count - 1) / 2), count - 1] : [...labels.keys()];
    picks.forEach((index, order) => {
      const anchor = order === 0 ? "start" : order === picks.length - 1 ? "end" : "middle";
      group.append(
        svg("text", { x: positions[index], y: HEIGHT - 6, "text-anchor": anchor }, labels[index]),
      );
    });
    root.append(group);
  }

  // Lines over time. lines: [{label, cls, values}], times: ISO texts, one per point.
  function lineChart(host, times, lines, options) {
    const opts = options || {};
    const numbers = lines.flatMap((line) => line.values.filter((v) => Number.isFinite(v)));
    if (times.length === 0 || numbers.length === 0) {
      empty(host, opts.emptyText || "no batches yet");
      return;
    }
    const top = niceMax(Math.max(...numbers));
    const stamps = times.map((t) => Date.parse(t));
    const first = stamps[0];
    const span = stamps[stamps.length - 1] - first;
    const innerW = WIDTH - PAD.left - PAD.right;
    const innerH = HEIGHT - PAD.top - PAD.bottom;
    const xs = stamps.map((stamp, index) =>
      PAD.left + (span > 0 ? ((stamp - first) / span) * innerW
        : times.length > 1 ? (index / (times.length - 1)) * innerW : innerW / 2));
    const y = (value) => PAD.top + innerH - (value / top) * innerH;

    const root = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img" });
    yAxis(root, top);
    xLabels(root, times.map(opts.perMinute ? (t) => t.slice(11, 16) : time), xs);
    for (const line of lines) {
      let path = "";
      let pen = "M";
      line.values.forEach((value, index) => {
        if (!Number.isFinite(value)) {
          pen = "M";
          return;
        }
        path += `${pen}${xs[index].toFixed(1)},${y(value).toFixed(1)} `;
        pen = "L";
      });
      if (path) root.append(svg("path", { d: path.trim(), class: "series " + line.cls }));
      if (times.length === 1 && Number.isFinite(line.values[0])) {
        root.append(svg("circle", { cx: xs[0], cy: y(line.values[0]), r: 3, class: line.cls }));
      }
    }
    const cursor = svg("line", { y1: PAD.top, y2: HEIGHT - PAD.bottom, class: "cursor" });
    cursor.setAttribute("visibility", "hidden");
    const overlay = svg("rect", {
      x: PAD.left, y: PAD.top, width: innerW, height: innerH, class: "overlay",
    });
    root.append(cursor, overlay);
    const tip = el("div", "tooltip");
    tip.hidden = true;
    overlay.addEventListener("mousemove", (event) => {
      const box = root.getBoundingClientRect();
      const at = ((event.clientX - box.left) / box.width) * WIDTH;
      let nearest = 0;
      xs.forEach((x, index) => {
        if (Math.abs(x - at) < Math.abs(xs[nearest] - at)) nearest = index;
      });
      cursor.setAttribute("x1", xs[nearest]);
      cursor.setAttribute("x2", xs[nearest]);
      cursor.setAttribute("visibility", "visible");
      const rows = [el("div", null, dateTime(times[nearest]))];
      for (const line of lines) {
        const value = line.values[nearest];
        rows.push(el("div", null, `${line.label}: ${Number.isFinite(value) ? value : "–"}`));
      }
      tip.replaceChildren(...rows);
      tip.hidden = false;
      const left = (xs[nearest] / WIDTH) * box.width;
      const right = left > box.width / 2;
      tip.style.left = right ? "" : `${left + 12}px`;
      tip.style.right = right ? `${box.width - left + 12}px` : "";
    });
    overlay.addEventListener("mouseleave", () => {
      cursor.setAttribute("visibility", "hidden");
      tip.hidden = true;
    });
    const parts = [root, tip];
    if (lines.length > 1) parts.push(legend(lines));
    host.replaceChildren(...parts);
  }

  // Horizontal bars: items [{label, value}].
  function barChart(host, items, emptyText) {
    if (items.length === 0) {
      empty(host, emptyText);
      return;
    }
    const row = 26;
    const labelW = 170;
    const valueW = 70;
    const height = items.length * row + 4;
    const top = Math.max(...items.map((item) => item.value), 1);
    const root = svg("svg", { viewBox: `0 0 ${WIDTH} ${height}`, class: "bars", role: "img" });
    items.forEach((item, index) => {
      const y = index * row + 4;
      const width = Math.max(2, ((WIDTH - labelW - valueW) * item.value) / top);
      root.append(
        svg("text", { x: labelW - 8, y: y + 15, "text-anchor": "end" }, item.label),
        svg("rect", { x: labelW, y, width, height: row - 8, rx: 3, class: "c" + (index % 6) }),
        svg("text", { x: labelW + width + 6, y: y + 15 }, String(item.value)),
      );
    });
    host.replaceChildren(root);
  }

  // Stacked columns per minute: stacks [{label, cls, values}], minutes: ISO texts.
  function stackedChart(host, minutes, stacks) {
    const totals = minutes.map((_, index) =>
      stacks.reduce((sum, stack) => sum + (stack.values[index] || 0), 0));
    if (!totals.some((total) => total > 0)) {
      empty(host, "no events in the last hour");
      return;
    }
    const top = niceMax(Math.max(...totals));
    const innerW = WIDTH - PAD.left - PAD.right;
    const innerH = HEIGHT - PAD.top - PAD.bottom;
    const slot = innerW / minutes.length;
    const root = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img" });
    yAxis(root, top);
    const centres = minutes.map((_, index) => PAD.left + slot * (index + 0.5));
    xLabels(root, minutes.map((m) => m.slice(11, 16)), centres);
    minutes.forEach((minute, index) => {
      let base = PAD.top + innerH;
      for (const stack of stacks) {
        const value = stack.values[index] || 0;
        if (value <= 0) continue;
        const h = (value / top) * innerH;
        base -= h;
        const bar = svg("rect", {
          x: PAD.left + slot * index + slot * 0.12, y: base, width: slot * 0.76, height: h,
          class: stack.cls,
        });
        bar.append(svg("title", {}, `${minute.slice(11, 16)} ${stack.label}: ${value}`));
        root.append(bar);
      }
    });
    host.replaceChildren(root, legend(stacks));
  }

  // --- the parts of the page ------------------------------------------------------------

  function showPart(name, visible) {
    for (const node of document.querySelectorAll(`[data-part="${name}"]`)) {
      node.hidden = !visible;
    }
  }

  function renderHealth(health) {
    const box = byId("health");
    if (!health) {
      box.dataset.state = "unknown";
      setText("health-word", "unknown");
      setText("health-reason", "");
      return;
    }
    box.dataset.state = health.healthy ? "healthy" : "unhealthy";
    setText("health-word", health.healthy ? "healthy" : "unhealthy");
    setText("health-reason", health.reason);
    byId("health-reason").title = health.reason;
  }

  function renderTiles(snapshot) {
    const totals = snapshot.totals;
    showPart("totals", true);
    setText("rows-written", totals ? integer(totals.rows_written) : "–");
    setText("rows-rejected", totals ? integer(totals.rows_rejected) : "–");
    setText("rows-read", totals ? integer(totals.rows_read) : "–");
    setText("rows-duplicate", totals ? integer(totals.rows_duplicate) : "–");
    setText("files", totals ? integer(totals.files) : "–");
    setText("batches", totals ? `${totals.batches} batches` : "");
    setText("retries", totals ? integer(totals.retries) : "–");
    const rate = snapshot.rate;
    setText("rows-per-second", rate ? decimal(rate.rows_per_second, 1) : "–");
    const fresh = snapshot.freshness;
    setText("freshness-p50", fresh ? decimal(fresh.p50_s, 1) : "–");
    setText(
      "freshness-p95",
      fresh && fresh.p95_s !== null ? `p95 ${decimal(fresh.p95_s, 1)} s · ${fresh.batches} batches` : "",
    );
  }

  function renderSeries(series) {
    showPart("series", Boolean(series));
    if (!series) return;
    const times = series.map((point) => point.committed_at);
    const pick = (name) => series.map((point) => point[name]);
    lineChart(byId("chart-throughput"), times, [
      { label: "rows/s", cls: "c0", values: pick("rows_per_second") },
    ]);
    lineChart(byId("chart-freshness"), times, [
      { label: "freshness s", cls: "c1", values: pick("freshness_s") },
    ], { emptyText: "no file ages yet" });
    lineChart(byId("chart-timings"), times, [
      { label: "stage ms", cls: "c2", values: pick("stage_ms") },
      { label: "commit ms", cls: "c3", values: pick("commit_ms") },
      { label: "retries", cls: "c4", values: pick("retries") },
    ]);
    lineChart(byId("chart-rows"), times, [
      { label: "read", cls: "c0", values: pick("rows_read") },
      { label: "written", cls: "c2", values: pick("rows_written") },
      { label: "rejected", cls: "c4", values: pick("rows_rejected") },
    ]);
  }

  function funnelColumn(title, funnel) {
    const column = el("div");
    column.append(el("h3", null, title));
    if (!funnel) {
      column.append(el("div", "muted", "not computed yet"));
      return column;
    }
    const steps = [
      ["view", "views", null],
      ["add_to_cart", "add to cart", "view_to_cart_pct"],
      ["purchase", "purchases", "cart_to_purchase_pct"],
    ];
    const top = Math.max(funnel.view, funnel.add_to_cart, funnel.purchase, 1);
    for (const [key, label, conversion] of steps) {
      if (conversion) {
        const pct = funnel[conversion];
        column.append(el("div", "conversion", pct === null ? "↓" : `↓ ${pct.toFixed(1)} %`));
      }
      const step = el("div", "step");
      const bar = el("div", "bar");
      const fill = el("span");
      fill.style.width = `${(100 * funnel[key]) / top}%`;
      bar.append(fill);
      step.append(el("span", null, label), bar, el("span", "count", integer(funnel[key])));
      column.append(step);
    }
    const overall = funnel.view_to_purchase_pct;
    column.append(
      el("div", "conversion", overall === null ? "" : `view → purchase ${overall.toFixed(2)} %`),
    );
    return column;
  }

  function renderBusiness(business) {
    showPart("business", Boolean(business));
    if (!business) return;
    const stacks = business.event_types.map((name, index) => ({
      label: name, cls: "c" + (index % 7), values: business.events[name] || [],
    }));
    stackedChart(byId("chart-events"), business.minutes, stacks);
    lineChart(byId("chart-revenue"), business.minutes, [
      { label: "all events", cls: "c5", values: business.price_total },
      { label: "purchases", cls: "c4", values: business.purchase_total },
    ], { emptyText: "no events in the last hour", perMinute: true });
    byId("funnel").replaceChildren(
      funnelColumn("Last hour", business.funnel.last_hour),
      funnelColumn("All time", business.funnel.total),
    );
  }

  function cell(text, className) {
    return el("td", className, text);
  }

  function emptyRow(columns, text) {
    const row = el("tr");
    const only = cell(text, "empty");
    only.colSpan = columns;
    row.append(only);
    return row;
  }

  function renderRejects(rejects) {
    showPart("rejects", Boolean(rejects));
    if (!rejects) return;
    barChart(
      byId("chart-rejects"),
      rejects.by_reason.map((item) => ({ label: item.reason, value: item.rows })),
      "no rejected rows",
    );
    const body = byId("rejects-table").tBodies[0];
    const rows = rejects.latest.map((item) => {
      const row = el("tr");
      const reason = el("td");
      reason.append(el("span", "reason", item.reason));
      if (item.detail) reason.title = item.detail;
      const raw = cell(item.raw_line, "raw");
      if (item.raw_line_truncated) raw.append(el("span", "cut", " …"));
      row.append(
        cell(dateTime(item.rejected_at)),
        reason,
        cell(`${item.source_file}:${item.source_line}`, "source"),
        raw,
      );
      return row;
    });
    body.replaceChildren(...(rows.length ? rows : [emptyRow(4, "no rejected rows")]));
  }

  function renderRuns(runs) {
    showPart("runs", Boolean(runs));
    if (!runs) return;
    const body = byId("runs-table").tBodies[0];
    const rows = runs.map((run) => {
      const row = el("tr");
      const state = el("td");
      state.append(el("span", "state state-" + String(run.state).replace(/[^a-z]/g, ""), run.state));
      const pass = run.quality_pass_rate === null ? "–" : `${(100 * run.quality_pass_rate).toFixed(1)} %`;
      row.append(
        cell(run.run_id),
        state,
        cell(dateTime(run.started_at)),
        cell(integer(run.sources_processed), "num"),
        cell(integer(run.total_records), "num"),
        cell(decimal(run.throughput_rpm, 1), "num"),
        cell(pass, "num"),
        cell(integer(run.retries), "num"),
        cell(integer(run.errors), "num"),
        cell(decimal(run.cpu_peak_percent, 1), "num"),
        cell(decimal(run.memory_peak_mb, 0), "num"),
      );
      return row;
    });
    body.replaceChildren(...(rows.length ? rows : [emptyRow(11, "no runs recorded")]));
  }

  function renderStatus(status) {
    const banner = byId("status-error");
    if (status && !status.ok && status.error) {
      const since = status.last_success_at
        ? ` — showing the figures of ${dateTime(status.last_success_at)}`
        : "";
      banner.textContent = status.error + since;
      banner.hidden = false;
    } else {
      banner.hidden = true;
    }
    setText("database", status && status.database ? status.database : "");
    setText("poll", status && Number.isFinite(status.poll_ms)
      ? `poll ${status.poll_ms.toFixed(1)} ms every ${status.interval_s} s` : "");
    setText("updated", status && status.polled_at ? `updated ${time(status.polled_at)}` : "");
  }

  // A batch planned in the checkpoint and not committed (with --checkpoint-dir); shown once it
  // has waited longer than a batch normally takes.
  const PENDING_SHOWN_S = 10;

  function duration(seconds) {
    if (seconds < 120) return `${Math.round(seconds)} s`;
    if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
    return `${(seconds / 3600).toFixed(1)} h`;
  }

  function renderPending(checkpoint) {
    const line = byId("pending-batch");
    const pending = checkpoint ? checkpoint.pending_batch : null;
    if (!pending || pending.pending_s < PENDING_SHOWN_S) {
      line.hidden = true;
      return;
    }
    line.textContent = `batch ${pending.batch_id} pending for ${duration(pending.pending_s)}`;
    line.hidden = false;
  }

  function render(snapshot) {
    const status = snapshot.status || null;
    renderStatus(status);
    renderHealth(snapshot.health || null);
    renderPending(snapshot.checkpoint || null);
    renderTiles(snapshot);
    renderSeries(snapshot.series || null);
    renderBusiness(snapshot.business || null);
    renderRejects(snapshot.rejects || null);
    renderRuns(snapshot.runs || null);
    if (status && status.interval_s) pollEvery = Math.min(Math.max(status.interval_s, 1), 5) * 1000;
  }

  // --- transport: SSE, polling as the fallback ------------------------------------------

  let lastText = null;
  let lastMessage = 0;
  let source = null;
  let pollTimer = null;
  let pollEvery = 2000;

  function setConnection(state) {
    const badge = byId("connection");
    badge.dataset.state = state;
    badge.textContent = state;
  }

  function receive(text) {
    lastMessage = Date.now();
    if (text === lastText) return;
    lastText = text;
    try {
      render(JSON.parse(text));
    } catch (error) {
      console.error("dashboard: cannot draw the snapshot", error);
    }
  }

  function poll() {
    fetch("/api/snapshot", { cache: "no-store" })
      .then((response) => {
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        return response.text();
      })
      .then((text) => {
        if (pollTimer !== null) setConnection("polling");
        receive(text);
      })
      .catch(() => setConnection("offline"))
      .finally(() => {
        if (pollTimer !== null) pollTimer = setTimeout(poll, pollEvery);
      });
  }

  function startPolling() {
    if (pollTimer !== null) return;
    setConnection("polling");
    pollTimer = setTimeout(poll, 0);
    setTimeout(openStream, STREAM_RETRY_MS);
  }

  function stopPolling() {
    if (pollTimer === null) return;
    clearTimeout(pollTimer);
    pollTimer = null;
  }

  function closeStream() {
    if (source) source.close();
    source = null;
  }

  function openStream() {
    if (source || typeof EventSource === "undefined") {
      if (!source) startPolling();
      return;
    }
    let received = 0;
    source = new EventSource("/api/stream");
    source.onmessage = (event) => {
      received += 1;
      stopPolling();
      setConnection("live");
      receive(event.data);
    };
    source.onerror = () => {
      if (!source) return;
      // Never opened (blocked, or an old proxy) or given up: poll, try the stream again later.
      // Dropped after it worked: the browser reconnects by itself; poll until it does.
      if (received === 0 || source.readyState === EventSource.CLOSED) closeStream();
      startPolling();
    };
    lastMessage = Date.now();
  }

  // A stream that went silent (a proxy buffering it, a half-open connection): poll instead.
  setInterval(() => {
    if (source && Date.now() - lastMessage > STREAM_SILENCE_MS) {
      closeStream();
      startPolling();
    }
  }, 2000);

  openStream();
})();
