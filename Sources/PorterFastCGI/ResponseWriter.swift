import FastCGIWire
import Glibc
import Porter

/// Where a response's bytes go: a FastCGI request's STDOUT (libfcgi frames it) or a CGI process's stdout.
protocol ResponseOutput: Sendable {
    /// Writes bytes; false once the peer is gone.
    @discardableResult
    func write(_ bytes: UnsafeRawBufferPointer) -> Bool
    /// Pushes buffered bytes out (for streamed bodies); false once the peer is gone.
    @discardableResult
    func flush() -> Bool
    /// Writes a whole buffered response (head and body), the request's only write; false once the peer is gone.
    @discardableResult
    func writeResponse(_ head: UnsafeRawBufferPointer, _ body: UnsafeRawBufferPointer) -> Bool
}

extension ResponseOutput {
    /// The head, then the body.
    @discardableResult
    func writeResponse(_ head: UnsafeRawBufferPointer, _ body: UnsafeRawBufferPointer) -> Bool {
        write(head) && write(body)
    }
}

extension FCGIRequest: ResponseOutput {}

/// Writes every response, FastCGI and CGI alike: one head encoding (`HTTPResponse.withCGIHead`) and one HEAD rule:
/// a HEAD response has exactly the head its GET would have, `Content-Length` of a buffered body included, and
/// no body.
enum ResponseWriter {
    /// A streamed body's producer.
    typealias Producer = @Sendable (any ResponseBodyWriter) async throws -> Void

    /// Writes the head and, for a buffered body, the body; returns the producer of a streamed body that still
    /// has to run (see `stream(_:to:)`), or nil when the response is complete.
    static func begin(_ response: HTTPResponse, method: HTTPMethod, to output: some ResponseOutput) -> Producer? {
        let sendsBody = method != .head && !response.status.forbidsBody
        switch response.body {
        case .buffer(let bytes):
            response.withCGIHead(bodyLength: bytes.count) { head in
                if sendsBody {
                    bytes.withUnsafeBytes { output.writeResponse(head, $0) }
                } else {
                    output.writeResponse(head, UnsafeRawBufferPointer(start: nil, count: 0))
                }
            }
            return nil
        case .stream(let produce):
            let length = response.headers["Content-Length"].flatMap { Int($0) }
            response.withCGIHead(bodyLength: length) { output.write($0) }
            return sendsBody ? produce : nil
        }
    }

    /// Runs a streamed body's producer, writing and flushing each chunk; throws once the peer is gone.
    static func stream(_ produce: Producer, to output: some ResponseOutput) async throws {
        try await produce(OutputBodyWriter(output: output))
    }
}

/// Hands a streamed body's chunks to an output.
struct OutputBodyWriter<Output: ResponseOutput>: ResponseBodyWriter {
    let output: Output

    func write(_ bytes: [UInt8]) async throws {
        let ok = bytes.withUnsafeBytes { output.write($0) }
        guard ok, output.flush() else { throw HTTPError(.badGateway, message: "client went away") }
    }
}

/// A file descriptor as response output (CGI: stdout).
struct DescriptorOutput: ResponseOutput {
    let fd: Int32

    func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    func flush() -> Bool { true }
}
