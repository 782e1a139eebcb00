/// Wraps the async parts of one request (async subscribers, async handlers) in a scope, e.g. a task-local value.
///
/// A module stores one in `context.items[AsyncScope.self]` (the tracing module binds `ServiceContext.$current`
/// so async handlers and modules see the request's trace context); the pipeline calls it around each async step.
/// Sync steps run without it (nothing is scoped there, and the common path stays free of it).
public struct AsyncScope: Sendable {
    /// Runs `body` inside the scope.
    public let run: @Sendable (_ body: () async throws -> Void) async throws -> Void

    /// A scope running bodies with `run`.
    public init(_ run: @escaping @Sendable (_ body: () async throws -> Void) async throws -> Void) { self.run = run }
}
