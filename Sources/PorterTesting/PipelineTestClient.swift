public import Porter
public import Logging

/// Tier 1 of the tests: runs requests through a `Pipeline` in memory (no sockets, no libfcgi).
public struct PipelineTestClient: Sendable {
    /// The pipeline under test.
    public let pipeline: Pipeline
    /// Application state shared by the requests this client sends.
    public let application: ApplicationState

    /// A client for a pipeline built from `registry` and `modules`.
    public init(registry: HandlerRegistry, modules: [any HTTPModule] = [], application: ApplicationState = ApplicationState()) {
        self.pipeline = Pipeline(registry: registry, modules: modules)
        self.application = application
        for module in modules { module.publish(in: application.services) }
    }

    /// A client for an existing pipeline.
    public init(pipeline: Pipeline, application: ApplicationState = ApplicationState()) {
        self.pipeline = pipeline
        self.application = application
        for module in pipeline.modules { module.publish(in: application.services) }
    }

    /// Runs one request and returns its context (response, user, session, trace, …).
    @discardableResult
    public func execute(_ method: HTTPMethod = .get, _ uri: String, headers: HTTPHeaders = [:], body: [UInt8] = [],
                        parameters: CGIParameters = [:]) async -> HTTPContext {
        var request = HTTPRequest(method: method, uri: uri, headers: headers, body: body)
        request.parameters = parameters
        let context = HTTPContext(request: request, application: application, logger: Logger(label: "test"))
        await pipeline.run(context)
        return context
    }
}

extension HTTPResponse {
    /// The buffered body as UTF-8 text (empty for streamed bodies).
    public var bodyText: String { String(decoding: bufferedBody ?? [], as: UTF8.self) }
}
