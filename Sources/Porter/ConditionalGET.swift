/// Evaluates a request's preconditions against the current representation's validators (RFC 9110 §13.2.2):
/// `If-Match`, `If-Unmodified-Since`, `If-None-Match`, `If-Modified-Since`, in that order.
public enum ConditionalGET {
    /// What the preconditions say.
    public enum Outcome: Sendable, Equatable {
        /// Serve the request normally.
        case proceed
        /// The client's copy is current: `304 Not Modified` (GET and HEAD only).
        case notModified
        /// A precondition failed: `412 Precondition Failed`.
        case preconditionFailed
    }

    /// The outcome for a `method` request with `headers` when the current representation has `etag` and
    /// `lastModified` (seconds since 1970); `nil` validators are unknown.
    ///
    /// The representation exists (so `*` matches). A field with no entity tag at all counts as absent.
    /// `If-Match` (strong comparison) fails with 412 when nothing matches; without it, an
    /// `If-Unmodified-Since` older than `lastModified` fails with 412. `If-None-Match` (weak comparison)
    /// takes precedence over `If-Modified-Since`: a match gives 304 for GET and HEAD, 412 for other methods.
    /// `If-Modified-Since` counts for GET and HEAD only. Dates that are not valid HTTP-dates are ignored.
    public static func evaluate(method: HTTPMethod, headers: HTTPHeaders, etag: EntityTag?,
                                lastModified: Int64?) -> Outcome {
        let isRead = method == .get || method == .head
        // Most requests carry no precondition: one pass over the names, no parsing.
        guard headers.contains(where: { $0.name.utf8.count > 3 && $0.name.utf8.first.map { $0 | 0x20 } == UInt8(ascii: "i")
                && $0.name.utf8.dropFirst().first.map { $0 | 0x20 } == UInt8(ascii: "f") && $0.name.utf8.dropFirst(2).first == UInt8(ascii: "-") })
        else { return .proceed }
        if let condition = EntityTagCondition(headerValues: headers.values(for: "If-Match")), condition != .tags([]) {
            guard etag.map(condition.stronglyMatches) ?? (condition == .any) else { return .preconditionFailed }
        } else if let text = headers["If-Unmodified-Since"], let since = HTTPDate.parse(text), let lastModified,
                  lastModified > since {
            return .preconditionFailed
        }
        if let condition = EntityTagCondition(headerValues: headers.values(for: "If-None-Match")), condition != .tags([]) {
            let matches = etag.map(condition.weaklyMatches) ?? (condition == .any)
            guard matches else { return .proceed }
            return isRead ? .notModified : .preconditionFailed
        }
        if isRead, let text = headers["If-Modified-Since"], let since = HTTPDate.parse(text), let lastModified,
           lastModified <= since {
            return .notModified
        }
        return .proceed
    }

    /// Whether the answer is `304 Not Modified`: the client's copy is current (GET and HEAD only).
    public static func isNotModified(method: HTTPMethod, headers: HTTPHeaders, etag: EntityTag?,
                                     lastModified: Int64? = nil) -> Bool {
        evaluate(method: method, headers: headers, etag: etag, lastModified: lastModified) == .notModified
    }
}

extension HTTPContext {
    /// Conditional GET in one call: sets `ETag` and `Last-Modified` on the response, then answers `304 Not
    /// Modified` (no body) when the client's copy is current, or `412 Precondition Failed` when `If-Match` /
    /// `If-Unmodified-Since` fail. Returns `true` when it answered, so the handler stops; headers set earlier
    /// (by modules or the handler, e.g. `Cache-Control`) are kept.
    public func respondNotModifiedIfCurrent(etag: EntityTag?, lastModified: Int64? = nil) -> Bool {
        if let etag { response.headers["ETag"] = etag.description }
        if let lastModified { response.headers["Last-Modified"] = HTTPDate.rfc1123(lastModified) }
        switch ConditionalGET.evaluate(method: request.method, headers: request.headers, etag: etag,
                                       lastModified: lastModified) {
        case .proceed:
            return false
        case .notModified:
            response.status = .notModified
        case .preconditionFailed:
            response.status = .preconditionFailed
        }
        response.headers["Content-Type"] = nil
        response.headers["Content-Length"] = nil
        response.body = .buffer([])
        return true
    }
}
