public import Porter

extension HTTPTestClient {
    /// Sends one request from a thread of its own, so a test's task never blocks the cooperative pool that
    /// in-process servers need for their async handlers.
    public func fetch(_ path: String, method: String = "GET", headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) async throws -> HTTPTestResponse {
        try await ConcurrentClients.offPool { try self.send(method: method, path: path, headers: headers, body: body) }
    }
}
