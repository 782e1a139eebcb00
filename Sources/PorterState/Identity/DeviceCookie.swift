import Porter

/// A long-lived signed cookie a browser gets when it signs in, saying "this browser has signed in as USER before"
/// (OWASP's device cookies). The login throttle's count for a user over all clients (`max_user_failures`) does not
/// apply to such a browser: clients elsewhere guessing an account can lock it for everyone else, but not for the
/// browsers its owner signs in with. The browser's own per-client counts still apply, so a stolen device cookie buys an
/// attacker no more guesses than one client gets anyway.
///
/// Value: `base64url(user).expires.base64url(HMAC(key, "porter-device-v1|" user "|" expires))`, under its own key-ring
/// purpose (`porter.device`), so it is never valid as a login ticket, and a login ticket never as this.
public struct DeviceCookie: Sendable {
    /// The cookie's name.
    public static let name = "porter_device"
    /// The key-ring purpose of device cookies.
    public static let signingPurpose = "porter.device"
    /// How long a browser is remembered after its last sign-in.
    public static let lifetime: Int64 = 180 * 24 * 3600

    let keyRing: KeyRing
    let secure: Bool
    let path: String
    let clock: WallClock

    /// Device cookies keyed from `authentication`'s key ring (their own purpose), with its `Secure` and `Path`.
    public init(authentication: CookieAuthentication) {
        keyRing = authentication.keyRing
        secure = authentication.secure
        path = authentication.path
        clock = authentication.clock
    }

    /// The cookie to set when `user` signs in.
    public func issue(for user: String) -> SetCookie {
        let expires = clock.nowSeconds + Self.lifetime
        let encodedUser = Base64URL.encode(Array(user.utf8))
        let mac = keyRing.sign(message(encodedUser, expires), purpose: Self.signingPurpose)
        return SetCookie(name: Self.name, value: "\(encodedUser).\(expires).\(Base64URL.encode(mac))", path: path,
                         maxAge: Int(Self.lifetime), secure: secure, httpOnly: true, sameSite: .lax)
    }

    /// Whether `request` carries an unexpired device cookie signed for `user`.
    public func vouches(for user: String, in request: HTTPRequest) -> Bool {
        guard let value = request.cookies[Self.name], value.utf8.count <= 1024 else { return false }
        let parts = value.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let expires = Int64(parts[1]), expires > clock.nowSeconds,
              let mac = Base64URL.decode(String(parts[2])),
              let named = Base64URL.decode(String(parts[0])), named == Array(user.utf8) else { return false }
        return keyRing.verify(message(String(parts[0]), expires), signature: mac, purpose: Self.signingPurpose) != nil
    }

    private func message(_ encodedUser: String, _ expires: Int64) -> [UInt8] {
        Array("porter-device-v1|\(encodedUser)|\(expires)".utf8)
    }
}
