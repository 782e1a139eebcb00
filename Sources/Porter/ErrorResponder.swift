/// The one place that turns an error into a response: the error's own status and public message, or a 500
/// that says nothing about internals (details go to the log only).
public enum ErrorResponder {
    /// Replaces `ctx.response` with an error response for `error`, as plain text or a small HTML page.
    public static func respond(to error: any Error, in ctx: HTTPContext, html: Bool) {
        let status: HTTPStatus
        let message: String
        var headers: HTTPHeaders = [:]
        if let e = error as? any HTTPResponseError {
            status = e.status
            message = e.publicMessage
            headers = e.headers
            if status.code >= 500 {
                ctx.logger.error("request failed", metadata: ["status": .stringConvertible(status.code), "error": .string("\(error)")])
            }
        } else {
            status = .internalServerError
            message = "Internal Server Error"
            ctx.logger.error("unhandled error", metadata: [
                "error": .string(String(reflecting: error)), "error.type": .string(String(reflecting: type(of: error))),
                "handler": .string(ctx.handler?.name ?? "-"), "event": .string(ctx.currentEvent.description),
            ])
        }
        let cookies = ctx.response.cookies
        ctx.response.reset()
        ctx.response.cookies = cookies
        ctx.response.status = status
        for (name, value) in headers { ctx.response.headers.add(name, value) }
        if html {
            ctx.response.contentType = "text/html; charset=utf-8"
            let title = "\(status.code) \(HTMLEscaping.escape(status.reasonPhrase))"
            ctx.response.write("<!doctype html><html><head><meta charset=\"utf-8\"><title>\(title)</title></head>"
                + "<body><h1>\(title)</h1><p>\(HTMLEscaping.escape(message))</p><p><small>request \(ctx.requestID)</small></p></body></html>\n")
        } else {
            ctx.response.contentType = "text/plain; charset=utf-8"
            ctx.response.write(message + "\n")
        }
    }
}

/// HTML text escaping.
public enum HTMLEscaping {
    /// Escapes `& < > " '` for use in HTML text and attribute values.
    public static func escape(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 == 38 || $0 == 60 || $0 == 62 || $0 == 34 || $0 == 39 }) else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 16)
        for ch in text.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }
}
