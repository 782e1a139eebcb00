/// Sums Prometheus text expositions (format 0.0.4) of several processes into one: what `/metrics` shows for a pool
/// of worker processes, and what the master keeps of a worker that exited (`MetricsBoard`).
///
/// A series (the same name and label text) adds up across the inputs. Counters and histograms (`_bucket`, `_sum`,
/// `_count`) are cumulative: a retired process's stay in the total. Every other type (gauge, untyped, summary) is
/// the processes' current values: summed over the inputs that keep gauges, dropped from the others.
public enum PrometheusText {
    /// One process's exposition and whether its non-cumulative samples (gauges) count.
    public struct Part: Sendable {
        /// The exposition text.
        public var text: String
        /// False for a process that is gone: only its counters and histograms count.
        public var keepsGauges: Bool

        /// A part of a sum.
        public init(_ text: String, keepsGauges: Bool = true) {
            self.text = text
            self.keepsGauges = keepsGauges
        }
    }

    /// The sum of `parts`: families in the order first seen, each with its first `# HELP` and `# TYPE` line and its
    /// series in the order first seen. Lines that are not samples or HELP/TYPE comments are skipped.
    public static func sum(_ parts: [Part]) -> String {
        var families: [Family] = []
        var byName: [Substring: Int] = [:]
        func family(_ name: Substring) -> Int {
            if let i = byName[name] { return i }
            families.append(Family(name: name))
            byName[name] = families.count - 1
            return families.count - 1
        }
        for part in parts {
            var current: Int?
            for line in part.text.split(separator: "\n") {
                if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") {
                    let rest = line.dropFirst(7)
                    let end = rest.firstIndex(of: " ") ?? rest.endIndex
                    let i = family(rest[..<end])
                    let tail = rest[end...].drop { $0 == " " }
                    if line.hasPrefix("# HELP ") {
                        if families[i].help == nil { families[i].help = tail }
                    } else if families[i].type == nil {
                        families[i].type = tail
                    }
                    current = i
                    continue
                }
                guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "), let value = Value(line[line.index(after: space)...])
                else { continue }
                let series = line[..<space]
                let name = series.prefix { $0 != "{" && $0 != " " }
                let i = current.flatMap { families[$0].owns(name) ? $0 : nil } ?? family(name)
                guard part.keepsGauges || families[i].isCumulative else { continue }
                families[i].add(series, value)
            }
        }
        var out = ""
        for f in families where !f.series.isEmpty {
            if let help = f.help { out += "# HELP \(f.name) \(help)\n" }
            if let type = f.type { out += "# TYPE \(f.name) \(type)\n" }
            for s in f.series { out += "\(s) \(f.values[s]!.text)\n" }
        }
        return out
    }

    /// A float as Prometheus writes it (`0.005`, `1.0`, `+Inf`, `NaN`).
    public static func number(_ d: Double) -> String {
        if d.isInfinite { return d > 0 ? "+Inf" : "-Inf" }
        if d.isNaN { return "NaN" }
        return String(d)
    }

    private struct Family {
        let name: Substring
        var help: Substring?
        var type: Substring?
        var series: [Substring] = []
        var values: [Substring: Value] = [:]

        /// Counters and histograms only grow: they outlive their process.
        var isCumulative: Bool { type == "counter" || type == "histogram" }

        /// Whether a sample named `sample` belongs to this family (a histogram's `_bucket`, `_sum`, `_count` too).
        func owns(_ sample: Substring) -> Bool {
            guard sample.hasPrefix(name) else { return false }
            let suffix = sample.dropFirst(name.count)
            return suffix.isEmpty || (type == "histogram" || type == "summary") && (suffix == "_bucket" || suffix == "_sum" || suffix == "_count")
        }

        mutating func add(_ s: Substring, _ v: Value) {
            if let old = values[s] { values[s] = old + v } else { values[s] = v; series.append(s) }
        }
    }

    /// A sample value: exact while every addend is an integer, else a double.
    private enum Value {
        case integer(Int64)
        case double(Double)

        init?(_ text: Substring) {
            if let i = Int64(text) { self = .integer(i) }
            else if let d = Double(text) { self = .double(d) }
            else if text == "+Inf" { self = .double(.infinity) }
            else if text == "-Inf" { self = .double(-.infinity) }
            else if text == "NaN" { self = .double(.nan) }
            else { return nil }
        }

        var double: Double {
            switch self {
            case .integer(let i): return Double(i)
            case .double(let d): return d
            }
        }

        var text: String {
            switch self {
            case .integer(let i): return String(i)
            case .double(let d): return PrometheusText.number(d)
            }
        }

        static func + (a: Value, b: Value) -> Value {
            if case .integer(let x) = a, case .integer(let y) = b {
                let (sum, overflow) = x.addingReportingOverflow(y)
                if !overflow { return .integer(sum) }
            }
            return .double(a.double + b.double)
        }
    }
}
