/// What the registry says about a request from its head alone: the mapping that will handle it and the largest
/// body it accepts. The transport looks it up before reading the body; MapRequestHandler reuses it.
public struct RequestRoute: Sendable {
    /// The method the lookup used.
    public let method: HTTPMethod
    /// The path the lookup used.
    public let path: String
    /// The registry's answer.
    public let match: RegistryMatch

    /// Looks `method` + `path` up in `registry`.
    public init(registry: HandlerRegistry, method: HTTPMethod, path: String) {
        self.method = method
        self.path = path
        self.match = registry.match(method: method, path: path)
    }

    /// The largest body this request may send, or nil for the transport's default (see `HandlerMapping.bodyLimit`).
    public var maxBodyBytes: Int? {
        if case .mapped(let mapping) = match { return mapping.bodyLimit }
        return nil
    }

    /// The body limit in effect: the mapping's, else `defaultLimit`.
    public func bodyLimit(default defaultLimit: Int) -> Int { maxBodyBytes ?? defaultLimit }
}

extension Pipeline {
    /// Looks up the route of a request head (the transport calls this before reading the body).
    public func route(method: HTTPMethod, path: String) -> RequestRoute {
        RequestRoute(registry: registry, method: method, path: path)
    }

    /// The body limit of the mapping `method` + `path` reaches, or nil for the transport's default.
    public func bodyLimit(method: HTTPMethod, path: String) -> Int? {
        route(method: method, path: path).maxBodyBytes
    }

    /// The context's route: the transport's lookup while method and path are unchanged, else a fresh one.
    func route(_ ctx: HTTPContext) -> RequestRoute {
        if let route = ctx.route, route.method == ctx.request.method, route.path == ctx.request.path { return route }
        return route(method: ctx.request.method, path: ctx.request.path)
    }
}
