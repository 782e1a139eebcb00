import Crypto
import Porter

/// HTTP dates in the IMF-fixdate form (`Sun, 06 Nov 1994 08:49:37 GMT`), without Foundation.
enum HTTPDate {
    private static let days = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]  // 1970-01-01 was a Thursday
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Formats seconds since the epoch.
    static func format(_ seconds: Int) -> String {
        let day = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secs = seconds - day * 86_400
        let (y, m, d) = civil(fromDays: day)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let weekday = days[((day % 7) + 7) % 7]
        return "\(weekday), \(two(d)) \(months[m - 1]) \(y) \(two(secs / 3600)):\(two(secs / 60 % 60)):\(two(secs % 60)) GMT"
    }

    /// Parses an IMF-fixdate; nil for anything else (the conditional header is then ignored, as RFC 9110 says).
    static func parse(_ text: String) -> Int? {
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[5] == "GMT", let d = Int(parts[1]), let y = Int(parts[3]),
              let m = months.firstIndex(of: String(parts[2])) else { return nil }
        let time = parts[4].split(separator: ":")
        guard time.count == 3, let hh = Int(time[0]), let mm = Int(time[1]), let ss = Int(time[2]),
              (1...31).contains(d), (0..<24).contains(hh), (0..<60).contains(mm), (0...60).contains(ss) else { return nil }
        return days(fromCivil: y, m + 1, d) * 86_400 + hh * 3600 + mm * 60 + ss
    }

    /// Howard Hinnant's days-from-civil.
    static func days(fromCivil year: Int, _ month: Int, _ day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// Howard Hinnant's civil-from-days.
    static func civil(fromDays days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}

/// Validators for a response: a strong ETag and Last-Modified derived from the source file and the parameters.
struct ImageValidators: Sendable {
    /// The quoted entity tag.
    let etag: String
    /// The source's modification time (whole seconds).
    let lastModified: Int

    /// Validators for `relative` (the root-relative path) as `variant` (normalized parameters, or `original`).
    init(relative: String, file: SourceFile, variant: String) {
        let material = "\(relative)\u{0}\(file.size)\u{0}\(file.modifiedSeconds).\(file.modifiedNanoseconds)\u{0}\(variant)"
        let digest = SHA256.hash(data: Array(material.utf8))
        let hex = digest.prefix(16).map { byte in
            let s = String(byte, radix: 16)
            return byte < 16 ? "0" + s : s
        }.joined()
        etag = "\"\(hex)\""
        lastModified = file.modifiedSeconds
    }

    /// Whether the request's conditional headers say the client's copy is current (answer 304).
    ///
    /// `If-None-Match` wins when present (weak comparison, `*` matches); otherwise `If-Modified-Since`.
    func notModified(_ headers: HTTPHeaders) -> Bool {
        let inm = headers.values(for: "If-None-Match")
        if !inm.isEmpty {
            for candidate in inm.joined(separator: ",").split(separator: ",") {
                var tag = candidate.trimmingSpaces()
                if tag == "*" { return true }
                if tag.hasPrefix("W/") { tag = tag.dropFirst(2) }
                if tag == etag[...] { return true }
            }
            return false
        }
        if let since = headers["If-Modified-Since"], let date = HTTPDate.parse(since) {
            return lastModified <= date
        }
        return false
    }

    /// Sets `ETag` and `Last-Modified` on `headers`.
    func apply(to headers: inout HTTPHeaders) {
        headers["ETag"] = etag
        headers["Last-Modified"] = HTTPDate.format(lastModified)
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var s = self
        while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" { s = s.dropLast() }
        return s
    }
}

/// Content negotiation on `Accept`.
enum AcceptHeader {
    /// Whether `accept` lists `mediaType` (exactly, not through wildcards) with a non-zero q.
    static func accepts(_ accept: String?, _ mediaType: String) -> Bool {
        guard let accept else { return false }
        for range in accept.split(separator: ",") {
            let parts = range.split(separator: ";").map { $0.trimmingSpaces() }
            guard let type = parts.first, type.lowercased() == mediaType else { continue }
            let q = parts.dropFirst().first { $0.lowercased().hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            if q > 0 { return true }
        }
        return false
    }
}
