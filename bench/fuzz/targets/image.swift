// The image query parser (ParsedImageQuery over QueryParameters) on arbitrary query text: never traps, refuses with
// a 400 only; accepted parameters written back as a query (`queryItems`, what signed URLs use) parse to the same.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImage(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let parsed: ParsedImageQuery
    do throws(HTTPError) {
        parsed = try ParsedImageQuery(QueryParameters(parsing: text))
    } catch {
        guard error.status == .badRequest else { violated("status \(error.status)") }
        return 0
    }
    let items = parsed.parameters.queryItems
    let again = items.map { "\($0.name)=\(PercentEncoding.encode($0.value))" }.joined(separator: "&")
    do throws(HTTPError) {
        let reparsed = try ParsedImageQuery(QueryParameters(parsing: again))
        guard reparsed.parameters == parsed.parameters else { violated("'\(again)' parses differently") }
    } catch {
        violated("queryItems '\(again)' refused: \(error.message)")
    }
    return 0
}
