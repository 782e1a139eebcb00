import Foundation
import Porter

/// Renders trace snapshots as one self-contained HTML page: a table of requests and a waterfall per request.
///
/// Pure HTML and inline CSS (no scripts, no external resources); every recorded value is HTML-escaped.
public enum TracePage {
    /// The whole page for `snapshots` (newest first), with `limit` and `recorded` shown in the header.
    public static func html(_ snapshots: [RequestSnapshot], limit: Int, recorded: Int) -> String {
        var out = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>Porter trace</title>
        <style>\(css)</style></head><body>
        <h1>Porter trace</h1>
        <p class="summary">\(snapshots.count) request(s) shown; keeping the last \(limit); \(recorded) recorded since start.</p>

        """
        out += "<table class=\"requests\"><thead><tr><th>#</th><th>Started</th><th>Method</th><th>Path</th>"
        out += "<th>Status</th><th>Handler</th><th>User</th><th>Duration</th><th>Request id</th></tr></thead><tbody>\n"
        for s in snapshots { out += row(s) }
        out += "</tbody></table>\n"
        if snapshots.isEmpty { out += "<p class=\"empty\">No requests recorded yet.</p>\n" }
        for s in snapshots { out += detail(s) }
        out += "</body></html>\n"
        return out
    }

    static let css = """
    body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
    h1{font-size:1.4em}h2{font-size:1.1em;margin:0 0 .5em}
    table{border-collapse:collapse}
    table.requests td,table.requests th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left}
    table.requests th{background:#f0f0f0}
    td.path{font-family:monospace;max-width:32em;overflow-wrap:anywhere}
    td.num{text-align:right;font-variant-numeric:tabular-nums}
    .s2{color:#176317}.s3{color:#1a4f8a}.s4{color:#a35a00}.s5{color:#b00020;font-weight:bold}
    section.detail{margin:1.5em 0;padding:1em;border:1px solid #ccc;border-radius:4px}
    dl.facts{display:grid;grid-template-columns:max-content auto;gap:2px 12px;margin:0 0 1em}
    dl.facts dt{color:#666}dl.facts dd{margin:0;font-family:monospace;overflow-wrap:anywhere}
    .waterfall{font-size:12px}
    .span{display:flex;align-items:center;height:16px}
    .label{width:22em;flex:none;box-sizing:border-box;padding-right:6px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
    .span.module .label{padding-left:1.5em;color:#555}.span.module.orphan .label{padding-left:0}.span.handler .label{padding-left:1.5em}
    .track{position:relative;flex:1;height:12px;background:#f6f6f6}
    .bar{position:absolute;top:0;height:12px;min-width:1px;background:#4a7bd0}
    .span.module .bar{background:#86b36a;top:2px;height:8px}
    .span.handler .bar{background:#d08a4a}
    .ms{width:8em;flex:none;text-align:right;font-variant-numeric:tabular-nums}
    table.messages td{padding:1px 8px;font-family:monospace}
    """

    static func row(_ s: RequestSnapshot) -> String {
        let e = HTMLEscaping.escape
        return "<tr class=\"req\" id=\"row-\(s.sequence)\"><td class=\"num\"><a href=\"#req-\(s.sequence)\">\(s.sequence)</a></td>"
            + "<td>\(e(timestamp(s.startTime)))</td><td>\(e(s.method))</td><td class=\"path\">\(e(s.path))</td>"
            + "<td class=\"num s\(s.status / 100)\">\(s.status)</td><td>\(e(s.handler ?? "-"))</td>"
            + "<td>\(e(s.user.isEmpty ? "-" : s.user))</td><td class=\"num\">\(milliseconds(s.totalNanos))</td>"
            + "<td><code>\(e(s.requestID))</code></td></tr>\n"
    }

    static func detail(_ s: RequestSnapshot) -> String {
        let e = HTMLEscaping.escape
        var out = "<section class=\"detail\" id=\"req-\(s.sequence)\">"
        out += "<h2>#\(s.sequence) \(e(s.method)) \(e(s.path)) → \(s.status)</h2>\n<dl class=\"facts\">"
        let facts: [(String, String)] = [
            ("Request id", s.requestID), ("Trace id", s.traceID ?? "-"), ("Query", s.query.isEmpty ? "-" : s.query),
            ("Handler", [s.handler, s.handlerType.map { "(\($0))" }].compactMap { $0 }.joined(separator: " ").nonEmpty ?? "-"),
            ("Route", s.route ?? "-"), ("User", s.user.isEmpty ? "(anonymous)" : s.user),
            ("Client", s.remoteAddress.isEmpty ? "-" : s.remoteAddress), ("Started", timestamp(s.startTime)),
            ("Total", milliseconds(s.totalNanos)),
        ]
        for (name, value) in facts { out += "<dt>\(e(name))</dt><dd>\(e(value))</dd>" }
        out += "</dl>\n<div class=\"waterfall\">\n"
        let total = max(s.totalNanos, s.spans.map { $0.startNanos + $0.durationNanos }.max() ?? 0, 1)
        let timedEvents = Set(s.spans.filter { $0.module == nil }.map(\.event))
        for span in ordered(s.spans) {
            let kind = span.module == nil ? "event" : (span.module == "handler" ? "handler" : "module")
            // A module span whose event has no whole-event span (PreSendRequestContent, still running at the
            // snapshot) is labelled with its event so it does not look like part of the row above.
            let orphan = span.module != nil && !timedEvents.contains(span.event)
            let label = span.module.map { orphan ? "\(span.event): \($0)" : $0 } ?? span.event
            let left = percent(span.startNanos, of: total)
            let width = percent(span.durationNanos, of: total)
            let title = "\(span.event)\(span.module.map { " / \($0)" } ?? ""): start \(milliseconds(span.startNanos)), \(milliseconds(span.durationNanos))"
            out += "<div class=\"span \(kind)\(orphan ? " orphan" : "")\"><span class=\"label\" title=\"\(e(title))\">\(e(label))</span>"
            out += "<span class=\"track\"><span class=\"bar\" data-kind=\"\(kind)\" style=\"left:\(left)%;width:\(width)%\" title=\"\(e(title))\"></span></span>"
            out += "<span class=\"ms\">\(milliseconds(span.durationNanos))</span></div>\n"
        }
        out += "</div>\n"
        if !s.messages.isEmpty {
            out += "<table class=\"messages\"><thead><tr><th>From first</th><th>Category</th><th>Message</th></tr></thead><tbody>"
            for m in s.messages {
                out += "<tr><td>\(milliseconds(m.offsetNanos))</td><td>\(e(m.category))</td><td>\(e(m.message))</td></tr>"
            }
            out += "</tbody></table>\n"
        }
        out += "</section>\n"
        return out
    }

    /// Spans in waterfall order: by start, an event before the modules inside it, then by finishing order.
    static func ordered(_ spans: [RequestSnapshot.Span]) -> [RequestSnapshot.Span] {
        spans.enumerated().sorted { a, b in
            if a.element.startNanos != b.element.startNanos { return a.element.startNanos < b.element.startNanos }
            let ae = a.element.module == nil, be = b.element.module == nil
            if ae != be { return ae }
            return a.offset < b.offset
        }.map(\.element)
    }

    /// `part / whole` as a percentage with three decimals, clamped to 0...100.
    static func percent(_ part: UInt64, of whole: UInt64) -> String {
        let p = min(max(Double(part) / Double(whole) * 100, 0), 100)
        return String(format: "%.3f", p)
    }

    /// Nanoseconds as `1.234 ms`, or `12.3 µs` below a millisecond.
    static func milliseconds(_ nanos: UInt64) -> String {
        nanos < 1_000_000 ? String(format: "%.1f µs", Double(nanos) / 1e3) : String(format: "%.3f ms", Double(nanos) / 1e6)
    }

    /// A wall-clock time as ISO 8601 with milliseconds (UTC).
    static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}

extension String {
    /// `nil` when empty.
    var nonEmpty: String? { isEmpty ? nil : self }
}
