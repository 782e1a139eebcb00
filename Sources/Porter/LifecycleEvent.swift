/// The request lifecycle events modules subscribe to, in ASP.NET's integrated-pipeline order.
///
/// The main sequence runs in `rawValue` order; `error` runs when a subscriber or the handler throws;
/// `preSendRequestHeaders` and `preSendRequestContent` run once each, after `endRequest`, just before the
/// response head and body are written.
public enum LifecycleEvent: Int, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    case beginRequest
    case authenticateRequest
    case postAuthenticateRequest
    case authorizeRequest
    case postAuthorizeRequest
    case resolveRequestCache
    case postResolveRequestCache
    case mapRequestHandler
    case postMapRequestHandler
    case acquireRequestState
    case postAcquireRequestState
    case preRequestHandlerExecute
    /// Not an event modules subscribe to: the slot in which the handler runs (used in traces).
    case executeRequestHandler
    case postRequestHandlerExecute
    case releaseRequestState
    case postReleaseRequestState
    case updateRequestCache
    case postUpdateRequestCache
    case logRequest
    case postLogRequest
    case endRequest
    case preSendRequestHeaders
    case preSendRequestContent
    case error

    /// The events of the main sequence, in order (handler slot included).
    public static let mainSequence: [LifecycleEvent] = allCases.filter { $0.rawValue <= LifecycleEvent.endRequest.rawValue }

    public static func < (lhs: LifecycleEvent, rhs: LifecycleEvent) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The ASP.NET name, e.g. `BeginRequest`.
    public var description: String {
        switch self {
        case .beginRequest: "BeginRequest"
        case .authenticateRequest: "AuthenticateRequest"
        case .postAuthenticateRequest: "PostAuthenticateRequest"
        case .authorizeRequest: "AuthorizeRequest"
        case .postAuthorizeRequest: "PostAuthorizeRequest"
        case .resolveRequestCache: "ResolveRequestCache"
        case .postResolveRequestCache: "PostResolveRequestCache"
        case .mapRequestHandler: "MapRequestHandler"
        case .postMapRequestHandler: "PostMapRequestHandler"
        case .acquireRequestState: "AcquireRequestState"
        case .postAcquireRequestState: "PostAcquireRequestState"
        case .preRequestHandlerExecute: "PreRequestHandlerExecute"
        case .executeRequestHandler: "ExecuteRequestHandler"
        case .postRequestHandlerExecute: "PostRequestHandlerExecute"
        case .releaseRequestState: "ReleaseRequestState"
        case .postReleaseRequestState: "PostReleaseRequestState"
        case .updateRequestCache: "UpdateRequestCache"
        case .postUpdateRequestCache: "PostUpdateRequestCache"
        case .logRequest: "LogRequest"
        case .postLogRequest: "PostLogRequest"
        case .endRequest: "EndRequest"
        case .preSendRequestHeaders: "PreSendRequestHeaders"
        case .preSendRequestContent: "PreSendRequestContent"
        case .error: "Error"
        }
    }
}
