// `/stats`: requests, errors, latency, tokens and cost over time, by model, provider or service (SVG).

import { api } from "./api.js";
import { clear, errorBox, fmtCompact, fmtCost, fmtDuration, fmtInt, h, svg, timeMs } from "./dom.js";
import { filterBar, timeParams } from "./filters.js";

const W = 560;
const HEIGHT = 200;
const M = { left: 52, right: 12, top: 12, bottom: 26 };
const MAX_SERIES = 8;
const FILTERS = ["range", "group_by", "service", "model", "provider", "span_type", "status"];
const DEFAULTS = { range: "24h", group_by: "none" };
const GROUPS = { label: "Group by", options: [["none", "Nothing"], ["model", "Model"], ["provider", "Provider"], ["service", "Service"], ["span_type", "Span type"], ["user", "User"]] };

/** A round step for about four grid intervals up to `value` (whole numbers for counts). */
function niceStep(value, whole) {
  if (!(value > 0)) return 1;
  const raw = value / 4;
  const power = 10 ** Math.floor(Math.log10(raw));
  const steps = whole ? [1, 2, 5, 10] : [1, 2, 2.5, 5, 10];
  const step = steps.find((s) => s * power >= raw) * power;
  return whole ? Math.max(1, Math.round(step)) : step;
}

const INTERVAL_MS = { m: 60e3, h: 3600e3, d: 86400e3 };

function intervalMs(interval) {
  const m = /^(\d+)([mhd])$/.exec(interval || "");
  return m ? Number(m[1]) * INTERVAL_MS[m[2]] : 0;
}

function timeLabel(ms, spanMs) {
  const d = new Date(ms);
  const hm = `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
  return spanMs > 2 * 86400e3 ? `${d.getMonth() + 1}/${d.getDate()}` : spanMs > 86400e3 ? `${d.getMonth() + 1}/${d.getDate()} ${hm}` : hm;
}

/** One line chart: `series` = [{name, points: [[ms, value]]}], x over [x0, x1], y from 0. */
export function lineChart(title, series, format, [x0, x1], { whole = false, gap = 0 } = {}) {
  const values = series.flatMap((s) => s.points.map(([, v]) => v)).filter(Number.isFinite);
  const top = Math.max(0, ...values);
  const step = niceStep(top, whole);
  const yMax = Math.max(step, Math.ceil(top / step) * step);
  const levels = [];
  for (let v = 0; v <= yMax + step / 2; v += step) levels.push(v);
  const plotW = W - M.left - M.right;
  const plotH = HEIGHT - M.top - M.bottom;
  const span = Math.max(x1 - x0, 1);
  const x = (ms) => M.left + ((ms - x0) / span) * plotW;
  const y = (v) => M.top + plotH - (v / yMax) * plotH;
  const grid = levels.map((v) => svg("g", { class: "grid" },
    svg("line", { x1: M.left, x2: W - M.right, y1: y(v), y2: y(v) }),
    svg("text", { x: M.left - 6, y: y(v) + 4, "text-anchor": "end" }, format(v))));
  const xTicks = [0, 0.25, 0.5, 0.75, 1].map((f) => svg("text", {
    class: "x-tick", x: M.left + f * plotW, y: HEIGHT - 8, "text-anchor": f === 0 ? "start" : f === 1 ? "end" : "middle",
  }, timeLabel(x0 + f * span, span)));
  const lines = series.map((s, i) => {
    const pts = s.points.filter(([, v]) => Number.isFinite(v));
    // A missing bucket of a non-additive metric (latency) breaks the line instead of bridging it.
    const d = pts.map(([t, v], j) => `${j && !(gap && t - pts[j - 1][0] > gap * 1.5) ? "L" : "M"}${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    const dots = pts.filter(([, v]) => v !== 0 || pts.length <= 30).slice(0, 200).map(([t, v]) => svg("circle", { class: "dot", cx: x(t).toFixed(1), cy: y(v).toFixed(1), r: pts.length === 1 ? 4 : 2.5 },
      svg("title", {}, `${s.name || s.unnamed || "all"} · ${new Date(t).toLocaleString()} · ${format(v)}`)));
    return svg("g", { class: `series s${i}` }, pts.length > 1 ? svg("path", { class: "line", d }) : null, dots);
  });
  const empty = values.length ? null : svg("text", { class: "no-data", x: W / 2, y: HEIGHT / 2, "text-anchor": "middle" }, "no data");
  return h("figure", { class: "chart-card" },
    h("figcaption", {}, title),
    svg("svg", { class: "chart", viewBox: `0 0 ${W} ${HEIGHT}`, role: "img", "aria-label": title }, svg("title", {}, title), grid, xTicks, lines, empty),
    series.length > 1 || (series[0] && series[0].name)
      ? h("ul", { class: "legend" }, series.map((s, i) => h("li", { class: `s${i}` }, h("span", { class: "swatch" }), s.name || s.unnamed || "(none)")))
      : null);
}

function totalsBar(totals) {
  const rate = totals.count ? (100 * totals.error_count) / totals.count : 0;
  const item = (label, value) => h("div", { class: "total" }, h("div", { class: "total-value" }, value), h("div", { class: "muted small" }, label));
  return h("div", { class: "totals" },
    item("spans", fmtInt(totals.count)),
    item("errors", `${fmtInt(totals.error_count)} (${rate.toFixed(rate && rate < 1 ? 2 : 1)}%)`),
    item("p50 latency", fmtDuration(totals.p50_ms)),
    item("p99 latency", fmtDuration(totals.p99_ms)),
    item("tokens", fmtInt(totals.total_tokens)),
    item("cost", fmtCost(totals.cost_usd) || "$0"));
}

export function render(main, ctx) {
  let query = ctx.query;
  let generation = 0;
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  let bar = filterBar(query, FILTERS, ctx.navigate, { defaults: DEFAULTS, extra: { group_by: GROUPS } });
  clear(main, h("div", { class: "page-head" }, h("h1", {}, "Stats")), bar.form, body);

  const load = async () => {
    const mine = ++generation;
    const params = { ...timeParams(query, DEFAULTS.range), interval: "auto", group_by: query.get("group_by") || DEFAULTS.group_by };
    for (const name of ["service", "model", "provider", "span_type", "status"]) if (query.get(name)) params[name] = query.get(name);
    try {
      const stats = await api("stats", params);
      if (mine !== generation) return;
      const all = [...stats.series].sort((a, b) =>
        b.buckets.reduce((s, x) => s + x.count, 0) - a.buckets.reduce((s, x) => s + x.count, 0));
      const shown = all.slice(0, MAX_SERIES);
      const times = shown.flatMap((s) => s.buckets.map((b) => timeMs(b.time)));
      const x0 = stats.since ? timeMs(stats.since) : Math.min(...times);
      const x1 = stats.until ? timeMs(stats.until) : Math.max(...times);
      const step = intervalMs(stats.interval);
      const label = params.group_by === "none" ? "" : `(no ${params.group_by.replace("_", " ")})`;
      // Additive metrics are 0 in an empty bucket; latency has no value there.
      const of = (key, additive) => shown.map((s) => {
        const points = new Map(s.buckets.map((b) => [timeMs(b.time), b[key]]));
        if (additive && step && points.size) {
          const first = Math.min(...points.keys());
          for (let t = first - Math.floor((first - x0) / step) * step; t < x1; t += step) if (!points.has(t)) points.set(t, 0);
        }
        return { name: s.group, unnamed: label, points: [...points.entries()].sort((a, b) => a[0] - b[0]) };
      });
      const money = (v) => (v >= 1 ? `$${fmtCompact(v)}` : `$${v.toFixed(v ? 3 : 0)}`);
      const ms = (v) => fmtDuration(v) || "0";
      clear(body,
        totalsBar(stats.totals),
        all.length > MAX_SERIES ? h("p", { class: "muted small" }, `The ${MAX_SERIES} busiest of ${all.length} groups.`) : null,
        h("div", { class: "charts" },
          lineChart("Requests (spans)", of("count", true), fmtCompact, [x0, x1], { whole: true }),
          lineChart("Errors", of("error_count", true), fmtCompact, [x0, x1], { whole: true }),
          lineChart("Latency p50", of("p50_ms", false), ms, [x0, x1], { gap: step }),
          lineChart("Latency p99", of("p99_ms", false), ms, [x0, x1], { gap: step }),
          lineChart("Tokens", of("total_tokens", true), fmtCompact, [x0, x1], { whole: true }),
          lineChart("Cost (USD)", of("cost_usd", true), money, [x0, x1])),
        h("p", { class: "muted small" }, `Interval ${stats.interval}, ${new Date(x0).toLocaleString()} – ${new Date(x1).toLocaleString()}.`));
    } catch (err) {
      if (mine !== generation) return;
      clear(body, errorBox(err.status === 404 ? "This server has no stats API (/api/v1/stats)." : err.message));
    }
  };
  ctx.onUpdate((next) => {
    query = next;
    const fresh = filterBar(query, FILTERS, ctx.navigate, { defaults: DEFAULTS, extra: { group_by: GROUPS } });
    bar.form.replaceWith(fresh.form);
    bar = fresh;
    load();
  });
  load();
  return () => { generation += 1; };
}
