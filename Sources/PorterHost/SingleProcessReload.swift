import Logging
import Porter
import PorterFastCGI
import ServiceLifecycle
import UnixSignals

/// SIGHUP in single-process mode: re-reads the configuration, builds it, and swaps the server's pipeline and
/// application state at once. Requests already running finish on the old pipeline; once none is left, the
/// old pipeline's modules shut down and the services its build started stop. A configuration that does not
/// load or build is logged and the old one keeps serving. Transport settings (listen, threads, timeouts) need a
/// restart; a reload logs when they changed.
struct SingleProcessReload: Service, CustomStringConvertible {
    /// Its name in service logs (ServiceLifecycle logs services at debug: never the configuration they hold).
    var description: String { "SingleProcessReload" }

    let server: FastCGIServer
    /// The configuration the server started with (its transport settings stay).
    let initial: ServerConfiguration
    /// Reads the configuration again (with the command line's overrides).
    let load: @Sendable () throws -> ServerConfiguration
    let app: PorterApplication
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await withDiscardingTaskGroup { group in
            var running: ServiceGroup? // the services of the build now serving, when a reload started them
            for await _ in signals.cancelOnGracefulShutdown() {
                let built: BuiltApplication
                do {
                    built = try app.build(try load(), logger: logger)
                } catch {
                    logger.error("reload refused: the new configuration is invalid; keeping the old one", metadata: ["error": .string("\(error)")])
                    continue
                }
                let next = built.configuration
                if next.listen != initial.listen || next.threads != initial.threads || next.workers != initial.workers {
                    logger.warning("reload: listen/transport settings changed; they take effect at the next restart")
                }
                built.registerTransport(of: server)
                // The new build's services (database clients, purgers) run before it takes requests.
                let services = built.services.isEmpty ? nil
                    : ServiceGroup(configuration: .init(services: built.services.map { .init(service: $0) }, logger: logger))
                if let services { group.addTask { try? await services.run() } }
                let old = server.replace(pipeline: built.pipeline, application: built.application)
                let oldServices = running
                running = services
                logger.info("reloaded: new requests use the new configuration", metadata: ["draining": .stringConvertible(old.requestsInFlight)])
                group.addTask {
                    await old.waitUntilIdle()
                    await old.pipeline.shutdown()
                    await oldServices?.triggerGracefulShutdown()
                    logger.info("reload: the previous configuration's requests finished")
                }
            }
            // Shutting down: the services a reload started stop with the rest.
            await running?.triggerGracefulShutdown()
        }
    }
}
