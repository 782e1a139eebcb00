/// The response being built for a request: status, headers, cookies and a buffered or streamed body.
public struct HTTPResponse: Sendable {
    /// The status line nginx sends to the client.
    public var status: HTTPStatus = .ok
    /// Response headers (excluding `Status`, which comes from `status`).
    public var headers: HTTPHeaders = [:]
    /// Cookies to set, written as `Set-Cookie` headers.
    public var cookies: [SetCookie] = []
    /// The body: bytes buffered in memory, or a producer that streams them when the response is written.
    public var body: ResponseBody = .buffer([])
    /// The cache policy the handler sets at run time (ASP.NET's `Response.Cache`); it wins over the route's
    /// (`OutputCachePolicy`, used by `OutputCacheModule`).
    public var cache: OutputCachePolicy?

    /// An empty `200 OK` response.
    public init() {}

    /// The `Content-Type` header.
    public var contentType: String? {
        get { headers["Content-Type"] }
        set { headers["Content-Type"] = newValue }
    }

    /// Appends UTF-8 text to a buffered body (turning a streamed body into a buffered one).
    public mutating func write(_ text: String) {
        write(Array(text.utf8))
    }

    /// Appends bytes to a buffered body (turning a streamed body into a buffered one).
    public mutating func write(_ bytes: [UInt8]) {
        if case .buffer(var existing) = body {
            if existing.isEmpty {
                body = .buffer(bytes)
                return
            }
            body = .buffer([])
            existing.append(contentsOf: bytes)
            body = .buffer(existing)
        } else {
            body = .buffer(bytes)
        }
    }

    /// Replaces the response with `status`, a text body and `text/plain`, dropping earlier headers and body.
    public mutating func setText(_ text: String, status: HTTPStatus, contentType: String = "text/plain; charset=utf-8") {
        self.status = status
        headers = [:]
        headers["Content-Type"] = contentType
        body = .buffer(Array(text.utf8))
    }

    /// Clears status, headers, cookies and body (ASP.NET's `Response.Clear` plus status reset).
    public mutating func reset() {
        self = HTTPResponse()
    }

    /// Redirects with `302 Found` (or the given status) to `location`.
    public mutating func redirect(to location: String, status: HTTPStatus = .found) {
        self.status = status
        headers["Location"] = location
        body = .buffer([])
    }

    /// Lets only this site's own pages frame this response (`Content-Security-Policy: frame-ancestors 'self'`, and
    /// `X-Frame-Options: SAMEORIGIN` for older browsers): for pages with forms that act for the signed-in user, so a
    /// page elsewhere cannot lay them under its own buttons (clickjacking).
    public mutating func denyFramingByOtherSites() {
        headers["Content-Security-Policy"] = "frame-ancestors 'self'"
        headers["X-Frame-Options"] = "SAMEORIGIN"
    }

    /// The buffered body bytes, or `nil` when the body is streamed.
    public var bufferedBody: [UInt8]? {
        if case .buffer(let bytes) = body { return bytes }
        return nil
    }
}

/// A response body: in memory, or produced chunk by chunk while it is being sent.
public enum ResponseBody: Sendable {
    /// The whole body, written in one go (with a `Content-Length`).
    case buffer([UInt8])
    /// A producer that writes the body in chunks; used for large files and long outputs.
    case stream(@Sendable (any ResponseBodyWriter) async throws -> Void)
}

/// Where a streamed body's chunks go: the transport's output stream.
public protocol ResponseBodyWriter: Sendable {
    /// Sends one chunk of the body.
    func write(_ bytes: [UInt8]) async throws
}
