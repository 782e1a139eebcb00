// Porter — FastCGIWire: the FastCGI 1.0 wire protocol in pure Swift.

public import Porter

/// What a FastCGI application answered to one request: the CGI response plus the FastCGI-level details.
public struct FastCGIResponse: Sendable {
    /// The request id the records carried.
    public var requestID: UInt16
    /// The concatenated STDOUT stream, unparsed.
    public var stdout: [UInt8]
    /// The concatenated STDERR stream as UTF-8 text (invalid bytes repaired).
    public var stderr: String
    /// END_REQUEST's application status.
    public var appStatus: UInt32
    /// END_REQUEST's protocol status.
    public var protocolStatus: ProtocolStatus
    /// Every record received for this request, END_REQUEST included, in arrival order.
    public var records: [Record]
    /// STDOUT parsed as a CGI response, or the reason it is not one.
    public var cgi: Result<CGIResponse, CGIResponseError>

    /// A response assembled from its records' contents.
    public init(requestID: UInt16, stdout: [UInt8], stderr: [UInt8], end: EndRequestBody, records: [Record]) {
        self.requestID = requestID
        self.stdout = stdout
        self.stderr = String(decoding: stderr, as: UTF8.self)
        self.appStatus = end.appStatus
        self.protocolStatus = end.protocolStatus
        self.records = records
        do throws(CGIResponseError) {
            cgi = .success(try CGIResponse(parsing: stdout))
        } catch {
            cgi = .failure(error)
        }
    }

    /// The HTTP status nginx would send: the CGI status, or 502 when STDOUT is not a valid CGI response.
    public var status: Int {
        switch cgi {
        case .success(let response): return response.status
        case .failure: return 502
        }
    }

    /// The CGI response headers (empty if STDOUT was not a valid CGI response).
    public var headers: HTTPHeaders { (try? cgi.get())?.headers ?? HTTPHeaders() }

    /// The body after the CGI headers (empty if STDOUT was not a valid CGI response).
    public var body: [UInt8] { (try? cgi.get())?.body ?? [] }

    /// The body decoded as UTF-8 (invalid bytes repaired).
    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}
