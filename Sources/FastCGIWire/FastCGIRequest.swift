// Porter — FastCGIWire: the FastCGI 1.0 wire protocol in pure Swift.

public import Porter

/// A request as nginx would send it to a FastCGI responder: BEGIN_REQUEST, PARAMS, STDIN.
///
/// The default params mirror Debian's `/etc/nginx/fastcgi_params` for a request that reached
/// `location` by its URI (no `fastcgi_split_path_info`), followed by one `HTTP_*` param per header.
/// ```swift
/// let response = try client.send(.get("/feed.rss?page=2", headers: ["Accept": "application/rss+xml"]))
/// ```
public struct FastCGIRequest: Sendable {
    /// The HTTP method (REQUEST_METHOD).
    public var method: String
    /// The request target as sent by the HTTP client: path plus optional `?query` (REQUEST_URI).
    public var uri: String
    /// Request headers, sent as `HTTP_*` params (`Accept-Language` → `HTTP_ACCEPT_LANGUAGE`).
    public var headers: HTTPHeaders
    /// The request body (STDIN).
    public var body: [UInt8]
    /// Params added after the defaults; a name that is also a default replaces the default's value.
    public var extraParams: [NameValuePair]
    /// Default params to leave out entirely (e.g. `["REMOTE_USER"]`).
    public var omittedParams: Set<String>
    /// The FastCGI request id (nginx always uses 1).
    public var requestID: UInt16
    /// Sets FCGI_KEEP_CONN: the application keeps the connection open after the response.
    public var keepConnection: Bool
    /// The role asked for in BEGIN_REQUEST.
    public var role: Role
    /// DOCUMENT_ROOT.
    public var documentRoot: String
    /// REMOTE_ADDR and REMOTE_PORT.
    public var remoteAddress: String, remotePort: Int
    /// SERVER_ADDR, SERVER_PORT and SERVER_NAME.
    public var serverAddress: String, serverPort: Int, serverName: String

    /// A request; see the type's documentation for the params it produces.
    public init(method: String = "GET", uri: String, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = [],
                extraParams: [NameValuePair] = [], requestID: UInt16 = 1, keepConnection: Bool = false) {
        self.method = method
        self.uri = uri
        self.headers = headers
        self.body = body
        self.extraParams = extraParams
        self.omittedParams = []
        self.requestID = requestID
        self.keepConnection = keepConnection
        self.role = .responder
        self.documentRoot = "/var/www/html"
        self.remoteAddress = "127.0.0.1"
        self.remotePort = 54321
        self.serverAddress = "127.0.0.1"
        self.serverPort = 80
        self.serverName = "localhost"
    }

    /// `GET uri`.
    public static func get(_ uri: String, headers: HTTPHeaders = HTTPHeaders()) -> FastCGIRequest {
        FastCGIRequest(method: "GET", uri: uri, headers: headers)
    }

    /// `HEAD uri`.
    public static func head(_ uri: String, headers: HTTPHeaders = HTTPHeaders()) -> FastCGIRequest {
        FastCGIRequest(method: "HEAD", uri: uri, headers: headers)
    }

    /// `POST uri` with a body and its content type.
    public static func post(_ uri: String, body: [UInt8], contentType: String = "application/x-www-form-urlencoded",
                            headers: HTTPHeaders = HTTPHeaders()) -> FastCGIRequest {
        var headers = headers
        if !headers.contains("Content-Type") { headers.add("Content-Type", contentType) }
        return FastCGIRequest(method: "POST", uri: uri, headers: headers, body: body)
    }

    /// `POST uri` with a UTF-8 text body.
    public static func post(_ uri: String, text: String, contentType: String = "text/plain; charset=utf-8",
                            headers: HTTPHeaders = HTTPHeaders()) -> FastCGIRequest {
        post(uri, body: Array(text.utf8), contentType: contentType, headers: headers)
    }

    /// This request with one more param (replacing a default of the same name).
    public func with(param name: String, _ value: String) -> FastCGIRequest {
        var copy = self
        copy.extraParams.append(NameValuePair(name, value))
        return copy
    }

    /// The raw query after `?` (QUERY_STRING), empty if none.
    public var queryString: String {
        HTTPRequest.split(uri).query
    }

    /// The path before `?`, percent-decoded as nginx's `$uri` (DOCUMENT_URI, SCRIPT_NAME).
    public var documentURI: String {
        PercentEncoding.decode(HTTPRequest.split(uri).path)
    }

    /// CONTENT_LENGTH: the Content-Length header if given, else the body size, else empty (as nginx sends for GET).
    public var contentLength: String {
        if let header = headers["Content-Length"] { return header }
        return body.isEmpty ? "" : String(body.count)
    }

    /// Every param in the order nginx would send them: `fastcgi_params` defaults, then `HTTP_*`, then extras.
    public var params: [NameValuePair] {
        var pairs: [(String, String)] = [
            ("QUERY_STRING", queryString),
            ("REQUEST_METHOD", method),
            ("CONTENT_TYPE", headers["Content-Type"] ?? ""),
            ("CONTENT_LENGTH", contentLength),
            ("SCRIPT_NAME", documentURI),
            ("REQUEST_URI", uri),
            ("DOCUMENT_URI", documentURI),
            ("DOCUMENT_ROOT", documentRoot),
            ("SERVER_PROTOCOL", "HTTP/1.1"),
            ("REQUEST_SCHEME", "http"),
            ("GATEWAY_INTERFACE", "CGI/1.1"),
            ("SERVER_SOFTWARE", "nginx/1.22.1"),
            ("REMOTE_ADDR", remoteAddress),
            ("REMOTE_PORT", String(remotePort)),
            ("REMOTE_USER", ""),
            ("SERVER_ADDR", serverAddress),
            ("SERVER_PORT", String(serverPort)),
            ("SERVER_NAME", serverName),
            ("REDIRECT_STATUS", "200"),
            ("HTTP_HOST", headers["Host"] ?? serverName),
        ]
        for field in headers {
            let name = FastCGIRequest.cgiName(forHeader: field.name)
            if name == "HTTP_HOST" { continue }  // Debian's fastcgi_params sets HTTP_HOST from $host
            pairs.append((name, field.value))
        }
        var result = pairs.filter { !omittedParams.contains($0.0) }.map { NameValuePair($0.0, $0.1) }
        for extra in extraParams {
            if let index = result.firstIndex(where: { $0.name == extra.name }) {
                result[index] = extra
            } else {
                result.append(extra)
            }
        }
        return result
    }

    /// The whole request on the wire: BEGIN_REQUEST, the PARAMS stream, the STDIN stream (both terminated).
    /// - Parameters:
    ///   - maximumParamsRecordLength: split PARAMS into records of at most this many bytes (tests pairs straddling records).
    ///   - maximumStdinRecordLength: split STDIN into records of at most this many bytes.
    public func encoded(maximumParamsRecordLength: Int = RecordHeader.maximumContentLength,
                        maximumStdinRecordLength: Int = RecordHeader.maximumContentLength) -> [UInt8] {
        var bytes = Record(type: .beginRequest, requestID: requestID,
                           content: BeginRequestBody(role: role, keepConnection: keepConnection).encoded).encoded
        bytes += Record.stream(.params, requestID: requestID, content: NameValuePairs.encode(params),
                               maximumRecordLength: maximumParamsRecordLength)
        bytes += Record.stream(.stdin, requestID: requestID, content: body,
                               maximumRecordLength: maximumStdinRecordLength)
        return bytes
    }

    /// `HTTP_` plus the header name upper-cased with `-` turned into `_`, as nginx does.
    public static func cgiName(forHeader name: String) -> String {
        "HTTP_" + String(name.uppercased().map { $0 == "-" ? "_" : $0 })
    }
}
