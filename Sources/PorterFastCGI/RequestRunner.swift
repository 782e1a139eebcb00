import Porter

/// Serving one request on a connection: the body under its route's limit, the pipeline, the response.
extension FastCGIServer {
    /// Runs a request whose head libfcgi has read: looks up its route, reads the body within the route's limit
    /// (413 without reading when the declared length is too large), then runs the pipeline.
    /// `startedAt` is when the head was complete (the state machine's clock for the request timeout).
    func process(_ conn: Connection, _ request: consuming HTTPRequest, generation: UInt64, worker: WorkerState, startedAt: UInt64) {
        let serving = worker.enter(self)
        let pipeline = serving.pipeline
        let declared = request.parameters["CONTENT_LENGTH"].flatMap { Int($0) } ?? 0
        statistics.requestStarted(method: request.method.rawValue, uri: request.uri, contentLength: declared)
        let route = pipeline.route(method: request.method, path: request.path)
        let reader = BodyReader(limit: route.bodyLimit(default: configuration.maxBodyBytes),
                                spillThreshold: configuration.bodySpillThreshold,
                                temporaryDirectory: configuration.bodyTemporaryDirectory)
        switch reader.read(declaredLength: declared, buffer: worker.buffer, conn.request.readStdin(into:)) {
        case .complete(let body):
            if body.storage == .file { statistics.spilledBodies.add(1, ordering: .relaxed) }
            request.body = body
        case .tooLarge:
            refuseOversized(conn, method: request.method, serving: serving)
            return
        case .failed(let reason):
            logger.notice("request body not read", metadata: ["reason": .string(reason), "path": .string(request.path)])
            conn.request.keepConnection = false
            conn.request.finish()
            statistics.requestFinished()
            serving.inFlight.subtract(1, ordering: .releasing)
            perform(conn.handle(.requestFailed), conn)
            return
        }
        // Handed on, not copied: the request stays uniquely referenced, so modules change it in place.
        let context = HTTPContext(request: consume request, application: serving.application, logger: logger)
        context.syncExecutor = executor
        context.route = route
        context.timeoutDeadline = connectionLimits.requestTimeout.map { startedAt &+ $0 }
        switch pipeline.start(context) {
        case .finished:
            respond(conn, context, serving: serving, generation: generation)
        case .suspended(let cursor):
            let task = Task.immediate {
                await pipeline.resume(context, from: cursor)
                self.respond(conn, context, serving: serving, generation: generation)
            }
            if conn.handle(.suspended(task, generation: generation)) == .cancel { task.cancel() }
        }
    }

    /// Answers 413 without reading (more of) the body; the connection is closed afterwards.
    private func refuseOversized(_ conn: Connection, method: HTTPMethod, serving: ServingGeneration) {
        statistics.oversizedRequests.add(1, ordering: .relaxed)
        var response = HTTPResponse()
        response.setText("Request body too large\n", status: .payloadTooLarge)
        _ = ResponseWriter.begin(response, method: method, to: conn.request)
        conn.request.keepConnection = false
        finishRequest(conn, body: nil, serving: serving)
    }

    /// Writes the response (504 instead when the request timed out), then ends the request. A streamed body's
    /// producer runs in a task the connection knows, so nginx closing the connection (the client left) cancels it.
    func respond(_ conn: Connection, _ context: HTTPContext, serving: ServingGeneration, generation: UInt64) {
        if conn.handle(.responseReady) == .timeout {
            context.logger.warning("request timed out", metadata: ["path": .string(context.request.path)])
            context.response.setText("Gateway Timeout\n", status: .gatewayTimeout)
        }
        let body = context.request.body
        switch context.response.body {
        case .buffer(let bytes) where bytes.count <= Self.unblockableResponseBytes: break
        default: armTimeouts(conn)
        }
        guard let produce = ResponseWriter.begin(context.response, method: context.request.method, to: conn.request) else {
            finishRequest(conn, body: body, serving: serving)
            return
        }
        let logger = context.logger
        let task = Task.immediate {
            do {
                try await ResponseWriter.stream(produce, to: conn.request)
            } catch is CancellationError {
                logger.info("streamed body cancelled: the client went away")
                conn.request.keepConnection = false
            } catch {
                logger.error("streamed body failed", metadata: ["error": .string("\(error)")])
                conn.request.keepConnection = false
            }
            self.finishRequest(conn, body: body, serving: serving)
        }
        if conn.handle(.streaming(task, generation: generation)) == .cancel { task.cancel() }
    }

    /// Closes the body's temporary file, writes END_REQUEST, and parks or closes the connection.
    private func finishRequest(_ conn: Connection, body: RequestBody?, serving: ServingGeneration) {
        body?.close()
        conn.request.finish()
        statistics.requestFinished()
        serving.inFlight.subtract(1, ordering: .releasing)
        let kept = conn.request.fd >= 0 && conn.request.keepConnection
        perform(conn.handle(.responseWritten(keepConnection: kept)), conn)
    }
}
