// CGIResponse(parsing:) on arbitrary STDOUT bytes: never traps; a parsed status is 100...999; the body is the bytes
// after the header block, so it is never longer than the input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCGI(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let response = try? CGIResponse(parsing: bytes) else { return 0 }
    guard (100...999).contains(response.status) else { violated("status \(response.status)") }
    guard response.body.count < bytes.count, bytes.suffix(response.body.count).elementsEqual(response.body) else {
        violated("body is not the input's tail")
    }
    for field in response.headers.fields where field.name.equalsIgnoringASCIICase("Status") { violated("Status kept as a header") }
    _ = response.headers["Content-Type"]
    return 0
}
