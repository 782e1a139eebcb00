/// A q-valued request header list (`Accept`, `Accept-Encoding`, `Accept-Language`): how much a client wants one
/// of its items (RFC 9110 §12.4.2). The one reader of such lists, so every negotiation agrees on the same header.
public enum QualityList {
    /// The q-value `header` gives `token` (compared without case, exactly: wildcards are the caller's to ask for),
    /// the highest when it is listed twice; nil when it is not listed. A missing q is 1; one that is not a number
    /// from 0 to 1 is 0 (refused: a stored variant is never sent on a value Porter cannot read).
    public static func quality(of token: String, in header: String?) -> Double? {
        guard let header else { return nil }
        var best: Double?
        for item in header.split(separator: ",") {
            let parts = item.split(separator: ";")
            guard let name = parts.first?.trimmingSpaces(), name.lowercased() == token.lowercased() else { continue }
            var q = 1.0
            for parameter in parts.dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingSpaces() }
                if pair.count == 2, pair[0].lowercased() == "q" { q = Double(pair[1]).flatMap { (0...1).contains($0) ? $0 : nil } ?? 0 }
            }
            best = max(best ?? q, q)
        }
        return best
    }

    /// Whether `header` lists `token` with a q-value above 0.
    public static func accepts(_ token: String, in header: String?) -> Bool {
        (quality(of: token, in: header) ?? 0) > 0
    }
}
