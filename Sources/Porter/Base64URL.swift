/// Unpadded base64url (RFC 4648 §5): session ids, cookie tickets, signatures in URLs.
public enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Encodes bytes as base64url without `=` padding.
    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        let bytes = Array(bytes)
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], alphabet[Int(n & 63)]]
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)]]
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)]]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes base64url, unpadded or with trailing `=` padding; `nil` for any other character or a bad length.
    public static func decode(_ text: String) -> [UInt8]? {
        var utf8 = Substring(text).utf8[...]
        while utf8.last == UInt8(ascii: "=") { utf8 = utf8.dropLast() }
        let padding = text.utf8.count - utf8.count
        guard padding == 0 || (padding <= 2 && text.utf8.count % 4 == 0) else { return nil }
        var values: [UInt32] = []
        values.reserveCapacity(utf8.count)
        for c in utf8 {
            guard let v = value(c) else { return nil }
            values.append(v)
        }
        guard values.count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(values.count * 3 / 4)
        var i = 0
        while i < values.count {
            let chunk = values[i..<min(i + 4, values.count)]
            var n: UInt32 = 0
            for (k, v) in chunk.enumerated() { n |= v << (18 - 6 * UInt32(k)) }
            for k in 0..<(chunk.count - 1) { out.append(UInt8(n >> (16 - 8 * UInt32(k)) & 0xFF)) }
            i += 4
        }
        return out
    }

    /// Whether `byte` is in the base64url alphabet (padding excluded).
    public static func isAlphabet(_ byte: UInt8) -> Bool { value(byte) != nil }

    private static func value(_ c: UInt8) -> UInt32? {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): UInt32(c - 65)
        case UInt8(ascii: "a")...UInt8(ascii: "z"): UInt32(c - 97 + 26)
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(c - 48 + 52)
        case UInt8(ascii: "-"): 62
        case UInt8(ascii: "_"): 63
        default: nil
        }
    }
}
