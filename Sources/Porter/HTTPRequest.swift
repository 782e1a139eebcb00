import Glibc

/// The request as nginx forwarded it: method, path, query, headers, cookies, body and every FastCGI parameter.
public struct HTTPRequest: @unchecked Sendable { // its only state is `Fields` (Sendable), changed only when unshared
    /// The fields, shared by copies until one of them changes (copy-on-write): reading `context.request.path` from a
    /// context copies one reference, not a dozen strings and collections.
    private var storage: Storage

    /// The verb, e.g. `GET`.
    public var method: HTTPMethod {
        get { storage.withUnsafeMutablePointerToHeader { $0.pointee.method } }
        set { uniqueFields.pointee.method = newValue }
        _modify { yield &uniqueFields.pointee.method }
    }
    /// The decoded, normalised path without the query (nginx's `$document_uri`), e.g. `/feeds/news.rss`.
    public var path: String {
        get { storage.withUnsafeMutablePointerToHeader { $0.pointee.path } }
        set { uniqueFields.pointee.path = newValue }
        _modify { yield &uniqueFields.pointee.path }
    }
    /// The request target as the client sent it (`$request_uri`): raw path plus `?query`.
    public var uri: String {
        get { storage.withUnsafeMutablePointerToHeader { $0.pointee.uri } }
        set { uniqueFields.pointee.uri = newValue }
        _modify { yield &uniqueFields.pointee.uri }
    }
    /// The raw query string without `?`.
    public var queryString: String {
        get { storage.withUnsafeMutablePointerToHeader { $0.pointee.queryString } }
        set { uniqueFields.pointee.queryString = newValue }
        _modify { yield &uniqueFields.pointee.queryString }
    }
    /// The parsed query string.
    public var query: QueryParameters {
        get { storage.withUnsafeMutablePointerToHeader { $0.pointee.query } }
        set { uniqueFields.pointee.query = newValue }
        _modify { yield &uniqueFields.pointee.query }
    }
    /// Request headers, rebuilt from the `HTTP_*`, `CONTENT_TYPE` and `CONTENT_LENGTH` parameters.
    public var headers: HTTPHeaders {
        get { storage.withUnsafeMutablePointerToHeader { $0.pointee.headers } }
        set { uniqueFields.pointee.headers = newValue }
        _modify { yield &uniqueFields.pointee.headers }
    }
    /// Cookies from the `Cookie` header.
    public var cookies: [String: String] {
        get { storage.withUnsafeMutablePointerToHeader { $0.pointee.cookies } }
        set { uniqueFields.pointee.cookies = newValue }
        _modify { yield &uniqueFields.pointee.cookies }
    }
    /// The request body (FastCGI STDIN), fully read: in memory, or spilled to a temporary file when large.
    public var body: RequestBody {
        get { storage.withUnsafeMutablePointerToHeader { $0.pointee.body } }
        set { uniqueFields.pointee.body = newValue }
        _modify { yield &uniqueFields.pointee.body }
    }
    /// The client's address as nginx saw it (`REMOTE_ADDR`).
    public var remoteAddress: String {
        get { storage.withUnsafeMutablePointerToHeader { $0.pointee.remoteAddress } }
        set { uniqueFields.pointee.remoteAddress = newValue }
        _modify { yield &uniqueFields.pointee.remoteAddress }
    }
    /// The client's port (`REMOTE_PORT`), when known.
    public var remotePort: Int? {
        get { storage.withUnsafeMutablePointerToHeader { $0.pointee.remotePort } }
        set { uniqueFields.pointee.remotePort = newValue }
        _modify { yield &uniqueFields.pointee.remotePort }
    }
    /// Every FastCGI parameter (CGI variable) as received; Go's `ProcessEnv`, ASP.NET's `ServerVariables`.
    public var parameters: CGIParameters {
        get { storage.withUnsafeMutablePointerToHeader { $0.pointee.parameters } }
        set { uniqueFields.pointee.parameters = newValue }
        _modify { yield &uniqueFields.pointee.parameters }
    }

    /// The parsed multipart body, once `parseMultipartForm(limits:)` ran.
    var multipart: (fields: QueryParameters, files: [UploadedFile])? {
        get { storage.withUnsafeMutablePointerToHeader { $0.pointee.multipart } }
        set { uniqueFields.pointee.multipart = newValue }
        _modify { yield &uniqueFields.pointee.multipart }
    }

    /// A request's fields, kept together in `Storage`.
    private struct Fields: Sendable {
        var method: HTTPMethod
        var path: String
        var uri: String
        var queryString: String
        var query: QueryParameters
        var headers: HTTPHeaders
        var cookies: [String: String]
        var body: RequestBody
        var remoteAddress: String
        var remotePort: Int?
        var parameters: CGIParameters
        var multipart: (fields: QueryParameters, files: [UploadedFile])? = nil
    }

    /// One allocation holding the fields, a `ManagedBuffer`'s header, reached through its address: a class's stored
    /// property (`header` too) costs a dynamic exclusivity check on every access. Changed only while unshared.
    private final class Storage: ManagedBuffer<Fields, UInt8> {
        static func make(_ fields: Fields) -> Storage {
            unsafeDowncast(Storage.create(minimumCapacity: 0) { _ in fields }, to: Storage.self)
        }
    }

    private init(_ fields: Fields) { storage = Storage.make(fields) }

    /// The fields of this copy alone, to change in place (copied first while shared). The address stays valid while
    /// `storage` holds the buffer, which the caller's access to `self` guarantees for the duration of a `_modify`.
    /// (Each field has a setter besides `_modify`: an assignment then needs no coroutine frame, which can be allocated.)
    private var uniqueFields: UnsafeMutablePointer<Fields> {
        mutating get {
            if !isKnownUniquelyReferenced(&storage) {
                storage = Storage.make(storage.withUnsafeMutablePointerToHeader { $0.pointee })
            }
            return storage.withUnsafeMutablePointerToHeader { $0 }
        }
    }

    /// A request built from explicit parts (tests and the pipeline tier use this).
    public init(method: HTTPMethod = .get, uri: String, headers: HTTPHeaders = [:], body: [UInt8] = [],
                remoteAddress: String = "127.0.0.1", parameters: CGIParameters = [:]) {
        let (rawPath, query) = HTTPRequest.split(uri)
        self.init(Fields(method: method, path: PercentEncoding.decode(rawPath), uri: uri, queryString: query,
                         query: QueryParameters(parsing: query), headers: headers,
                         cookies: headers["Cookie"].map(CookieParser.parse) ?? [:], body: RequestBody(body),
                         remoteAddress: remoteAddress, remotePort: nil, parameters: parameters))
    }

    /// A request from CGI/FastCGI parameters (as nginx's `fastcgi_params` sends them) and the body bytes.
    public init(cgiParameters params: [String: String], body: [UInt8]) {
        self.init(cgiParameters: CGIParameters(params), body: RequestBody(body))
    }

    /// A request from CGI/FastCGI parameters (as nginx's `fastcgi_params` sends them) and the body.
    public init(cgiParameters params: [String: String], body: RequestBody) {
        self.init(cgiParameters: CGIParameters(params), body: body)
    }

    /// A request from CGI/FastCGI parameters (as nginx's `fastcgi_params` sends them) and the body.
    public init(cgiParameters params: CGIParameters, body: RequestBody) {
        // One pass over the parameter bytes: the few this request needs, and the headers in the order sent.
        var methodName: String?, requestURI: String?, scriptName: String?, pathInfo: String?
        var queryText: String?, documentURI: String?, cookie: String?, address: String?, port: String?
        var cgiContentType: String?, cgiContentLength: String?, contentTypeSentAsHeader = false, contentLengthSentAsHeader = false
        var headers = HTTPHeaders()
        headers.reserveCapacity(params.storedEntries)
        params.withEachEntry { name, value in
            func named(_ text: StaticString) -> Bool {
                name.count == text.utf8CodeUnitCount && memcmp(name.baseAddress!, text.utf8Start, name.count) == 0
            }
            var text: String { String(decoding: value, as: UTF8.self) } // made only for the parameters kept
            if HTTPRequest.isHeader(name) {
                let headerValue = text
                headers.add(HTTPRequest.headerName(fromCGI: UnsafeBufferPointer(rebasing: name[5...])), headerValue)
                if named("HTTP_COOKIE") { cookie = headerValue }
                else if named("HTTP_CONTENT_TYPE") { contentTypeSentAsHeader = true }
                else if named("HTTP_CONTENT_LENGTH") { contentLengthSentAsHeader = true }
                return
            }
            switch name.count {
            case 9: if named("PATH_INFO") { pathInfo = text }
            case 11:
                if named("REQUEST_URI") { requestURI = text }
                else if named("SCRIPT_NAME") { scriptName = text }
                else if named("REMOTE_ADDR") { address = text }
                else if named("REMOTE_PORT") { port = text }
            case 12:
                if named("QUERY_STRING") { queryText = text }
                else if named("DOCUMENT_URI") { documentURI = text }
                else if named("CONTENT_TYPE") { cgiContentType = text }
            case 14:
                if named("REQUEST_METHOD") { methodName = text }
                else if named("CONTENT_LENGTH") { cgiContentLength = text }
            default: break
            }
        }
        // CONTENT_TYPE and CONTENT_LENGTH are headers too, unless nginx also sent them as HTTP_*.
        if let cgiContentType, !cgiContentType.isEmpty, !contentTypeSentAsHeader { headers.add("Content-Type", cgiContentType) }
        if let cgiContentLength, !cgiContentLength.isEmpty, !contentLengthSentAsHeader {
            headers.add("Content-Length", cgiContentLength)
        }
        let target = requestURI ?? ((scriptName ?? "/") + (pathInfo ?? ""))
        let (rawPath, fromURI) = HTTPRequest.split(target)
        let queryString = queryText ?? fromURI
        let path = if let documentURI, !documentURI.isEmpty { documentURI } else { PercentEncoding.decode(rawPath) }
        self.init(Fields(method: HTTPMethod(rawValue: methodName ?? "GET"), path: path, uri: target,
                         queryString: queryString, query: QueryParameters(parsing: queryString), headers: headers,
                         cookies: cookie.map(CookieParser.parse) ?? [:], body: body, remoteAddress: address ?? "",
                         remotePort: port.flatMap { Int($0) }, parameters: params))
    }

    /// Whether a parameter name is a request header (starts with `HTTP_`).
    private static func isHeader(_ name: UnsafeBufferPointer<UInt8>) -> Bool {
        name.count >= 5 && name[0] == UInt8(ascii: "H") && name[1] == UInt8(ascii: "T") && name[2] == UInt8(ascii: "T")
            && name[3] == UInt8(ascii: "P") && name[4] == UInt8(ascii: "_")
    }

    /// The `Content-Type` header.
    public var contentType: String? { headers["Content-Type"] }

    /// The body as UTF-8 text (invalid bytes become U+FFFD).
    public var bodyText: String { String(decoding: body.bytes, as: UTF8.self) }

    /// The form fields (ASP.NET's `Request.Form`): of an `application/x-www-form-urlencoded` body, or the non-file
    /// fields of a `multipart/form-data` body (parsed before the handler runs, see `HTTPHandler.formLimits`);
    /// empty for other content types. Lookups ignore case; repeated names join with commas (`values(for:)`: each).
    public var form: QueryParameters {
        if let multipart { return multipart.fields }
        guard let type = contentType?.lowercased(), type.hasPrefix("application/x-www-form-urlencoded") else {
            return QueryParameters()
        }
        return QueryParameters(parsing: String(decoding: body.bytes, as: UTF8.self))
    }

    /// The uploaded files of a `multipart/form-data` body (ASP.NET's `Request.Files`), in order; closed when the request ends.
    public var files: [UploadedFile] { multipart?.files ?? [] }

    /// Parses a `multipart/form-data` body into `form` and `files` (once; the pipeline does this before the handler
    /// with the handler's `formLimits`). Throws 400/413 `HTTPError`s for malformed or oversized bodies.
    public mutating func parseMultipartForm(limits: FormLimits = FormLimits()) throws(HTTPError) {
        guard multipart == nil, MultipartFormParser.isMultipartForm(contentType) else { return }
        let boundary = try MultipartFormParser.boundary(of: contentType ?? "")
        multipart = try MultipartFormParser.parse(body, boundary: boundary, limits: limits)
    }

    /// Closes the uploaded files' temporary files (the pipeline does this when the request ends).
    public func closeUploadedFiles() {
        for file in files { file.content.close() }
    }

    /// The last path segment's extension, lower-cased, without the dot (`rss` for `/a/news.rss`).
    public var pathExtension: String? {
        guard let slash = path.lastIndex(of: "/") ?? path.indices.first,
              let dot = path[slash...].lastIndex(of: ".") else { return nil }
        return path[path.index(after: dot)...].lowercased()
    }

    /// `USER_AGENT` (the bytes after `HTTP_`) → `User-Agent`.
    static func headerName(fromCGI cgi: UnsafeBufferPointer<UInt8>) -> String {
        // Written straight into the String (no intermediate bytes): names up to 15 bytes allocate nothing.
        // Only ASCII letters and `_` change; other bytes are kept (invalid UTF-8 is repaired, as before).
        String(unsafeUninitializedCapacity: cgi.count) { bytes in
            var upper = true
            var n = 0
            for c in cgi {
                if c == UInt8(ascii: "_") {
                    bytes[n] = UInt8(ascii: "-")
                    upper = true
                } else {
                    let isUpper = c >= 65 && c <= 90
                    bytes[n] = upper || !isUpper ? c : c | 0x20
                    upper = false
                }
                n += 1
            }
            return n
        }
    }

    /// A request target split at its first `?`: the raw path and the query (empty without `?`).
    package static func split(_ uri: String) -> (path: Substring, query: String) {
        // A byte search: `?` is ASCII, so its index is a character boundary (no grapheme breaking per request).
        if let q = uri.utf8.firstIndex(of: UInt8(ascii: "?")) {
            return (uri[..<q], String(uri[uri.utf8.index(after: q)...]))
        }
        return (uri[...], "")
    }
}
