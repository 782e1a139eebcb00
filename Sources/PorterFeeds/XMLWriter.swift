/// Builds an XML document as UTF-8 bytes, escaping every text and attribute value it is given.
///
/// Text is made safe for XML 1.0: `&`, `<`, `>` are escaped (so `]]>` can never appear), quotes too in
/// attributes, carriage returns become `&#13;`, and characters XML 1.0 forbids (C0 controls other than tab,
/// LF and CR, U+FFFE, U+FFFF) are dropped. Swift strings are always valid Unicode, so invalid UTF-8 was
/// already replaced by U+FFFD when the text was decoded.
public struct XMLWriter: Sendable {
    /// The document so far.
    public private(set) var bytes: [UInt8] = []

    /// An empty document with room for `capacity` bytes.
    public init(capacity: Int = 4096) {
        bytes.reserveCapacity(capacity)
    }

    /// Appends markup verbatim (only for literal markup written by Porter itself, never for data).
    public mutating func raw(_ markup: StaticString) {
        markup.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Appends `text` as escaped character data.
    public mutating func text(_ text: String) {
        XMLWriter.appendEscaped(text, attribute: false, to: &bytes)
    }

    /// Appends `<name>text</name>` with `text` escaped; `name` is literal markup.
    public mutating func element(_ name: StaticString, _ text: String) {
        bytes.append(UInt8(ascii: "<"))
        raw(name)
        bytes.append(UInt8(ascii: ">"))
        XMLWriter.appendEscaped(text, attribute: false, to: &bytes)
        bytes.append(contentsOf: [UInt8(ascii: "<"), UInt8(ascii: "/")])
        raw(name)
        bytes.append(UInt8(ascii: ">"))
    }

    /// Appends ` name="value"` with `value` escaped for a double-quoted attribute.
    public mutating func attribute(_ name: StaticString, _ value: String) {
        bytes.append(UInt8(ascii: " "))
        raw(name)
        bytes.append(contentsOf: [UInt8(ascii: "="), UInt8(ascii: "\"")])
        XMLWriter.appendEscaped(value, attribute: true, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    /// `text` escaped as XML character data (or as an attribute value), as a string.
    public static func escape(_ text: String, attribute: Bool = false) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        appendEscaped(text, attribute: attribute, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// `text` without the characters XML 1.0 forbids (what a parser will read back from the escaped form).
    public static func sanitize(_ text: String) -> String {
        var scalars = String.UnicodeScalarView()
        for scalar in text.unicodeScalars where isAllowed(scalar) { scalars.append(scalar) }
        return String(scalars)
    }

    /// Whether XML 1.0 allows `scalar` in a document (the `Char` production).
    public static func isAllowed(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x9, 0xA, 0xD, 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: true
        default: false
        }
    }

    static func appendEscaped(_ text: String, attribute: Bool, to out: inout [UInt8]) {
        text.withUTF8Bytes { utf8 in
            var i = 0
            let n = utf8.count
            while i < n {
                let b = utf8[i]
                switch b {
                case UInt8(ascii: "&"): out.append(contentsOf: "&amp;".utf8)
                case UInt8(ascii: "<"): out.append(contentsOf: "&lt;".utf8)
                case UInt8(ascii: ">"): out.append(contentsOf: "&gt;".utf8)
                case UInt8(ascii: "\"") where attribute: out.append(contentsOf: "&quot;".utf8)
                case UInt8(ascii: "'") where attribute: out.append(contentsOf: "&apos;".utf8)
                case 0x0D: out.append(contentsOf: "&#13;".utf8)
                case 0x09 where attribute: out.append(contentsOf: "&#9;".utf8)
                case 0x0A where attribute: out.append(contentsOf: "&#10;".utf8)
                case 0x09, 0x0A: out.append(b)
                case 0x00..<0x20: break // forbidden C0 control: dropped
                case 0xEF where i + 2 < n && utf8[i + 1] == 0xBF && (utf8[i + 2] == 0xBE || utf8[i + 2] == 0xBF):
                    i += 3 // U+FFFE / U+FFFF: not XML characters, dropped
                    continue
                default: out.append(b)
                }
                i += 1
            }
        }
    }
}
