public import Porter

/// Evaluates `If-None-Match` / `If-Modified-Since` for a GET or HEAD (RFC 9110 §13.1.2, §13.1.3, §13.2.2).
public enum ConditionalGET {
    /// Whether the client's copy is current, so the answer is `304 Not Modified`.
    ///
    /// `If-None-Match` takes precedence: when present, `If-Modified-Since` is ignored. An `If-Modified-Since`
    /// that is not a valid HTTP-date is ignored. Only GET and HEAD are ever answered with 304.
    public static func isNotModified(method: HTTPMethod, headers: HTTPHeaders, etag: EntityTag,
                                     lastModified: Int64) -> Bool {
        guard method == .get || method == .head else { return false }
        if let condition = EntityTagCondition(headerValues: headers.values(for: "If-None-Match")) {
            return condition.weaklyMatches(etag)
        }
        if let modifiedSince = headers["If-Modified-Since"], let since = HTTPDate.parse(modifiedSince) {
            return lastModified <= since
        }
        return false
    }
}
