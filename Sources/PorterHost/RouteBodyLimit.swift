import Porter

/// How large a request body one route takes, at Porter and at nginx (`client_max_body_size` in its location).
///
/// A route's own `max_body` wins, then the handler's default (its catalogue edge policy); without either, a
/// GET/HEAD-only route takes no body (edge `0`) and any other route takes the server's `max_body_bytes`.
struct RouteBodyLimit: Equatable {
    /// Porter's limit for the route's mapping; nil leaves the server default (and the transport's GET/HEAD rule).
    let porter: Int?
    /// The `client_max_body_size` of the route's nginx location (`0`: no body, see `EdgePolicy.maxBodyBytes`).
    let edge: Int

    init(explicit: Int?, handlerDefault: Int?, verbs: VerbSet, serverDefault: Int) {
        if let limit = explicit ?? handlerDefault {
            porter = limit
            edge = limit
        } else if let verbs = verbs.verbs, verbs.isSubset(of: [.get, .head]) {
            porter = nil
            edge = 0
        } else {
            porter = nil
            edge = serverDefault
        }
    }
}
