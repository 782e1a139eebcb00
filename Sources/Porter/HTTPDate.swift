/// Date formats feeds and HTTP use, on whole seconds since 1970 (UTC), without locale or Foundation formatters.
public enum HTTPDate {
    /// Short weekday names, Sunday first.
    public static let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    /// Long weekday names (RFC 850 dates), Sunday first.
    public static let longWeekdays = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
    /// Month abbreviations.
    public static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// A UTC calendar date and time.
    public struct Civil: Equatable, Sendable {
        public var year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int
        /// 0 = Sunday.
        public var weekday: Int
    }

    /// The UTC calendar fields of `seconds` since 1970.
    public static func civil(_ seconds: Int64) -> Civil {
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let secs = Int(seconds - days * 86400)
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        let weekday = Int(((days % 7) + 11) % 7) // 1970-01-01 was a Thursday (4)
        return Civil(year: Int(y), month: Int(m), day: Int(d), hour: secs / 3600, minute: secs % 3600 / 60,
                     second: secs % 60, weekday: weekday)
    }

    /// Seconds since 1970 for a UTC calendar date (fields are not range-checked).
    public static func seconds(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) -> Int64 {
        // Howard Hinnant's days_from_civil.
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mm = Int64(month)
        let doy = (153 * (mm > 2 ? mm - 3 : mm + 9) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return days * 86400 + Int64(hour * 3600 + minute * 60 + second)
    }

    /// The IMF-fixdate of RFC 9110 (`Sun, 06 Nov 1994 08:49:37 GMT`), which is also a valid RFC 822 date for RSS.
    public static func rfc1123(_ seconds: Int64) -> String {
        let c = civil(seconds)
        guard (0...9999).contains(c.year) else {
            return "\(weekdays[c.weekday]), \(pad2(c.day)) \(months[c.month - 1]) \(pad4(c.year)) "
                + "\(pad2(c.hour)):\(pad2(c.minute)):\(pad2(c.second)) GMT"
        }
        // Written in place (it is sent with every feed and image response): 29 bytes, one allocation.
        return String(unsafeUninitializedCapacity: 29) { out in
            var i = 0
            func put(_ byte: UInt8) { out[i] = byte; i += 1 }
            func name(_ text: String) { for b in text.utf8 { put(b) } }
            func digits(_ v: Int, _ count: Int) {
                var divisor = 1
                for _ in 1..<count { divisor *= 10 }
                while divisor > 0 { put(UInt8(48 + v / divisor % 10)); divisor /= 10 }
            }
            name(weekdays[c.weekday]); put(44); put(32)
            digits(c.day, 2); put(32); name(months[c.month - 1]); put(32); digits(c.year, 4); put(32)
            digits(c.hour, 2); put(58); digits(c.minute, 2); put(58); digits(c.second, 2); name(" GMT")
            return i
        }
    }

    /// An RFC 3339 timestamp in UTC (`1994-11-06T08:49:37Z`), as Atom requires.
    public static func rfc3339(_ seconds: Int64) -> String {
        let c = civil(seconds)
        return "\(pad4(c.year))-\(pad2(c.month))-\(pad2(c.day))T\(pad2(c.hour)):\(pad2(c.minute)):\(pad2(c.second))Z"
    }

    /// Parses an HTTP-date in any of the three forms RFC 9110 §5.6.7 requires recipients to accept
    /// (IMF-fixdate, obsolete RFC 850, asctime); `nil` for anything else.
    public static func parse(_ text: String) -> Int64? {
        let s = text.trimmingSpaces()
        if let comma = s.firstIndex(of: ",") {
            let name = String(s[..<comma])
            let rest = s[s.index(after: comma)...].split(separator: " ", omittingEmptySubsequences: true)
            if weekdays.contains(name) {
                // Sun, 06 Nov 1994 08:49:37 GMT
                guard rest.count == 5, rest[4] == "GMT", rest[0].count == 2, rest[2].count == 4,
                      let day = Int(rest[0]), let month = months.firstIndex(of: String(rest[1])),
                      let year = Int(rest[2]) else { return nil }
                return build(year, month + 1, day, time: rest[3])
            }
            if longWeekdays.contains(name) {
                // Sunday, 06-Nov-94 08:49:37 GMT
                guard rest.count == 3, rest[2] == "GMT" else { return nil }
                let parts = rest[0].split(separator: "-", omittingEmptySubsequences: false)
                guard parts.count == 3, parts[0].count == 2, parts[2].count == 2, let day = Int(parts[0]),
                      let month = months.firstIndex(of: String(parts[1])), let yy = Int(parts[2]) else { return nil }
                return build(yy < 70 ? 2000 + yy : 1900 + yy, month + 1, day, time: rest[1])
            }
            return nil
        }
        // Sun Nov  6 08:49:37 1994
        let parts = s.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 5, weekdays.contains(String(parts[0])),
              let month = months.firstIndex(of: String(parts[1])), parts[2].count <= 2, let day = Int(parts[2]),
              parts[4].count == 4, let year = Int(parts[4]) else { return nil }
        return build(year, month + 1, day, time: parts[3])
    }

    static func build(_ year: Int, _ month: Int, _ day: Int, time: Substring) -> Int64? {
        let t = time.split(separator: ":", omittingEmptySubsequences: false)
        guard t.count == 3, t.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isASCIIDigit) }),
              let h = Int(t[0]), let m = Int(t[1]), let sec = Int(t[2]),
              h < 24, m < 60, sec <= 60, year >= 1, day >= 1, day <= daysIn(month: month, year: year) else { return nil }
        return seconds(year: year, month: month, day: day, hour: h, minute: m, second: min(sec, 59))
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    static func pad2(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
    static func pad4(_ v: Int) -> String {
        let s = String(v)
        return s.count >= 4 ? s : String(repeating: "0", count: 4 - s.count) + s
    }
}

extension Character {
    /// Whether this is 0-9.
    var isASCIIDigit: Bool { asciiValue.map { $0 >= 48 && $0 <= 57 } ?? false }
}
