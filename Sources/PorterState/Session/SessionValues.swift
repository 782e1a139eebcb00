import Foundation
public import Porter

/// A typed session key (ASP.NET's `(Cart)Session["cart"]`, type-checked): `session[CartKey.self]`.
///
/// ```swift
/// enum CartKey: SessionKey { typealias Value = [String]; static let name = "cart" }
/// ctx.session?[CartKey.self] = ["apple"]
/// ```
public protocol SessionKey {
    /// The stored type.
    associatedtype Value: Codable
    /// The name the value is stored under.
    static var name: String { get }
}

/// A session value could not be decoded as the requested type (it was stored as another type, or edited).
public struct SessionValueUnreadable: HTTPResponseError, CustomStringConvertible {
    /// The value's key.
    public let key: String
    /// The type the caller asked for.
    public let type: String

    public var status: HTTPStatus { .internalServerError }
    public var publicMessage: String { "Internal Server Error" }
    public var description: String { "session value \(key) is not a \(type)" }
}

extension HTTPSession {
    /// Stores a `Codable` value under `key` (JSON in the store; a `String` is stored as is, so `session[key]`
    /// reads it). Throws `SessionTooLarge` — and leaves the session unchanged — when the serialized session
    /// would exceed the store's `max_bytes`.
    public func set<T: Encodable>(_ value: T, forKey key: String) throws {
        let text = try Self.encodeValue(value)
        if let limit = maxBytes {
            var after = values
            after[key] = text
            let size = SessionCodec.encode(after).utf8.count
            guard size <= limit else { throw SessionTooLarge(size: size, limit: limit, key: key) }
        }
        self[key] = text
    }

    /// The value stored under `key` as `T`; `nil` when there is none; throws `SessionValueUnreadable` when the
    /// stored value is not a `T`.
    public func get<T: Decodable>(_ type: T.Type = T.self, forKey key: String) throws -> T? {
        guard let text = values[key] else { return nil }
        if T.self == String.self { return text as? T }
        guard let value = try? JSONDecoder().decode(T.self, from: Data(text.utf8)) else {
            throw SessionValueUnreadable(key: key, type: String(describing: T.self))
        }
        return value
    }

    /// Reads or writes the value of a typed key; reading a value of another type gives `nil`, `nil` removes it.
    /// Writing does not check `max_bytes` (the session module refuses an oversized session when saving it);
    /// use `set(_:forKey:)` to get the error at the write.
    public subscript<K: SessionKey>(key: K.Type) -> K.Value? {
        get { (try? get(K.Value.self, forKey: K.name)) ?? nil }
        set {
            if let newValue, let text = try? Self.encodeValue(newValue) {
                self[K.name] = text
            } else {
                self[K.name] = nil
            }
        }
    }

    static func encodeValue<T: Encodable>(_ value: T) throws -> String {
        if let string = value as? String { return string }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
