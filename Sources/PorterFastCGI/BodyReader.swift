import Porter

/// Reads a request body (FastCGI STDIN or CGI stdin) under the limit its route allows, keeping small bodies in
/// memory and spilling large ones to an unlinked temporary file as they arrive.
struct BodyReader {
    /// What reading gave.
    enum Outcome {
        /// The whole body.
        case complete(RequestBody)
        /// The declared length or the bytes received passed `limit`; reading stopped (answer 413 and close).
        case tooLarge
        /// The input broke off or the temporary file could not be written.
        case failed(String)
    }

    /// The largest body accepted.
    let limit: Int
    /// Bodies above this size go to a temporary file.
    let spillThreshold: Int
    /// Where temporary files are created.
    let temporaryDirectory: String

    /// Whether a declared CONTENT_LENGTH is refused before anything is read.
    func refuses(declaredLength: Int) -> Bool { declaredLength > limit }

    /// Reads until the input ends, `read` filling `buffer` each time (the caller's scratch space).
    func read(declaredLength: Int, buffer: UnsafeMutableRawBufferPointer,
              _ read: (UnsafeMutableRawBufferPointer) -> BodyInput) -> Outcome {
        if refuses(declaredLength: declaredLength) { return .tooLarge }
        var collector = RequestBodyCollector(spillThreshold: spillThreshold, temporaryDirectory: temporaryDirectory,
                                             expectedLength: declaredLength)
        while true {
            let (count, ended): (Int, Bool)
            switch read(buffer) {
            case .bytes(let n): (count, ended) = (n, false)
            case .end(let n): (count, ended) = (n, true)
            case .failed: return .failed("request body broke off")
            }
            if collector.count + count > limit { return .tooLarge }
            do {
                try collector.append(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            } catch {
                return .failed("\(error)")
            }
            if ended { return .complete(collector.finish()) }
        }
    }
}

/// What one read of a request body's input (FastCGI STDIN, CGI stdin) gave.
enum BodyInput {
    /// `count` bytes were copied into the buffer; more may follow.
    case bytes(Int)
    /// The last bytes (`count`, possibly 0): the input ended.
    case end(Int)
    /// The input failed (the peer went away or sent garbage).
    case failed
}
