/// The one place that turns an error into a response: the error's own status and public message, or a 500
/// that says nothing about internals (details go to the log only).
public enum ErrorResponder {
    /// Replaces `ctx.response` with an error response for `error`, as plain text or a small HTML page; `details`
    /// adds the error's type and description (customErrors `off`/`remote_only` for local clients; never by default).
    /// Headers set before the error stay (a request id, CORS…) except the failed response's own representation.
    public static func respond(to error: any Error, in ctx: HTTPContext, html: Bool, details: Bool = false) {
        let status: HTTPStatus
        let message: String
        var headers: HTTPHeaders = [:]
        if error is CancellationError && Task.isCancelled {
            // The server cancelled the request's task: past its deadline (504, which the transport logs), or because
            // nginx aborted it when the client went away — not a server error: nginx's 499, logged at info.
            if let deadline = ctx.timeoutDeadline, MonotonicClock.nanoseconds() >= deadline {
                status = .gatewayTimeout
                message = "Gateway Timeout"
            } else {
                status = .clientClosedRequest
                message = "Client Closed Request"
                ctx.logger.info("request cancelled: the client went away", metadata: [
                    "handler": .string(ctx.handler?.name ?? "-"), "event": .string(ctx.currentEvent.description),
                ])
            }
        } else if let e = error as? any HTTPResponseError {
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
        clearBody(ctx)
        ctx.response.status = status
        for (name, value) in headers { ctx.response.headers.add(name, value) }
        if html {
            ctx.response.contentType = "text/html; charset=utf-8"
            let title = "\(status.code) \(HTMLEscaping.escape(status.reasonPhrase))"
            ctx.response.write("<!doctype html><html><head><meta charset=\"utf-8\"><title>\(title)</title></head>"
                + "<body><h1>\(title)</h1><p>\(HTMLEscaping.escape(message))</p>" + (details ? detailsHTML(error, ctx) : "")
                + "<p><small>request \(ctx.requestID)</small></p></body></html>\n")
        } else {
            ctx.response.contentType = "text/plain; charset=utf-8"
            ctx.response.write(message + "\n" + (details ? "\(String(reflecting: type(of: error))): \(String(reflecting: error))\n" : ""))
        }
    }

    /// Headers of the failed response that describe its body or send it elsewhere; an error response drops them.
    static let representationHeaders: Set<String> = [
        "content-type", "content-length", "content-encoding", "content-language", "content-disposition", "content-range",
        "content-location", "etag", "last-modified", "location", "expires", "cache-control", "accept-ranges", "refresh",
        "transfer-encoding",
    ]

    /// Empties the body and drops representation headers (and `X-Accel-*`), keeping the other headers and cookies.
    public static func clearBody(_ ctx: HTTPContext) {
        var kept = HTTPHeaders()
        for (name, value) in ctx.response.headers.fields {
            let lower = name.lowercased()
            if representationHeaders.contains(lower) || lower.hasPrefix("x-accel-") { continue }
            kept.add(name, value)
        }
        ctx.response.headers = kept
        ctx.response.body = .buffer([])
    }

    /// The details block (ASP.NET's detailed error page): type, description, event, handler, path.
    static func detailsHTML(_ error: any Error, _ ctx: HTTPContext) -> String {
        let e = HTMLEscaping.escape
        return "<h2>Details (shown to this client only: customErrors)</h2><pre>\(e(String(reflecting: type(of: error)))): "
            + "\(e(String(reflecting: error)))</pre><p>event \(e(ctx.currentEvent.description)), handler "
            + "\(e(ctx.handler?.name ?? "-")), path \(e(ctx.request.path))</p>"
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
