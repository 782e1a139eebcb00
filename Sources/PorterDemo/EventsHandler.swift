public import Porter
public import PorterHost

/// A `text/event-stream` of `count` events written while the handler's producer runs (ASP.NET's `Response.Flush`
/// with `BufferOutput = false`): each event goes to the client as soon as it is written, through nginx with
/// `fastcgi_buffering off` (the route's `EdgePolicy(streaming: true)`). A client that goes away makes the next
/// write throw, which ends the producer; `onEnd` hears how many events were sent and why it stopped.
public struct EventsHandler: AsyncHTTPHandler {
    /// How many events to send.
    public let count: Int
    /// Awaited between two events (the demo sleeps; tests wait on a gate); argument: events sent so far.
    public let pause: @Sendable (Int) async throws -> Void
    /// Called when the stream ends: events sent, and the error that stopped it (nil when all were sent).
    public let onEnd: @Sendable (Int, (any Error)?) -> Void

    /// A stream of `count` events, `pause` awaited between two.
    public init(count: Int = 5, pause: @escaping @Sendable (Int) async throws -> Void,
                onEnd: @escaping @Sendable (Int, (any Error)?) -> Void = { _, _ in }) {
        self.count = count
        self.pause = pause
        self.onEnd = onEnd
    }

    /// The demo's stream; options: `count` (default 5, at most 1000), `interval_ms` (default 200, at most 60000).
    public init(options: Options) throws(ConfigurationError) {
        let count = try options.int("count", default: 5)
        let interval = try options.int("interval_ms", default: 200)
        guard (1...1000).contains(count), (0...60_000).contains(interval) else {
            throw ConfigurationError("\(options.origin): count must be 1...1000 and interval_ms 0...60000")
        }
        self.init(count: count, pause: { _ in try await Task.sleep(for: .milliseconds(interval)) })
    }

    /// The route policy the handler needs at the edge: nginx passes each event on at once.
    public static let edge = EdgePolicy(streaming: true)

    public func processRequest(_ context: HTTPContext) async throws {
        context.response.contentType = "text/event-stream; charset=utf-8"
        context.response.headers["Cache-Control"] = "no-cache"
        context.response.headers["X-Accel-Buffering"] = "no"
        let (count, pause, onEnd) = (count, pause, onEnd)
        context.response.body = .stream { writer in
            var sent = 0
            do {
                for i in 1...count {
                    if i > 1 { try await pause(sent) }
                    try await writer.write(Array("id: \(i)\ndata: event \(i)\n\n".utf8))
                    sent = i
                }
            } catch {
                onEnd(sent, error)
                throw error
            }
            onEnd(sent, nil)
        }
    }
}
