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
        outcome(method: method, headers: headers, etag: etag, lastModified: lastModified, etagHeader: nil)
    }

    /// The outcome against `validators` (the same rules). A lone `If-None-Match` whose text is exactly the
    /// current `ETag` (what a cache sends back) matches without parsing.
    public static func evaluate(method: HTTPMethod, headers: HTTPHeaders, validators: Validators) -> Outcome {
        outcome(method: method, headers: headers, etag: validators.etag, lastModified: validators.lastModified,
                etagHeader: validators.etagHeader)
    }

    /// The rules, with the current `ETag` text when the caller has it.
    private static func outcome(method: HTTPMethod, headers: HTTPHeaders, etag: EntityTag?, lastModified: Int64?,
                                etagHeader: String?) -> Outcome {
        let isRead = method == .get || method == .head
        // Most requests carry no precondition: one pass over the names, no parsing.
        var noneMatch: String?
        var noneMatchFields = 0
        var checkedBefore = false   // If-Match or If-Unmodified-Since: evaluated before If-None-Match
        var any = false
        for i in headers.fields.indices {
            let name = headers.fields[i].name
            guard isPrecondition(name) else { continue }
            any = true
            if name.equalsIgnoringASCIICase("If-None-Match") {
                noneMatchFields += 1
                noneMatch = headers.fields[i].value
            } else if name.equalsIgnoringASCIICase("If-Match") || name.equalsIgnoringASCIICase("If-Unmodified-Since") {
                checkedBefore = true
            }
        }
        guard any else { return .proceed }
        // If-Modified-Since does not count once If-None-Match is there.
        if noneMatchFields == 1, !checkedBefore, let etagHeader, noneMatch == etagHeader {
            return isRead ? .notModified : .preconditionFailed
        }
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

    /// Whether a field name starts with `If-` (any case): a precondition to look at.
    private static func isPrecondition(_ name: String) -> Bool {
        var bytes = name.utf8.makeIterator()
        return bytes.next().map { $0 | 0x20 } == UInt8(ascii: "i") && bytes.next().map { $0 | 0x20 } == UInt8(ascii: "f")
            && bytes.next() == UInt8(ascii: "-")
    }

    /// Whether the answer is `304 Not Modified`: the client's copy is current (GET and HEAD only).
    public static func isNotModified(method: HTTPMethod, headers: HTTPHeaders, etag: EntityTag?,
                                     lastModified: Int64? = nil) -> Bool {
        evaluate(method: method, headers: headers, etag: etag, lastModified: lastModified) == .notModified
    }
}

/// A representation's validators with their header text written once: keep one with a cached representation so
/// each 200 or 304 for it copies two strings instead of formatting a date and a tag.
public struct Validators: Sendable, Hashable {
    /// The entity tag, if known.
    public let etag: EntityTag?
    /// The last modification (seconds since 1970), if known.
    public let lastModified: Int64?
    /// `etag` as sent in `ETag`.
    public let etagHeader: String?
    /// `lastModified` as sent in `Last-Modified`.
    public let lastModifiedHeader: String?

    /// Validators for a representation; either may be unknown.
    public init(etag: EntityTag?, lastModified: Int64? = nil) {
        self.etag = etag
        self.lastModified = lastModified
        etagHeader = etag?.description
        lastModifiedHeader = lastModified.map(HTTPDate.rfc1123)
    }
}

extension HTTPContext {
    /// Conditional GET in one call: sets `ETag` and `Last-Modified` on the response, then answers `304 Not
    /// Modified` (no body) when the client's copy is current, or `412 Precondition Failed` when `If-Match` /
    /// `If-Unmodified-Since` fail. Returns `true` when it answered, so the handler stops; headers set earlier
    /// (by modules or the handler, e.g. `Cache-Control`) are kept.
    public func respondNotModifiedIfCurrent(etag: EntityTag?, lastModified: Int64? = nil) -> Bool {
        respondNotModifiedIfCurrent(Validators(etag: etag, lastModified: lastModified))
    }

    /// Conditional GET in one call against validators kept with a cached representation (the same answers).
    public func respondNotModifiedIfCurrent(_ validators: Validators) -> Bool {
        if let etag = validators.etagHeader { response.headers["ETag"] = etag }
        if let lastModified = validators.lastModifiedHeader { response.headers["Last-Modified"] = lastModified }
        switch ConditionalGET.evaluate(method: request.method, headers: request.headers, validators: validators) {
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
