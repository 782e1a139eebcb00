// NameValuePairs: `validate` (in place, used by the gate) accepts exactly what `decode` accepts, under any limit;
// decoded pairs re-encode and decode to themselves.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPairs(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzInput(bytes: UnsafeRawBufferPointer(start: data, count: size))
    let limitByte = input.byte()
    let limit = limitByte == 0 ? NameValuePairs.maximumLength : Int(limitByte)
    let bytes = Array(input.bytes)
    let decoded = Result { () throws(FastCGIWireError) in try NameValuePairs.decode(bytes, limit: limit) }
    let valid = bytes.withUnsafeBytes { raw in
        Result { () throws(FastCGIWireError) in try NameValuePairs.validate(raw, limit: limit) }
    }
    switch (decoded, valid) {
    case (.success(let pairs), .success):
        let again = try? NameValuePairs.decode(NameValuePairs.encode(pairs), limit: limit)
        guard again == pairs else { violated("pairs do not round-trip") }
    case (.failure(let a), .failure(let b)):
        guard a == b else { violated("decode says \(a), validate says \(b)") }
    case (.success, .failure(let b)): violated("validate refuses (\(b)) what decode accepts")
    case (.failure(let a), .success): violated("validate accepts what decode refuses (\(a))")
    }
    var offset = 0
    while offset < bytes.count, (try? NameValuePairs.decodeLength(bytes, at: &offset)) != nil {}
    return 0
}
