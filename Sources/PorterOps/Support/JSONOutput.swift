import Foundation
import Porter

/// JSON encoding shared by the operations pages: sorted keys, ISO 8601 dates.
enum JSONOutput {
    /// Encodes `value` as UTF-8 JSON bytes.
    static func encode(_ value: some Encodable, pretty: Bool = true) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return Array(try encoder.encode(value))
    }

    /// Replaces the response with `value` as `application/json`.
    static func respond(_ context: HTTPContext, _ value: some Encodable, status: HTTPStatus = .ok) throws {
        let bytes = try encode(value)
        context.response.status = status
        context.response.headers["Content-Type"] = "application/json; charset=utf-8"
        context.response.headers["Cache-Control"] = "no-store"
        context.response.body = .buffer(bytes + [10])
    }
}
