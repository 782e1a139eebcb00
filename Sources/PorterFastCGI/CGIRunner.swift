public import Porter
public import Logging
import Glibc

/// Answers the single request of a plain CGI invocation (no FastCGI socket): parameters from the
/// environment, the body from stdin (`CONTENT_LENGTH` bytes), the response to stdout. Bodies, limits and
/// responses go through the same `BodyReader` and `ResponseWriter` as FastCGI requests.
public enum CGIRunner {
    /// Whether this process was started as a CGI program rather than as a FastCGI server (libfcgi's `FCGX_IsCGI`).
    public static func isCGI() -> Bool { LibFCGI.isCGI() }

    /// Runs the pipeline once for the request in the environment and writes the CGI response to stdout;
    /// `maxBodyBytes` is the limit where the handler mapping sets none.
    public static func run(pipeline: Pipeline, application: ApplicationState, logger: Logger, maxBodyBytes: Int = 1024 * 1024,
                           temporaryDirectory: String = RequestBodyCollector.defaultTemporaryDirectory) async {
        await respond(parameters: environment(), input: 0, output: DescriptorOutput(fd: 1), pipeline: pipeline,
                      application: application, logger: logger, maxBodyBytes: maxBodyBytes, temporaryDirectory: temporaryDirectory)
    }

    /// Answers one request: `parameters` as CGI variables, the body read from `input`, the response to `output`.
    static func respond(parameters: CGIParameters, input: Int32, output: some ResponseOutput, pipeline: Pipeline,
                        application: ApplicationState, logger: Logger, maxBodyBytes: Int = 1024 * 1024,
                        temporaryDirectory: String = RequestBodyCollector.defaultTemporaryDirectory) async {
        var request = HTTPRequest(cgiParameters: parameters, body: RequestBody.empty)
        let route = pipeline.route(method: request.method, path: request.path)
        let reader = BodyReader(limit: route.bodyLimit(default: maxBodyBytes),
                                spillThreshold: RequestBodyCollector.defaultSpillThreshold, temporaryDirectory: temporaryDirectory)
        let declared = parameters["CONTENT_LENGTH"].flatMap { Int($0) } ?? 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * 1024, alignment: 8)
        defer { buffer.deallocate() }
        var remaining = declared
        let outcome = reader.read(declaredLength: declared, buffer: buffer) { buffer in
            readInput(input, into: buffer, remaining: &remaining)
        }
        switch outcome {
        case .complete(let body):
            request.body = body
        case .tooLarge, .failed:
            var response = HTTPResponse()
            if case .failed(let reason) = outcome {
                logger.notice("request body not read", metadata: ["reason": .string(reason)])
                response.setText("Bad Request\n", status: .badRequest)
            } else {
                response.setText("Request body too large\n", status: .payloadTooLarge)
            }
            _ = ResponseWriter.begin(response, method: request.method, to: output)
            return
        }
        let context = HTTPContext(request: request, application: application, logger: logger)
        context.route = route
        await pipeline.run(context)
        if let produce = ResponseWriter.begin(context.response, method: context.request.method, to: output) {
            do {
                try await ResponseWriter.stream(produce, to: output)
            } catch {
                logger.error("streamed body failed", metadata: ["error": .string("\(error)")])
            }
        }
        request.body.close()
    }

    /// Reads the next bytes of a CGI body (at most `remaining`: CGI input is not terminated otherwise).
    static func readInput(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, remaining: inout Int) -> BodyInput {
        guard remaining > 0 else { return .end(0) }
        while true {
            let n = read(fd, buffer.baseAddress, min(buffer.count, remaining))
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return .failed }
            if n == 0 { return .end(0) }
            remaining -= n
            return remaining == 0 ? .end(n) : .bytes(n)
        }
    }

    /// The CGI variables of this process's environment.
    static func environment() -> CGIParameters {
        CGIParameters(environment: environ)
    }
}
