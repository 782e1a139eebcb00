/// An error that chooses its own HTTP status and a short, safe message for the client.
public protocol HTTPResponseError: Error {
    /// The status to answer with.
    var status: HTTPStatus { get }
    /// A short message safe to show the client (no internals).
    var publicMessage: String { get }
    /// Extra headers for the error response (e.g. `Allow`, `Retry-After`).
    var headers: HTTPHeaders { get }
}

extension HTTPResponseError {
    public var headers: HTTPHeaders { [:] }
}

/// The general-purpose error a module or handler throws to answer with a status, e.g. `HTTPError(.notFound)`.
public struct HTTPError: HTTPResponseError, Equatable, CustomStringConvertible {
    public var status: HTTPStatus
    /// The message for the client; defaults to the reason phrase.
    public var message: String
    public var headers: HTTPHeaders

    /// An error answering `status` with `message` (default: the reason phrase).
    public init(_ status: HTTPStatus, message: String? = nil, headers: HTTPHeaders = [:]) {
        self.status = status
        self.message = message ?? status.reasonPhrase
        self.headers = headers
    }

    public var publicMessage: String { message }
    public var description: String { "HTTPError(\(status): \(message))" }

    public static func == (lhs: HTTPError, rhs: HTTPError) -> Bool {
        lhs.status == rhs.status && lhs.message == rhs.message
    }
}
