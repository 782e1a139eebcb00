/// Turns handler and module errors into an HTML error page at the Error event: the error's own status
/// (404, 405 + `Allow`, …) or a 500 that leaks nothing; details are logged with the request id.
public struct ErrorPageModule: HTTPModule {
    /// The module.
    public init() {}

    public var name: String { "errors" }

    public func subscribe(to events: inout ModuleEvents) {
        events.on(.error) { ctx in
            guard let error = ctx.error, !ctx.isErrorResponseWritten else { return }
            ErrorResponder.respond(to: error, in: ctx, html: true)
            ctx.isErrorResponseWritten = true
        }
    }
}
