public import Porter
import Glibc

/// Answers the current time with microseconds (`2026-12-02T11:55:01.123456+02:00`), at the UTC offset `?tz=`
/// (`UTC`, `+02:00`, `-0530`; default UTC): the demo's output-cache route (`/clock`, cached 5 s, varied by `tz`).
public struct ClockHandler: HTTPHandler {
    /// A clock handler.
    public init() {}

    public func processRequest(_ context: HTTPContext) throws {
        guard let offset = Self.offsetMinutes(context.request.query["tz"] ?? "UTC") else {
            throw HTTPError(.badRequest, message: "tz must be UTC or an offset like +02:00 or -0530")
        }
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let local = Int64(ts.tv_sec) + Int64(offset) * 60
        let c = HTTPDate.civil(local)
        func pad(_ v: Int, _ width: Int = 2) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        let micros = Int(ts.tv_nsec / 1000)
        let zone = offset == 0 ? "Z" : "\(offset < 0 ? "-" : "+")\(pad(abs(offset) / 60)):\(pad(abs(offset) % 60))"
        context.response.contentType = "text/plain; charset=utf-8"
        context.response.write("\(pad(c.year, 4))-\(pad(c.month))-\(pad(c.day))T\(pad(c.hour)):\(pad(c.minute)):\(pad(c.second))"
                               + ".\(pad(micros, 6))\(zone)\n")
    }

    /// `UTC`/`Z` → 0; `±HH:MM` or `±HHMM` (up to ±14:00) → minutes; anything else → nil.
    static func offsetMinutes(_ text: String) -> Int? {
        if text == "UTC" || text == "Z" { return 0 }
        let chars = Array(text.utf8)
        guard chars.count == 5 || chars.count == 6, chars[0] == UInt8(ascii: "+") || chars[0] == UInt8(ascii: "-") else { return nil }
        let digits = chars.dropFirst().filter { $0 != UInt8(ascii: ":") }
        guard digits.count == 4, digits.allSatisfy({ (48...57).contains($0) }),
              chars.count == 5 || chars[3] == UInt8(ascii: ":") else { return nil }
        let d = digits.map { Int($0 - 48) }
        let hours = d[0] * 10 + d[1], minutes = d[2] * 10 + d[3]
        guard minutes < 60, hours * 60 + minutes <= 14 * 60 else { return nil }
        return (chars[0] == UInt8(ascii: "-") ? -1 : 1) * (hours * 60 + minutes)
    }
}
