/// ASP.NET's `Server.Execute` and `Server.Transfer`: run another registered handler for the current request.
extension HTTPContext {
    /// Runs the handler registered for `path` (with this request's verb) and appends its output to the response
    /// (ASP.NET's `Server.Execute`). The request itself is unchanged; the handler's own session declaration is
    /// not re-evaluated (the session, if any, is the current one). Unknown paths are a 404, wrong verbs a 405.
    public func execute(_ path: String) async throws {
        switch try target(path) {
        case .sync(let handler): try handler.processRequest(self)
        case .async(let handler): try await handler.processRequest(self)
        }
    }

    /// `execute(_:)` from a sync handler; the target must be a sync handler too (else a 500 explains why).
    public func execute(_ path: String) throws {
        switch try target(path) {
        case .sync(let handler): try handler.processRequest(self)
        case .async: throw HTTPError(.internalServerError, message: "Server.Execute from a sync handler cannot run the async handler for \(path)")
        }
    }

    /// Replaces the response with the output of the handler registered for `path` and ends the response
    /// (ASP.NET's `Server.Transfer`): it throws `ResponseEnd`, so the calling handler stops there.
    public func transfer(_ path: String) async throws -> Never {
        let cookies = response.cookies
        response.reset()
        response.cookies = cookies
        try await execute(path)
        endResponse()
        throw ResponseEnd()
    }

    /// `transfer(_:)` from a sync handler (the target must be a sync handler).
    public func transfer(_ path: String) throws -> Never {
        let cookies = response.cookies
        response.reset()
        response.cookies = cookies
        try execute(path)
        endResponse()
        throw ResponseEnd()
    }

    /// The handler the registry maps `path` to for this request's verb.
    private func target(_ path: String) throws -> AnyHTTPHandler {
        guard let pipeline else { throw HTTPError(.internalServerError, message: "Server.Execute outside a pipeline") }
        switch pipeline.registry.match(method: request.method, path: path) {
        case .mapped(let mapping): return try mapping.resolve(for: self).handler
        case .methodNotAllowed(let allow): throw HTTPError(.methodNotAllowed, headers: ["Allow": allow.joined(separator: ", ")])
        case .notFound: throw HTTPError(.notFound)
        }
    }
}
