// Porter — FastCGIWire: the FastCGI 1.0 wire protocol in pure Swift.

public import Porter
import Glibc

/// The encoding side of the CGI response format that `CGIResponse(parsing:)` reads: one place for both.
extension HTTPResponse {
    /// The CGI response head nginx parses: `Status:`, the headers, `Set-Cookie` lines, a default `Content-Type`
    /// (`application/octet-stream`) when the response may have a body but names none, `Content-Length` when
    /// `bodyLength` is known (replacing any set by hand), and the blank line. CR and LF are removed from every
    /// name and value, so no header can split the response (header injection).
    ///
    /// A HEAD response passes the length its GET would have: the head is the same, only the body is left out.
    public func cgiHead(bodyLength: Int?) -> [UInt8] {
        var head: [UInt8] = []
        head.reserveCapacity(96 + headers.count * 48 + cookies.count * 64)
        head.append(contentsOf: "Status: ".utf8)
        CGIHead.appendDecimal(status.code, to: &head)
        head.append(0x20)
        CGIHead.appendSanitized(status.reasonPhrase, to: &head)
        CGIHead.appendLineEnd(to: &head)
        var hasContentType = false
        for field in headers.fields {
            if bodyLength != nil, field.name.equalsIgnoringASCIICase("Content-Length") { continue }
            if field.name.equalsIgnoringASCIICase("Content-Type") { hasContentType = true }
            CGIHead.appendField(field.name, field.value, to: &head)
        }
        for cookie in cookies {
            CGIHead.appendField("Set-Cookie", cookie.headerValue, to: &head)
        }
        if !hasContentType && !status.forbidsBody && (bodyLength ?? 1) > 0 {
            CGIHead.appendField("Content-Type", "application/octet-stream", to: &head)
        }
        if let bodyLength, !status.forbidsBody {
            head.append(contentsOf: "Content-Length: ".utf8)
            CGIHead.appendDecimal(bodyLength, to: &head)
            CGIHead.appendLineEnd(to: &head)
        }
        CGIHead.appendLineEnd(to: &head)
        return head
    }
}

/// Byte-level helpers of the head encoder.
enum CGIHead {
    static func appendField(_ name: String, _ value: String, to head: inout [UInt8]) {
        appendSanitized(name, to: &head)
        head.append(UInt8(ascii: ":"))
        head.append(0x20)
        appendSanitized(value, to: &head)
        appendLineEnd(to: &head)
    }

    /// Appends `text` without its CR and LF bytes.
    static func appendSanitized(_ text: String, to head: inout [UInt8]) {
        var text = text
        text.withUTF8 { bytes in
            // One bulk copy unless the text really holds a CR or LF (memchr looks at many bytes per step).
            guard let base = bytes.baseAddress else { return }
            if memchr(base, 13, bytes.count) == nil && memchr(base, 10, bytes.count) == nil {
                head.append(contentsOf: bytes)
            } else {
                for byte in bytes where byte != 13 && byte != 10 { head.append(byte) }
            }
        }
    }

    static func appendDecimal(_ value: Int, to head: inout [UInt8]) {
        head.append(contentsOf: String(value).utf8)
    }

    static func appendLineEnd(to head: inout [UInt8]) {
        head.append(13)
        head.append(10)
    }
}
