// The query/form parser, percent-decoding and the Cookie header parser on arbitrary text: never trap; encoding then
// decoding gives the text back; every parsed cookie name is non-empty and trimmed.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzQuery(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let query = QueryParameters(parsing: text)
    if let first = query.pairs.first { _ = query[first.name]; _ = query.values(for: first.name) }
    _ = query == QueryParameters(parsing: Substring(text))
    _ = PercentEncoding.decode(text)
    guard PercentEncoding.decode(PercentEncoding.encode(text)) == text else { violated("encode/decode round trip") }
    guard PercentEncoding.decode(PercentEncoding.encodePath(text)) == text else { violated("encodePath/decode round trip") }
    // The pairs, percent-encoded and joined again, parse back to themselves.
    let rebuilt = query.pairs.map { PercentEncoding.encode($0.name) + "=" + PercentEncoding.encode($0.value) }.joined(separator: "&")
    let reparsed = QueryParameters(parsing: rebuilt)
    guard reparsed == query else { violated("re-encoded pairs parse differently: '\(rebuilt)'") }
    for (name, _) in CookieParser.parse(text) {
        guard !name.isEmpty, name.trimmingSpaces() == name else { violated("cookie name '\(name)'") }
    }
    return 0
}
